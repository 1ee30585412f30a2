//! Query and Scan: pages of at most `Limit` items and 1 MB read, `ExclusiveStartKey` / `LastEvaluatedKey`,
//! the filter applied after the page is read (so `Count` <= `ScannedCount`), projections and `Select`.

use dynamodb::attr::{item_from_json, item_to_json, Item};
use dynamodb::capacity::read_units;
use dynamodb::expr::eval::{evaluate, project};
use dynamodb::expr::Kind;
use dynamodb::index::IndexDef;
use dynamodb::items;
use dynamodb::table::Projection;
use dynamodb::tables::{ScanPage, Table};
use serde_json::{json, Map, Value};

use super::exprs::{self, Expressions};
use super::{add_capacity, authorize, capacity_wanted, read_admits, read_pay, table_name};
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

/// What a read answers with (`Select`, given or implied).
#[derive(Clone, Copy, PartialEq)]
enum Select {
    Count,
    /// Whole items.
    All,
    /// What the index holds of each item.
    AllProjected,
    /// The attributes of the projection expression.
    Specific,
}

/// `Select` against the projection and the index read, if any: what the answer holds.
fn select(i: &Input<'_>, e: &Expressions, operation: &str, index: Option<&IndexDef>) -> Result<Select, ApiError> {
    let projected = if i.0.get("ProjectionExpression").is_some_and(|v| !v.is_null()) {
        Some("ProjectionExpression")
    } else if e.projection.is_some() {
        Some("AttributesToGet")
    } else {
        None
    };
    let chosen = match (i.opt_str("Select")?, projected) {
        (None | Some("SPECIFIC_ATTRIBUTES"), Some(_)) => Select::Specific,
        // Reading an index answers with what it holds unless told otherwise.
        (None, None) if index.is_some() => Select::AllProjected,
        (None | Some("ALL_ATTRIBUTES"), None) => Select::All,
        (Some("COUNT"), None) => Select::Count,
        (Some("ALL_PROJECTED_ATTRIBUTES"), None) if index.is_some() => Select::AllProjected,
        (Some(s @ ("COUNT" | "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES")), Some(p)) if index.is_some() || s != "ALL_PROJECTED_ATTRIBUTES" => {
            let what = match s {
                "COUNT" => "only the Count",
                "ALL_ATTRIBUTES" => "ALL_ATTRIBUTES",
                _ => "ALL_PROJECTED_ATTRIBUTES",
            };
            return Err(ApiError::validation(format!("Cannot specify the {p} when choosing to get {what}")));
        }
        (Some("SPECIFIC_ATTRIBUTES"), None) => {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: SPECIFIC_ATTRIBUTES must be used with AttributesToGet or ProjectionExpression",
            ))
        }
        (Some("ALL_PROJECTED_ATTRIBUTES"), _) => {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: ALL_PROJECTED_ATTRIBUTES can be used only when {operation} using an IndexName"
            )))
        }
        (Some(other), _) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )))
        }
    };
    if let Some(index) = index {
        if chosen == Select::All && !index.local && index.projection != Projection::All {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                index.name
            )));
        }
    }
    Ok(chosen)
}

