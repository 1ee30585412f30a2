//! Query and Scan: pages of at most `Limit` items and 1 MB read, `ExclusiveStartKey` / `LastEvaluatedKey`,
//! the filter applied after the page is read (so `Count` <= `ScannedCount`), projections and `Select`.

use dynamodb::attr::{item_from_json, item_to_json, Item};
use dynamodb::capacity::read_units;
use dynamodb::expr::eval::{evaluate, project};
use dynamodb::expr::Kind;
use dynamodb::items;
use dynamodb::tables::{ScanPage, Table};
use serde_json::{json, Map, Value};

use super::exprs::{self, Expressions};
use super::{add_capacity, authorize, capacity_wanted, table_name};
use crate::services::input::Input;
use crate::{ApiError, App, Caller, Reply};

/// A page is at most 1 MB of items read.
const PAGE_BYTES: usize = 1024 * 1024;

fn limit(i: &Input<'_>) -> Result<usize, ApiError> {
    match i.opt_i64("Limit")? {
        None => Ok(usize::MAX),
        Some(l) if l >= 1 => Ok(l as usize),
        Some(l) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))),
    }
}

/// `Select` against the projection: whether only the count is wanted.
fn count_only(i: &Input<'_>, e: &Expressions, operation: &str) -> Result<bool, ApiError> {
    let projected = if i.0.get("ProjectionExpression").is_some_and(|v| !v.is_null()) {
        Some("ProjectionExpression")
    } else if e.projection.is_some() {
        Some("AttributesToGet")
    } else {
        None
    };
    match (i.opt_str("Select")?, projected) {
        (None | Some("SPECIFIC_ATTRIBUTES"), Some(_)) | (None | Some("ALL_ATTRIBUTES"), None) => Ok(false),
        (Some("COUNT"), None) => Ok(true),
        (Some("COUNT"), Some(p)) => Err(ApiError::validation(format!(
            "Cannot specify the {p} when choosing to get only the Count"
        ))),
        (Some("ALL_ATTRIBUTES"), Some(p)) => Err(ApiError::validation(format!(
            "Cannot specify the {p} when choosing to get ALL_ATTRIBUTES"
        ))),
        (Some("SPECIFIC_ATTRIBUTES"), None) => Err(ApiError::validation(
            "One or more parameter values were invalid: SPECIFIC_ATTRIBUTES must be used with AttributesToGet or ProjectionExpression",
        )),
        (Some("ALL_PROJECTED_ATTRIBUTES"), _) => Err(ApiError::validation(format!(
            "One or more parameter values were invalid: ALL_PROJECTED_ATTRIBUTES can be used only when {operation} using an IndexName"
        ))),
        (Some(other), _) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
        ))),
    }
}

/// Secondary indexes are maintained from issue 7 on; until then a read of one is refused, not answered
/// from the base table.
fn refuse_index(i: &Input<'_>, table: &Table) -> Result<(), ApiError> {
    let Some(index) = i.opt_str("IndexName")? else {
        return Ok(());
    };
    let spec = &table.record.spec;
    let known = spec
        .local_indexes
        .iter()
        .chain(&spec.global_indexes)
        .any(|x| x.name == index);
    Err(ApiError::validation(if known {
        format!("One or more parameter values were invalid: reading secondary index {index} is not supported by this server yet")
    } else {
        format!("The table does not have the specified index: {index}")
    }))
}

fn start_key(i: &Input<'_>) -> Result<Option<Item>, ApiError> {
    match i.0.get("ExclusiveStartKey").filter(|v| !v.is_null()) {
        Some(v) => Ok(Some(item_from_json(v)?)),
        None => Ok(None),
    }
}

/// The answer to a page: the items the filter keeps, projected, and the counts and continuation.
fn page_reply(
    table: &Table,
    name: &str,
    page: ScanPage,
    e: &Expressions,
    count_only: bool,
    capacity: super::Capacity,
    consistent: bool,
) -> Reply {
    let (filter, projection) = (e.filter.as_ref(), e.projection.as_ref());
    let scanned = page.items.len();
    let last_key = page
        .more
        .then(|| {
            page.items
                .last()
                .map(|last| table.record.spec.schema.key_attributes(last))
        })
        .flatten();
    let kept: Vec<Item> = page
        .items
        .into_iter()
        .filter(|item| filter.is_none_or(|f| evaluate(f, item)))
        .collect();
    let mut body = Map::new();
    body.insert("Count".into(), json!(kept.len()));
    body.insert("ScannedCount".into(), json!(scanned));
    if !count_only {
        let shown = kept
            .iter()
            .map(|item| match projection {
                Some(paths) => item_to_json(&project(item, paths)),
                None => item_to_json(item),
            })
            .collect();
        body.insert("Items".into(), Value::Array(shown));
    }
    if let Some(key) = last_key {
        body.insert("LastEvaluatedKey".into(), item_to_json(&key));
    }
    add_capacity(&mut body, capacity, name, read_units(page.bytes, consistent), false);
    Reply::Json(Value::Object(body))
}

pub fn scan(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    authorize(app, c, "dynamodb:Scan", name)?;
    let capacity = capacity_wanted(i)?;
    let consistent = i.bool("ConsistentRead")?;
    let limit = limit(i)?;
    let e = exprs::read(i, &[Kind::Filter, Kind::Projection])?;
    let count_only = count_only(i, &e, "Scanning")?;
    let segment = match (i.opt_i64("Segment")?, i.opt_i64("TotalSegments")?) {
        (None, None) => (0, 1),
        (Some(s), Some(t)) if (1..=1_000_000).contains(&t) && (0..t).contains(&s) => (s as u32, t as u32),
        (Some(_), None) => {
            return Err(ApiError::validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ))
        }
        (Some(s), Some(t)) => {
            return Err(ApiError::validation(format!(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
            )))
        }
    };
    let start = start_key(i)?;
    let table = app.tables.get(c.account(), &c.region, name)?;
    refuse_index(i, &table)?;
    let page = table.scan(start.as_ref(), segment, limit, PAGE_BYTES, &app.table_keys(c))?;
    Ok(page_reply(&table, name, page, &e, count_only, capacity, consistent))
}

pub fn query(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    authorize(app, c, "dynamodb:Query", name)?;
    let capacity = capacity_wanted(i)?;
    let consistent = i.bool("ConsistentRead")?;
    let limit = limit(i)?;
    let forward = i.0.get("ScanIndexForward").and_then(Value::as_bool).unwrap_or(true);
    let e = exprs::read(i, &[Kind::KeyCondition, Kind::Filter, Kind::Projection])?;
    let count_only = count_only(i, &e, "Querying")?;
    let start = start_key(i)?;
    let table = app.tables.get(c.account(), &c.region, name)?;
    refuse_index(i, &table)?;
    let schema = &table.record.spec.schema;
    let key_condition = e.key_condition.as_ref().ok_or_else(|| {
        ApiError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        )
    })?;
    let key_condition = items::key_condition(key_condition, schema)?;
    if let Some(f) = &e.filter {
        items::check_query_filter(f, schema)?;
    }
    if let Some(start) = &start {
        items::check_start_key(&key_condition, schema, start)?;
    }
    let page = table.query(
        &key_condition,
        forward,
        start.as_ref(),
        limit,
        PAGE_BYTES,
        &app.table_keys(c),
    )?;
    Ok(page_reply(&table, name, page, &e, count_only, capacity, consistent))
}
