//! DynamoDB Streams: StreamSpecification on CreateTable and UpdateTable, the stream members of
//! TableDescription, and the Streams API (ListStreams, DescribeStream, GetShardIterator, GetRecords).

use base64::Engine as _;
use dynamodb::attr::item_to_json;
use dynamodb::stream::{seq_parse, seq_text, StreamInfo, ViewType};
use dynamodb::tables::{IteratorStart, Table, TableRecord};
use dynamodb::DynamoError;
use serde_json::{json, Map, Value};

use super::schema_json;
use crate::services::input::{epoch, Input};
use crate::{ApiError, App, Caller, Reply};

/// Iterators expire after this long.
const ITERATOR_LIFETIME_MS: i64 = 15 * 60 * 1000;

/// `StreamSpecification`: `Some(Some(view))` to enable, `Some(None)` to disable, none when absent.
pub(super) fn specification(i: &Input<'_>) -> Result<Option<Option<ViewType>>, ApiError> {
    let Some(spec) = i.object("StreamSpecification")? else {
        return Ok(None);
    };
    let enabled = match spec.0.get("StreamEnabled") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(crate::services::input::missing("StreamEnabled")),
    };
    let view = spec.opt_str("StreamViewType")?;
    match (enabled, view) {
        (true, None) => Err(ApiError::validation(
            "One or more parameter values were invalid: StreamViewType is required when StreamEnabled is true",
        )),
        (false, Some(_)) => Err(ApiError::validation(
            "One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false",
        )),
        (false, None) => Ok(Some(None)),
        (true, Some(v)) => ViewType::parse(v).map(|v| Some(Some(v))).ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{v}' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"
            ))
        }),
    }
}

pub(super) fn stream_arn(r: &TableRecord, s: &StreamInfo) -> String {
    format!("{}/stream/{}", r.arn(), s.label)
}

/// TableDescription's stream members: the specification of the enabled stream and the latest stream.
pub(super) fn describe_into(r: &TableRecord, d: &mut Map<String, Value>) {
    let Some(latest) = r.streams.last() else {
        return;
    };
    if latest.enabled() {
        d.insert(
            "StreamSpecification".into(),
            json!({"StreamEnabled": true, "StreamViewType": latest.view.as_str()}),
        );
    }
    d.insert("LatestStreamLabel".into(), json!(latest.label));
    d.insert("LatestStreamArn".into(), json!(stream_arn(r, latest)));
}

/// The table and stream a stream ARN of the caller's account and region names.
fn resolve(app: &App, c: &Caller, arn: &str) -> Result<(std::sync::Arc<Table>, StreamInfo), ApiError> {
    let not_found = || DynamoError::ResourceNotFound(format!("Requested resource not found: Stream: {arn} not found"));
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", c.region, c.account());
    let rest = arn.strip_prefix(prefix.as_str()).ok_or_else(not_found)?;
    let (table, label) = rest.split_once("/stream/").ok_or_else(not_found)?;
    let table = app.tables.get(c.account(), &c.region, table).map_err(|_| not_found())?;
    let stream = table.stream(label).cloned().ok_or_else(not_found)?;
    Ok((table, stream))
}

/// Each stream has one shard: any other id names nothing.
fn check_shard(s: &StreamInfo, shard: &str) -> Result<(), ApiError> {
    if shard != s.shard_id {
        return Err(DynamoError::ResourceNotFound(format!(
            "Requested resource not found: Shard does not exist: {shard}"
        ))
        .into());
    }
    Ok(())
}

fn authorize(app: &App, c: &Caller, action: &str, arn: &str) -> Result<(), ApiError> {
    app.iam.authorize(&c.entry, action, arn, &Default::default())?;
    Ok(())
}

pub async fn dispatch(app: &App, c: &Caller, op: &str, input: &Value) -> Result<Reply, ApiError> {
    let i = Input(input);
    match op {
        "ListStreams" => list_streams(app, c, &i),
        "DescribeStream" => describe_stream(app, c, &i),
        "GetShardIterator" => shard_iterator(app, c, &i),
        "GetRecords" => get_records(app, c, &i),
        _ => Err(crate::unknown_operation(crate::Api::Streams, op)),
    }
}

