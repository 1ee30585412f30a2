//! The legacy (pre-expression) parameters, turned into the same ASTs the expressions parse to: `Expected`,
//! `QueryFilter`, `ScanFilter` and `KeyConditions` into conditions (joined by `ConditionalOperator`),
//! `AttributeUpdates` into an update. Validation follows DynamoDB's messages for each.

use serde_json::{Map, Value};

use crate::attr::AttributeValue;
use crate::expr::ast::{Cmp, Condition, Operand, Path, PathElem, SetValue, Update, UpdateOperand};
use crate::expr::eval::order;
use crate::DynamoError;

/// Which parameter the conditions come from (each has its own rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Expected,
    Filter,
    KeyConditions,
}

fn invalid(detail: String) -> DynamoError {
    DynamoError::Validation(format!("One or more parameter values were invalid: {detail}"))
}

fn object(v: &Value) -> Result<&Map<String, Value>, DynamoError> {
    v.as_object()
        .ok_or_else(|| DynamoError::Serialization("Expected map or null".into()))
}

fn member<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.get(name).filter(|v| !v.is_null())
}

fn path(name: &str) -> Operand {
    Operand::Path(Path(vec![PathElem::Name(name.to_owned())]))
}

/// The number of values each comparison operator takes (`None`: one or more).
fn arity(op: &str) -> Option<Option<usize>> {
    Some(match op {
        "NULL" | "NOT_NULL" => Some(0),
        "EQ" | "NE" | "LE" | "LT" | "GE" | "GT" | "CONTAINS" | "NOT_CONTAINS" | "BEGINS_WITH" => Some(1),
        "BETWEEN" => Some(2),
        "IN" => None,
        _ => return None,
    })
}

/// The value types each operator accepts in a filter or key condition.
fn accepts(op: &str, v: &AttributeValue) -> bool {
    let scalar = matches!(v, AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_));
    match op {
        "EQ" | "NE" => scalar || matches!(v, AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)),
        "BEGINS_WITH" => matches!(v, AttributeValue::S(_) | AttributeValue::B(_)),
        _ => scalar,
    }
}

