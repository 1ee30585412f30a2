//! DynamoDB operations (issue 2: ListTables only, to exercise the whole path).

use serde_json::{json, Map, Value};

use crate::{unknown_operation, Api, ApiError, App, Caller, Reply};

/// Reads an optional member of a JSON input, with DynamoDB's SerializationException on a wrong type.
fn opt_str<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::serialization(format!(
            "class java.lang.String can not be converted to an {name}"
        ))),
    }
}

fn opt_int(input: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::serialization(format!("NUMBER_VALUE cannot be converted to Integer for {name}"))),
        Some(_) => Err(ApiError::serialization(format!(
            "STRING_VALUE can not be converted to an Integer for {name}"
        ))),
    }
}

pub fn dispatch(app: &App, caller: &Caller, op: &str, input: &Value) -> Result<Reply, ApiError> {
    let account = caller.account();
    match op {
        "ListTables" => {
            let resource = format!("arn:aws:dynamodb:{}:{account}:table/*", caller.region);
            app.iam
                .authorize(&caller.entry, "dynamodb:ListTables", &resource, &Default::default())?;
            let out = app.dynamodb.list_tables(
                account,
                &caller.region,
                &dynamodb::ListTablesInput {
                    exclusive_start_table_name: opt_str(input, "ExclusiveStartTableName")?.map(str::to_owned),
                    limit: opt_int(input, "Limit")?,
                },
            )?;
            let mut body = Map::new();
            body.insert("TableNames".into(), json!(out.table_names));
            if let Some(last) = out.last_evaluated_table_name {
                body.insert("LastEvaluatedTableName".into(), json!(last));
            }
            Ok(Reply::Json(Value::Object(body)))
        }
        _ => Err(unknown_operation(Api::DynamoDb, op)),
    }
}