fn list_streams(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let resource = format!("arn:aws:dynamodb:{}:{}:table/*/stream/*", c.region, c.account());
    authorize(app, c, "dynamodb:ListStreams", &resource)?;
    let limit = i.opt_i64_between("Limit", "limit", 1, 100)?.unwrap_or(100) as usize;
    let only = i.opt_str("TableName")?;
    let after = i.opt_str("ExclusiveStartStreamArn")?;
    let mut streams = Vec::new();
    for name in app.tables.names(c.account(), &c.region) {
        if only.is_some_and(|t| t != name) {
            continue;
        }
        if let Ok(table) = app.tables.get(c.account(), &c.region, &name) {
            for s in &table.record.streams {
                streams.push((stream_arn(&table.record, s), name.clone(), s.label.clone()));
            }
        }
    }
    if let Some(t) = only {
        if app.tables.get(c.account(), &c.region, t).is_err() {
            return Err(
                DynamoError::ResourceNotFound(format!("Requested resource not found: Table: {t} not found")).into(),
            );
        }
    }
    streams.sort();
    let start = after.map_or(0, |a| {
        streams.iter().position(|s| s.0.as_str() > a).unwrap_or(streams.len())
    });
    let page: Vec<_> = streams.iter().skip(start).take(limit).collect();
    let mut body = Map::new();
    body.insert(
        "Streams".into(),
        json!(page
            .iter()
            .map(|(arn, t, label)| json!({"StreamArn": arn, "TableName": t, "StreamLabel": label}))
            .collect::<Vec<_>>()),
    );
    if start + page.len() < streams.len() {
        if let Some(last) = page.last() {
            body.insert("LastEvaluatedStreamArn".into(), json!(last.0));
        }
    }
    Ok(Reply::Json(Value::Object(body)))
}

fn describe_stream(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let arn = i.str("StreamArn")?;
    authorize(app, c, "dynamodb:DescribeStream", arn)?;
    let (table, s) = resolve(app, c, arn)?;
    let mut range = Map::new();
    range.insert("StartingSequenceNumber".into(), json!(seq_text(s.starting_seq)));
    if let Some(end) = s.ending_seq {
        range.insert("EndingSequenceNumber".into(), json!(seq_text(end)));
    }
    // One shard per stream; a page after it is empty.
    let shards = match i.opt_str("ExclusiveStartShardId")? {
        Some(_) => vec![],
        None => vec![json!({"ShardId": s.shard_id, "SequenceNumberRange": Value::Object(range)})],
    };
    Ok(Reply::Json(json!({
        "StreamDescription": {
            "StreamArn": arn,
            "StreamLabel": s.label,
            "StreamStatus": if s.enabled() { "ENABLED" } else { "DISABLED" },
            "StreamViewType": s.view.as_str(),
            "CreationRequestDateTime": epoch(s.created_ms),
            "TableName": table.record.spec.name,
            "KeySchema": schema_json(&table.record.spec.schema),
            "Shards": shards,
        }
    })))
}

/// An iterator: the stream's ARN, the shard, the next position and when it was issued, base64-encoded.
fn encode_iterator(arn: &str, shard: &str, position: u64, issued_ms: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{arn}|{shard}|{position}|{issued_ms}"))
}

fn decode_iterator(text: &str) -> Option<(String, String, u64, i64)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.rsplitn(3, '|');
    let issued = parts.next()?.parse().ok()?;
    let position = parts.next()?.parse().ok()?;
    let (arn, shard) = parts.next()?.rsplit_once('|')?;
    Some((arn.to_owned(), shard.to_owned(), position, issued))
}

fn shard_iterator(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let arn = i.str("StreamArn")?;
    authorize(app, c, "dynamodb:GetShardIterator", arn)?;
    let (table, s) = resolve(app, c, arn)?;
    let shard = i.str("ShardId")?;
    check_shard(&s, shard)?;
    let seq = i.opt_str("SequenceNumber")?;
    let number = |need: &str| -> Result<u64, ApiError> {
        let text = seq.ok_or_else(|| {
            ApiError::validation(format!(
                "Sequence number must be specified for shard iterator type {need}"
            ))
        })?;
        seq_parse(text).ok_or_else(|| ApiError::validation(format!("Invalid SequenceNumber: {text}")))
    };
    let start = match i.str("ShardIteratorType")? {
        "TRIM_HORIZON" => IteratorStart::TrimHorizon,
        "LATEST" => IteratorStart::Latest,
        "AT_SEQUENCE_NUMBER" => IteratorStart::At(number("AT_SEQUENCE_NUMBER")?),
        "AFTER_SEQUENCE_NUMBER" => IteratorStart::After(number("AFTER_SEQUENCE_NUMBER")?),
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
            )))
        }
    };
    let position = table.stream_position(&s, start)?;
    Ok(Reply::Json(json!({
        "ShardIterator": encode_iterator(arn, shard, position, app.clock.now_millis())
    })))
}

