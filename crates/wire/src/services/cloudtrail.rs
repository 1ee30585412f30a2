//! CloudTrail LookupEvents over the audit trail.

use audit::{LookupAttribute, LookupQuery};
use serde_json::{json, Map, Value};

use crate::services::input::{epoch, Input};
use crate::{unknown_operation, Api, ApiError, App, Caller, Reply};

pub fn dispatch(app: &App, c: &Caller, op: &str, input: &Value) -> Result<Reply, ApiError> {
    if op != "LookupEvents" {
        return Err(unknown_operation(Api::CloudTrail, op));
    }
    let resource = format!("arn:aws:cloudtrail:{}:{}:trail/*", c.region, c.account());
    app.iam
        .authorize(&c.entry, "cloudtrail:LookupEvents", &resource, &Default::default())?;
    let i = Input(input);
    if let Some(cat) = i.opt_str("EventCategory")? {
        if cat != "insight" {
            return Err(ApiError::modeled(
                "InvalidEventCategoryException",
                400,
                format!("Invalid EventCategory: {cat}"),
            ));
        }
        return Ok(Reply::Json(json!({ "Events": [] })));
    }
    let attributes = i
        .list("LookupAttributes")?
        .iter()
        .map(|a| LookupAttribute::parse(a.str("AttributeKey")?, a.str("AttributeValue")?).map_err(lookup_error))
        .collect::<Result<Vec<_>, _>>()?;
    let q = LookupQuery {
        account: c.account().to_owned(),
        region: c.region.clone(),
        attributes,
        start_ms: i.opt_timestamp_ms("StartTime")?,
        end_ms: i.opt_timestamp_ms("EndTime")?,
        max_results: i.opt_i64("MaxResults")?,
        next_token: i.opt_str("NextToken")?.map(str::to_owned),
    };
    let result = app.trail.lookup(&q).map_err(lookup_error)?;
    let events: Vec<Value> = result
        .events
        .iter()
        .map(|e| {
            let mut o = Map::new();
            o.insert("EventId".into(), json!(e.event_id));
            o.insert("EventName".into(), json!(e.event_name));
            o.insert("ReadOnly".into(), json!(if e.read_only { "true" } else { "false" }));
            if let Some(k) = &e.access_key_id {
                o.insert("AccessKeyId".into(), json!(k));
            }
            o.insert("EventTime".into(), epoch(e.time_ms));
            o.insert("EventSource".into(), json!(e.event_source));
            if let Some(u) = &e.username {
                o.insert("Username".into(), json!(u));
            }
            let res: Vec<Value> = e
                .resources
                .iter()
                .map(|(t, n)| json!({ "ResourceType": t, "ResourceName": n }))
                .collect();
            o.insert("Resources".into(), json!(res));
            o.insert("CloudTrailEvent".into(), json!(e.record_json));
            Value::Object(o)
        })
        .collect();
    let mut body = Map::new();
    body.insert("Events".into(), json!(events));
    if let Some(t) = result.next_token {
        body.insert("NextToken".into(), json!(t));
    }
    Ok(Reply::Json(Value::Object(body)))
}

fn lookup_error(e: audit::LookupError) -> ApiError {
    if let audit::LookupError::Unreadable(_) = e {
        return ApiError::new(crate::error::ErrorKind::Internal, "");
    }
    ApiError::modeled(e.code(), 400, e.to_string())
}