/// One attribute's comparison as a condition.
fn comparison(name: &str, op: &str, values: Vec<AttributeValue>, use_: Use) -> Result<Condition, DynamoError> {
    let count = arity(op).ok_or_else(|| {
        DynamoError::Validation(format!(
            "1 validation error detected: Value '{op}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        ))
    })?;
    let count_ok = match count {
        Some(n) => values.len() == n,
        None => !values.is_empty(),
    };
    if !count_ok {
        return Err(invalid(format!(
            "Invalid number of argument(s) for the {op} ComparisonOperator"
        )));
    }
    if let Some(first) = values.first() {
        if values.iter().any(|v| v.type_name() != first.type_name()) {
            return Err(invalid(
                "AttributeValues inside AttributeValueList must be of same type".into(),
            ));
        }
    }
    if use_ != Use::Expected {
        if let Some(v) = values.iter().find(|v| !accepts(op, v)) {
            return Err(invalid(format!(
                "ComparisonOperator {op} is not valid for {} AttributeValue type",
                v.type_name()
            )));
        }
    }
    if use_ == Use::KeyConditions && matches!(op, "NULL" | "NOT_NULL" | "CONTAINS" | "NOT_CONTAINS" | "IN" | "NE") {
        return Err(DynamoError::Validation(
            "Attempted conditional constraint is not an indexable operation".into(),
        ));
    }
    if op == "BETWEEN" && order(&values[0], &values[1]) == Some(std::cmp::Ordering::Greater) {
        return Err(DynamoError::Validation(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound".into(),
        ));
    }
    let p = Path(vec![PathElem::Name(name.to_owned())]);
    let mut values = values.into_iter().map(Operand::Value);
    let mut next = || values.next().unwrap_or(Operand::Value(AttributeValue::Null));
    let compare = |cmp: Cmp, v: Operand| Condition::Compare(cmp, path(name), v);
    Ok(match op {
        "EQ" => compare(Cmp::Eq, next()),
        "NE" => compare(Cmp::Ne, next()),
        "LE" => compare(Cmp::Le, next()),
        "LT" => compare(Cmp::Lt, next()),
        "GE" => compare(Cmp::Ge, next()),
        "GT" => compare(Cmp::Gt, next()),
        "NULL" => Condition::NotExists(p),
        "NOT_NULL" => Condition::Exists(p),
        "CONTAINS" => Condition::Contains(path(name), next()),
        "NOT_CONTAINS" => Condition::And(
            Box::new(Condition::Exists(p)),
            Box::new(Condition::Not(Box::new(Condition::Contains(path(name), next())))),
        ),
        "BEGINS_WITH" => Condition::BeginsWith(path(name), next()),
        "BETWEEN" => {
            let lo = next();
            Condition::Between(path(name), lo, next())
        }
        _ => {
            let first = next();
            let mut list = vec![first];
            list.extend(values);
            Condition::In(path(name), list)
        }
    })
}

fn value_list(o: &Map<String, Value>) -> Result<Vec<AttributeValue>, DynamoError> {
    match member(o, "AttributeValueList") {
        None => Ok(Vec::new()),
        Some(v) => v
            .as_array()
            .ok_or_else(|| DynamoError::Serialization("Expected list or null".into()))?
            .iter()
            .map(AttributeValue::from_json)
            .collect(),
    }
}

/// One `Expected` entry, with its own rules for `Value` and `Exists`.
fn expected(name: &str, o: &Map<String, Value>) -> Result<Condition, DynamoError> {
    let value = member(o, "Value").map(AttributeValue::from_json).transpose()?;
    let exists = member(o, "Exists").and_then(Value::as_bool);
    let op = member(o, "ComparisonOperator").and_then(Value::as_str);
    let has_list = member(o, "AttributeValueList").is_some();
    if has_list && value.is_some() {
        return Err(invalid(format!(
            "Value and AttributeValueList cannot be used together for Attribute: {name}"
        )));
    }
    if let Some(op) = op {
        if member(o, "Exists").is_some() {
            return Err(invalid(format!(
                "Exists and ComparisonOperator cannot be used together for Attribute: {name}"
            )));
        }
        if op != "NULL" && op != "NOT_NULL" && !has_list && value.is_none() {
            return Err(invalid(format!(
                "Value or AttributeValueList must be used with ComparisonOperator: {op} for Attribute: {name}"
            )));
        }
        let values = match value {
            Some(v) => vec![v],
            None => value_list(o)?,
        };
        return comparison(name, op, values, Use::Expected);
    }
    if has_list {
        return Err(invalid(format!(
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
        )));
    }
    match (exists, value) {
        (Some(false), None) => Ok(Condition::NotExists(Path(vec![PathElem::Name(name.to_owned())]))),
        (Some(false), Some(_)) => Err(invalid(format!(
            "Value cannot be used when Exists is false for Attribute: {name}"
        ))),
        (_, Some(v)) => Ok(Condition::Compare(Cmp::Eq, path(name), Operand::Value(v))),
        (e, None) => Err(invalid(format!(
            "Value must be provided when Exists is {} for Attribute: {name}",
            e.map_or("null".to_owned(), |b| b.to_string())
        ))),
    }
}

/// A map of per-attribute conditions joined by `operator` (AND unless OR); `None` for an empty map.
pub fn conditions(v: &Value, operator: Option<&str>, use_: Use) -> Result<Option<Condition>, DynamoError> {
    let or = match operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(other) => {
            return Err(DynamoError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
            )))
        }
    };
    let mut all = Vec::new();
    for (name, entry) in object(v)? {
        let o = object(entry)?;
        all.push(match use_ {
            Use::Expected => expected(name, o)?,
            _ => {
                let op = member(o, "ComparisonOperator").and_then(Value::as_str).ok_or_else(|| {
                    DynamoError::Validation(
                        "1 validation error detected: Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null".into(),
                    )
                })?;
                comparison(name, op, value_list(o)?, use_)?
            }
        });
    }
    if use_ == Use::KeyConditions && !(1..=2).contains(&all.len()) {
        return Err(DynamoError::Validation(
            "Conditions can be of length 1 or 2 only".into(),
        ));
    }
    Ok(all.into_iter().reduce(|a, b| {
        if or {
            Condition::Or(Box::new(a), Box::new(b))
        } else {
            Condition::And(Box::new(a), Box::new(b))
        }
    }))
}