fn get_records(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let text = i.str("ShardIterator")?;
    let (arn, shard, position, issued) =
        decode_iterator(text).ok_or_else(|| ApiError::validation("Invalid ShardIterator"))?;
    authorize(app, c, "dynamodb:GetRecords", &arn)?;
    let limit = i.opt_i64_between("Limit", "limit", 1, 1000)?.unwrap_or(1000) as usize;
    let now = app.clock.now_millis();
    if now - issued > ITERATOR_LIFETIME_MS {
        return Err(DynamoError::ExpiredIterator(format!(
            "Iterator expired. The iterator was created at time {} while right now it is {}.",
            iso(issued),
            iso(now)
        ))
        .into());
    }
    let (table, s) = resolve(app, c, &arn)?;
    check_shard(&s, &shard)?;
    let page = table.read_stream(&s, position, limit, &app.table_keys(c))?;
    let region = &table.record.region;
    let records: Vec<Value> = page
        .records
        .iter()
        .map(|(seq, r)| {
            let mut d = Map::new();
            d.insert(
                "ApproximateCreationDateTime".into(),
                json!(r.created_ms.div_euclid(1000)),
            );
            d.insert("Keys".into(), item_to_json(&r.keys));
            if let Some(n) = &r.new {
                d.insert("NewImage".into(), item_to_json(n));
            }
            if let Some(o) = &r.old {
                d.insert("OldImage".into(), item_to_json(o));
            }
            d.insert("SequenceNumber".into(), json!(seq_text(*seq)));
            d.insert("SizeBytes".into(), json!(r.size_bytes));
            d.insert("StreamViewType".into(), json!(s.view.as_str()));
            let mut rec = json!({
                "eventID": r.event_id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "eventName": r.event.as_str(),
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": region,
                "dynamodb": Value::Object(d),
            });
            if r.by_ttl {
                rec["userIdentity"] = json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"});
            }
            rec
        })
        .collect();
    let mut body = Map::new();
    body.insert("Records".into(), Value::Array(records));
    if !page.finished {
        body.insert(
            "NextShardIterator".into(),
            json!(encode_iterator(&arn, &shard, page.next, now)),
        );
    }
    Ok(Reply::Json(Value::Object(body)))
}

/// A time as the iterator-expiry message shows it.
fn iso(ms: i64) -> String {
    dynamodb::stream::label_at(ms)
}

/// Tables with a stream to enable after CreateTable, or UpdateTable's StreamSpecification.
pub(super) async fn apply(app: &App, c: &Caller, name: &str, spec: Option<ViewType>) -> Result<TableRecord, ApiError> {
    Ok(match spec {
        Some(view) => app
            .tables
            .enable_stream(c.account(), &c.region, name, view, &app.table_keys(c))?,
        None => app.tables.disable_stream(c.account(), &c.region, name).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Iterators decode to what they were made of, and no string a client sends makes decoding panic.
        #[test]
        fn iterators_round_trip_and_junk_never_panics(
            arn in "arn:aws:dynamodb:[a-z0-9-]{1,12}:[0-9]{12}:table/[a-zA-Z0-9_.|-]{3,20}/stream/[0-9T:.-]{5,23}",
            shard in "shardId-[0-9]{20}-[0-9a-f]{8}",
            position in any::<u64>(),
            issued in any::<i64>(),
            junk in ".{0,80}",
        ) {
            let text = encode_iterator(&arn, &shard, position, issued);
            prop_assert_eq!(decode_iterator(&text), Some((arn, shard, position, issued)));
            let _ = decode_iterator(&junk);
            let _ = decode_iterator(&base64::engine::general_purpose::STANDARD.encode(junk.as_bytes()));
        }
    }
}