/// The index a read names with `IndexName`, if any, with DynamoDB's refusals.
fn index_read(i: &Input<'_>, table: &Table, consistent: bool) -> Result<Option<IndexDef>, ApiError> {
    let Some(name) = i.opt_str("IndexName")? else {
        return Ok(None);
    };
    let spec = &table.record.spec;
    let index = IndexDef::all(spec)
        .into_iter()
        .find(|x| x.name == name)
        .ok_or_else(|| ApiError::validation(format!("The table does not have the specified index: {name}")))?;
    if !index.local && consistent {
        return Err(ApiError::validation(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    if spec.global_indexes.iter().any(|g| g.name == name && g.backfilling) {
        return Err(ApiError::validation(
            "Cannot read from backfilling global secondary index",
        ));
    }
    Ok(Some(index))
}

/// Whether a read of a local index must answer from the table's items rather than the index's entries:
/// when it asks for attributes the index does not hold. (A global index answers with what it holds.)
fn whole_items(index: &IndexDef, table: &Table, select: Select, e: &Expressions) -> bool {
    if !index.local || index.projection == Projection::All {
        return false;
    }
    let schema = &table.record.spec.schema;
    match select {
        Select::All => true,
        Select::Specific => e.projection.iter().flatten().any(|p| !index.projects(schema, p.head())),
        Select::Count | Select::AllProjected => false,
    }
}

fn start_key(i: &Input<'_>) -> Result<Option<Item>, ApiError> {
    match i.0.get("ExclusiveStartKey").filter(|v| !v.is_null()) {
        Some(v) => Ok(Some(item_from_json(v)?)),
        None => Ok(None),
    }
}

/// The answer to a page: the items the filter keeps, projected, and the counts and continuation.
#[allow(clippy::too_many_arguments)]
fn page_reply(
    table: &Table,
    index: Option<&IndexDef>,
    name: &str,
    page: ScanPage,
    e: &Expressions,
    select: Select,
    capacity: super::Capacity,
    consistent: bool,
) -> Reply {
    let (filter, projection) = (e.filter.as_ref(), e.projection.as_ref());
    let count_only = select == Select::Count;
    let scanned = page.items.len();
    let schema = &table.record.spec.schema;
    let last_key = page
        .more
        .then(|| {
            page.items.last().map(|last| match index {
                Some(index) => index.position(schema, last),
                None => schema.key_attributes(last),
            })
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
    // A read of an index consumes the index's capacity.
    let units = read_units(page.bytes, consistent);
    match index {
        Some(x) => {
            let used = [dynamodb::index::IndexUnits {
                name: x.name.clone(),
                local: x.local,
                units,
            }];
            add_capacity(&mut body, capacity, name, 0.0, false, &used);
        }
        None => add_capacity(&mut body, capacity, name, units, false, &[]),
    }
    Reply::Json(Value::Object(body))
}

pub fn scan(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    authorize(app, c, "dynamodb:Scan", name)?;
    let capacity = capacity_wanted(i)?;
    let consistent = i.bool("ConsistentRead")?;
    let limit = limit(i)?;
    let e = exprs::read(i, &[Kind::Filter, Kind::Projection])?;
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
    let index = index_read(i, &table, consistent)?;
    read_admits(app, &table, index.as_ref())?;
    let select = select(i, &e, "Scanning", index.as_ref())?;
    let keys = app.table_keys(c);
    let page = match &index {
        Some(x) => {
            let whole = whole_items(x, &table, select, &e);
            table.scan_index(x, whole, start.as_ref(), segment, limit, PAGE_BYTES, &keys)?
        }
        None => table.scan(start.as_ref(), segment, limit, PAGE_BYTES, &keys)?,
    };
    read_pay(app, &table, index.as_ref(), read_units(page.bytes, consistent));
    Ok(page_reply(
        &table,
        index.as_ref(),
        name,
        page,
        &e,
        select,
        capacity,
        consistent,
    ))
}

pub fn query(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    authorize(app, c, "dynamodb:Query", name)?;
    let capacity = capacity_wanted(i)?;
    let consistent = i.bool("ConsistentRead")?;
    let limit = limit(i)?;
    let forward = i.0.get("ScanIndexForward").and_then(Value::as_bool).unwrap_or(true);
    let e = exprs::read(i, &[Kind::KeyCondition, Kind::Filter, Kind::Projection])?;
    let start = start_key(i)?;
    let table = app.tables.get(c.account(), &c.region, name)?;
    let index = index_read(i, &table, consistent)?;
    read_admits(app, &table, index.as_ref())?;
    let select = select(i, &e, "Querying", index.as_ref())?;
    let schema = index.as_ref().map_or(&table.record.spec.schema, |x| &x.schema);
    let key_condition = e.key_condition.as_ref().ok_or_else(|| {
        ApiError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        )
    })?;
    let key_condition = items::key_condition(key_condition, schema)?;
    if let Some(f) = &e.filter {
        items::check_query_filter(f, schema)?;
    }
    let keys = app.table_keys(c);
    let page = match &index {
        Some(x) => {
            if let Some(start) = &start {
                x.start_key(&table.record.spec.schema, start)?;
                items::check_start_inside(&key_condition, schema, start)?;
            }
            let whole = whole_items(x, &table, select, &e);
            table.query_index(
                x,
                whole,
                &key_condition,
                forward,
                start.as_ref(),
                limit,
                PAGE_BYTES,
                &keys,
            )?
        }
        None => {
            if let Some(start) = &start {
                items::check_start_key(&key_condition, schema, start)?;
            }
            table.query(&key_condition, forward, start.as_ref(), limit, PAGE_BYTES, &keys)?
        }
    };
    read_pay(app, &table, index.as_ref(), read_units(page.bytes, consistent));
    Ok(page_reply(
        &table,
        index.as_ref(),
        name,
        page,
        &e,
        select,
        capacity,
        consistent,
    ))
}