/// `AttributeUpdates` as an update: PUT sets, DELETE without a value removes, DELETE with a value removes
/// set elements, ADD adds to a number or set.
pub fn attribute_updates(v: &Value) -> Result<Update, DynamoError> {
    let mut update = Update::default();
    for (name, entry) in object(v)? {
        let o = object(entry)?;
        let value = member(o, "Value").map(AttributeValue::from_json).transpose()?;
        let action = member(o, "Action").and_then(Value::as_str).unwrap_or("PUT");
        let p = Path(vec![PathElem::Name(name.clone())]);
        match (action, value) {
            ("PUT", Some(v)) => update.set.push((p, SetValue::Operand(UpdateOperand::Value(v)))),
            ("DELETE", None) => update.remove.push(p),
            ("DELETE", Some(v)) => update.delete.push((p, v)),
            ("ADD", Some(v)) => update.add.push((p, v)),
            ("PUT" | "ADD", None) => {
                return Err(invalid("Only DELETE action is allowed when no attribute value is specified".into()))
            }
            (other, _) => {
                return Err(DynamoError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )))
            }
        }
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::item_from_json;
    use crate::expr::eval::evaluate;
    use crate::expr::update::apply;
    use serde_json::json;

    #[test]
    fn expected_and_filters_become_conditions() {
        let item = item_from_json(&json!({"a": {"N": "5"}, "s": {"S": "abc"}})).unwrap();
        for (expected, operator, holds) in [
            (json!({"a": {"Value": {"N": "5"}}}), None, true),
            (json!({"a": {"Value": {"N": "5"}, "Exists": true}}), None, true),
            (json!({"b": {"Exists": false}}), None, true),
            (
                json!({"a": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "6"}]}}),
                None,
                false,
            ),
            (
                json!({"a": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "6"}]}, "s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "ab"}]}}),
                Some("OR"),
                true,
            ),
            (
                json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}}),
                None,
                true,
            ),
            (
                json!({"s": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "z"}]}}),
                None,
                true,
            ),
            (json!({"b": {"ComparisonOperator": "NULL"}}), None, true),
        ] {
            let c = conditions(&expected, operator, Use::Expected).unwrap().unwrap();
            assert_eq!(evaluate(&c, &item), holds, "{expected}");
        }
        for (expected, message) in [
            (json!({"a": {"Exists": true}}), "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: a"),
            (json!({"a": {"Exists": false, "Value": {"N": "1"}}}), "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: a"),
            (json!({"a": {"ComparisonOperator": "EQ"}}), "One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"),
            (json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]}}), "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
            (json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "9"}, {"N": "1"}]}}), "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
        ] {
            assert_eq!(conditions(&expected, None, Use::Expected).unwrap_err().to_string(), message);
        }
        assert_eq!(
            conditions(
                &json!({"a": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}]}}),
                None,
                Use::KeyConditions
            )
            .unwrap_err()
            .to_string(),
            "Attempted conditional constraint is not an indexable operation"
        );
    }

    #[test]
    fn attribute_updates_become_an_update() {
        let item = item_from_json(&json!({"n": {"N": "1"}, "s": {"SS": ["a", "b"]}, "gone": {"S": "x"}})).unwrap();
        let u = attribute_updates(&json!({
            "n": {"Action": "ADD", "Value": {"N": "2"}},
            "s": {"Action": "DELETE", "Value": {"SS": ["a"]}},
            "gone": {"Action": "DELETE"},
            "put": {"Value": {"S": "v"}}
        }))
        .unwrap();
        assert_eq!(
            apply(&u, &item).unwrap(),
            item_from_json(&json!({"n": {"N": "3"}, "s": {"SS": ["b"]}, "put": {"S": "v"}})).unwrap()
        );
        assert_eq!(
            attribute_updates(&json!({"x": {"Action": "PUT"}})).unwrap_err().to_string(),
            "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified"
        );
    }
}
