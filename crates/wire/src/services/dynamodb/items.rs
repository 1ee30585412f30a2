//! Single-item operations (PutItem, GetItem, UpdateItem, DeleteItem) and the batches (BatchGetItem,
//! BatchWriteItem): decode, authorize, call `dynamodb::items`, encode.

use dynamodb::attr::{item_from_json, item_size, item_to_json, Item};
use dynamodb::capacity::{read_units, write_units};
use dynamodb::expr::ast::Path;
use dynamodb::expr::eval::project;
use dynamodb::expr::Kind;
use dynamodb::items;
use dynamodb::tables::Written;
use dynamodb::DynamoError;
use serde_json::{json, Map, Value};

use super::exprs;
use super::{
    add_capacity, authorize, capacity_wanted, item_not_found, table_name, throughput_admits, throughput_pay,
    throughput_pay_write, transaction_admits, Capacity,
};
use crate::services::input::Input;
use crate::{ApiError, App, Caller, Reply};

pub fn item_member(i: &Input<'_>, name: &str) -> Result<Item, ApiError> {
    let v =
        i.0.get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| crate::services::input::missing(name))?;
    Ok(item_from_json(v)?)
}

/// `ReturnValues`: which attributes a write answers with.
#[derive(Clone, Copy, PartialEq)]
enum Returns {
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

fn returns(i: &Input<'_>, update: bool) -> Result<Returns, ApiError> {
    let r = match i.opt_str("ReturnValues")? {
        None | Some("NONE") => Returns::None,
        Some("ALL_OLD") => Returns::AllOld,
        Some("UPDATED_OLD") => Returns::UpdatedOld,
        Some("ALL_NEW") => Returns::AllNew,
        Some("UPDATED_NEW") => Returns::UpdatedNew,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
            )))
        }
    };
    if !update && !matches!(r, Returns::None | Returns::AllOld) {
        return Err(ApiError::validation("Return values set to invalid value"));
    }
    Ok(r)
}

/// `ReturnValuesOnConditionCheckFailure`: whether a failed condition answers with the item.
fn old_on_failure(i: &Input<'_>) -> Result<bool, ApiError> {
    match i.opt_str("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(other) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        ))),
    }
}

/// `ReturnItemCollectionMetrics`: whether `SIZE` was asked for. Metrics exist only for tables with local
/// secondary indexes (an item collection is what such a table keeps under one partition key).
fn collection_metrics(i: &Input<'_>) -> Result<bool, ApiError> {
    match i.opt_str("ReturnItemCollectionMetrics")? {
        None | Some("NONE") => Ok(false),
        Some("SIZE") => Ok(true),
        Some(other) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]"
        ))),
    }
}

/// ConditionalCheckFailedException carries the item only when the request asked for it.
fn condition_failed(e: DynamoError, with_item: bool) -> ApiError {
    let item = match &e {
        DynamoError::ConditionalCheckFailed(Some(item)) if with_item => Some(item_to_json(item)),
        _ => None,
    };
    let err = ApiError::from(e);
    match item {
        Some(item) => err.with_member("Item", item),
        None => err,
    }
}

/// `ItemCollectionMetrics` for a write to `table`, when asked for and the table has local indexes: the
/// item collection's key and its size estimate in GB, as a range one GB wide.
fn item_collection_metrics(
    wanted: bool,
    table: &dynamodb::tables::Table,
    w: &Written,
    keys: &dyn dynamodb::tables::KeyService,
) -> Result<Option<Value>, ApiError> {
    if !wanted || table.record.spec.local_indexes.is_empty() {
        return Ok(None);
    }
    let name = &table.record.spec.schema.partition.name;
    let Some(partition) = w.new.as_ref().or(w.old.as_ref()).and_then(|i| i.get(name)) else {
        return Ok(None);
    };
    let bytes = table.collection_bytes(partition, keys)?;
    let gb = (bytes as f64 / (1u64 << 30) as f64).floor();
    let mut key = dynamodb::attr::Item::new();
    key.insert(name.clone(), partition.clone());
    Ok(Some(json!({
        "ItemCollectionKey": item_to_json(&key),
        "SizeEstimateRangeGB": [gb, gb + 1.0],
    })))
}

/// The answer to a write: `Attributes` as `ReturnValues` asks, and `ConsumedCapacity`.
fn write_reply(
    w: &Written,
    returns: Returns,
    paths: &[&Path],
    capacity: Capacity,
    table: &dynamodb::tables::Table,
    metrics: Option<Value>,
) -> Reply {
    let index_units = if capacity == Capacity::None {
        Vec::new()
    } else {
        let spec = &table.record.spec;
        dynamodb::index::write_units(&dynamodb::index::IndexDef::all(spec), &spec.schema, w)
    };
    let owned: Vec<Path> = paths.iter().map(|p| (*p).clone()).collect();
    let attributes = match returns {
        Returns::None => None,
        Returns::AllOld => w.old.clone(),
        Returns::AllNew => w.new.clone(),
        Returns::UpdatedOld => w.old.as_ref().map(|o| project(o, &owned)),
        Returns::UpdatedNew => w.new.as_ref().map(|n| project(n, &owned)),
    };
    let mut body = Map::new();
    if let Some(a) = attributes.filter(|a| !a.is_empty()) {
        body.insert("Attributes".into(), item_to_json(&a));
    }
    add_capacity(
        &mut body,
        capacity,
        &table.record.spec.name,
        write_units(w.charged_bytes()),
        true,
        &index_units,
    );
    if let Some(m) = metrics {
        body.insert("ItemCollectionMetrics".into(), m);
    }
    Reply::Json(Value::Object(body))
}

pub async fn put_item(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    let metrics = collection_metrics(i)?;
    authorize(app, c, "dynamodb:PutItem", name)?;
    let returns = returns(i, false)?;
    let on_failure = old_on_failure(i)?;
    let capacity = capacity_wanted(i)?;
    let item = item_member(i, "Item")?;
    let e = exprs::read(i, &[Kind::Condition])?;
    let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
    throughput_admits(app, &table, true)?;
    let w = items::put_item(&table, item, e.condition.as_ref(), &app.table_keys(c))
        .await
        .map_err(|e| condition_failed(e, on_failure))?;
    throughput_pay_write(app, &table, &w, 1.0);
    let metrics = item_collection_metrics(metrics, &table, &w, &app.table_keys(c))?;
    Ok(write_reply(&w, returns, &[], capacity, &table, metrics))
}

pub async fn delete_item(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    let metrics = collection_metrics(i)?;
    authorize(app, c, "dynamodb:DeleteItem", name)?;
    let returns = returns(i, false)?;
    let on_failure = old_on_failure(i)?;
    let capacity = capacity_wanted(i)?;
    let key = item_member(i, "Key")?;
    let e = exprs::read(i, &[Kind::Condition])?;
    let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
    throughput_admits(app, &table, true)?;
    let w = items::delete_item(&table, &key, e.condition.as_ref(), &app.table_keys(c))
        .await
        .map_err(|e| condition_failed(e, on_failure))?;
    throughput_pay_write(app, &table, &w, 1.0);
    let metrics = item_collection_metrics(metrics, &table, &w, &app.table_keys(c))?;
    Ok(write_reply(&w, returns, &[], capacity, &table, metrics))
}

pub async fn update_item(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    let metrics = collection_metrics(i)?;
    authorize(app, c, "dynamodb:UpdateItem", name)?;
    let returns = returns(i, true)?;
    let on_failure = old_on_failure(i)?;
    let capacity = capacity_wanted(i)?;
    let key = item_member(i, "Key")?;
    let e = exprs::read(i, &[Kind::Update, Kind::Condition])?;
    let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
    throughput_admits(app, &table, true)?;
    let w = items::update_item(
        &table,
        &key,
        e.update.as_ref(),
        e.condition.as_ref(),
        &app.table_keys(c),
    )
    .await
    .map_err(|e| condition_failed(e, on_failure))?;
    let paths: Vec<&Path> = e.update.as_ref().map(|u| u.paths().collect()).unwrap_or_default();
    throughput_pay_write(app, &table, &w, 1.0);
    let metrics = item_collection_metrics(metrics, &table, &w, &app.table_keys(c))?;
    Ok(write_reply(&w, returns, &paths, capacity, &table, metrics))
}

pub fn get_item(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let name = table_name(c, i)?;
    authorize(app, c, "dynamodb:GetItem", name)?;
    let capacity = capacity_wanted(i)?;
    let consistent = i.bool("ConsistentRead")?;
    let key = item_member(i, "Key")?;
    let e = exprs::read(i, &[Kind::Projection])?;
    let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
    throughput_admits(app, &table, false)?;
    let mut body = Map::new();
    let found = table.get(&key, &app.table_keys(c))?;
    // Capacity counts the whole item read, whatever the projection keeps.
    let bytes = found.as_ref().map_or(0, item_size);
    throughput_pay(app, &table, false, read_units(bytes, consistent));
    if let Some(item) = found {
        let item = match &e.projection {
            Some(paths) => project(&item, paths),
            None => item,
        };
        body.insert("Item".into(), item_to_json(&item));
    }
    add_capacity(&mut body, capacity, name, read_units(bytes, consistent), false, &[]);
    Ok(Reply::Json(Value::Object(body)))
}

/// `RequestItems`: table name to its requests, in request order.
fn request_items<'a>(i: &Input<'a>) -> Result<Vec<(&'a str, &'a Value)>, ApiError> {
    match i.0.get("RequestItems") {
        None | Some(Value::Null) => Err(crate::services::input::missing("RequestItems")),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        Some(_) => Err(ApiError::serialization("Expected map or null".to_owned())),
    }
}

/// BatchWriteItem: up to 25 puts and deletes over any tables, each applied on its own (DynamoDB's batches
/// are not transactions). Where provisioned throughput is enforced, a write its table cannot admit now is
/// returned in `UnprocessedItems` as it was sent; when no write at all could be admitted, the batch fails
/// with ProvisionedThroughputExceededException, as DynamoDB's does.
pub async fn batch_write(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let tables = request_items(i)?;
    let capacity = capacity_wanted(i)?;
    collection_metrics(i)?;
    let total: usize = tables.iter().map(|(_, v)| v.as_array().map_or(0, Vec::len)).sum();
    if tables.is_empty() || total == 0 || total > 25 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        ));
    }
    enum Write {
        Put(Item),
        Delete(Item),
    }
    let mut plan = Vec::new();
    for (name, requests) in &tables {
        let requests = requests
            .as_array()
            .ok_or_else(|| ApiError::serialization("Expected list or null".to_owned()))?;
        authorize(app, c, "dynamodb:BatchWriteItem", name)?;
        let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
        let mut seen = std::collections::HashSet::new();
        let mut writes = Vec::new();
        for r in requests {
            let r = Input(r);
            let (write, key) = match (r.object("PutRequest")?, r.object("DeleteRequest")?) {
                (Some(p), None) => {
                    let item = item_member(&p, "Item")?;
                    let key = table.record.spec.schema.item_key(&item)?;
                    (Write::Put(item), key)
                }
                (None, Some(d)) => {
                    let key_item = item_member(&d, "Key")?;
                    let key = table.record.spec.schema.key_of(&key_item)?;
                    (Write::Delete(key_item), key)
                }
                _ => {
                    return Err(ApiError::validation(
                        "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest",
                    ))
                }
            };
            if !seen.insert(key) {
                return Err(ApiError::validation("Provided list of item keys contains duplicates"));
            }
            writes.push((write, r.0));
        }
        plan.push((name.to_string(), table, writes));
    }
    let mut consumed = Vec::new();
    let mut unprocessed = Map::new();
    let mut throttled = None;
    let mut wrote_any = false;
    for (name, table, writes) in plan {
        let mut units = 0.0;
        let mut left = Vec::new();
        for (w, sent) in writes {
            if let Err(e) = throughput_admits(app, &table, true) {
                left.push(sent.clone());
                throttled = Some(e);
                continue;
            }
            wrote_any = true;
            let written = match w {
                Write::Put(item) => items::put_item(&table, item, None, &app.table_keys(c)).await?,
                Write::Delete(key) => items::delete_item(&table, &key, None, &app.table_keys(c)).await?,
            };
            units += throughput_pay_write(app, &table, &written, 1.0);
        }
        if !left.is_empty() {
            unprocessed.insert(name.clone(), Value::Array(left));
        }
        consumed.push((name, units));
    }
    if let Some(e) = throttled.filter(|_| !wrote_any) {
        return Err(e);
    }
    let mut body = Map::new();
    body.insert("UnprocessedItems".into(), Value::Object(unprocessed));
    batch_capacity(&mut body, capacity, &consumed, true);
    Ok(Reply::Json(Value::Object(body)))
}

/// `ConsumedCapacity` of a batch: one entry per table.
fn batch_capacity(body: &mut Map<String, Value>, wanted: Capacity, per_table: &[(String, f64)], write: bool) {
    if wanted == Capacity::None {
        return;
    }
    let list: Vec<Value> = per_table
        .iter()
        .map(|(name, units)| {
            let mut one = Map::new();
            add_capacity(&mut one, wanted, name, *units, write, &[]);
            one.remove("ConsumedCapacity").unwrap_or(Value::Null)
        })
        .collect();
    body.insert("ConsumedCapacity".into(), Value::Array(list));
}

/// BatchGetItem: up to 100 keys over any tables. Where provisioned throughput is enforced, keys their table
/// cannot admit now come back in `UnprocessedKeys` (with the table's projection and consistency as sent);
/// when no key could be read, the batch fails with ProvisionedThroughputExceededException.
pub fn batch_get(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let tables = request_items(i)?;
    let capacity = capacity_wanted(i)?;
    let mut total = 0;
    let mut plan = Vec::new();
    for (name, spec) in &tables {
        let spec = Input(spec);
        let keys = spec.list("Keys")?;
        total += keys.len();
        if total > 100 {
            return Err(ApiError::validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let consistent = spec.bool("ConsistentRead")?;
        let e = exprs::read(&spec, &[Kind::Projection])?;
        authorize(app, c, "dynamodb:BatchGetItem", name)?;
        let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
        let mut seen = std::collections::HashSet::new();
        let mut parsed = Vec::new();
        for k in keys {
            let key = item_from_json(k.0)?;
            if !seen.insert(table.record.spec.schema.key_of(&key)?) {
                return Err(ApiError::validation("Provided list of item keys contains duplicates"));
            }
            parsed.push((key, k.0));
        }
        plan.push((name.to_string(), table, parsed, e.projection, consistent, spec.0));
    }
    if total == 0 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let mut responses = Map::new();
    let mut consumed = Vec::new();
    let mut unprocessed = Map::new();
    let mut throttled = None;
    let mut read_any = false;
    for (name, table, keys, projection, consistent, sent) in plan {
        let mut found = Vec::new();
        let mut units = 0.0;
        let mut left = Vec::new();
        for (key, sent_key) in keys {
            if let Err(e) = throughput_admits(app, &table, false) {
                left.push(sent_key.clone());
                throttled = Some(e);
                continue;
            }
            read_any = true;
            let item = table.get(&key, &app.table_keys(c))?;
            let one = read_units(item.as_ref().map_or(0, item_size), consistent);
            throughput_pay(app, &table, false, one);
            units += one;
            if let Some(item) = item {
                let item = match &projection {
                    Some(paths) => project(&item, paths),
                    None => item,
                };
                found.push(item_to_json(&item));
            }
        }
        if !left.is_empty() {
            let mut again = sent.as_object().cloned().unwrap_or_default();
            again.insert("Keys".into(), Value::Array(left));
            unprocessed.insert(name.clone(), Value::Object(again));
        }
        consumed.push((name.clone(), units));
        responses.insert(name, Value::Array(found));
    }
    if let Some(e) = throttled.filter(|_| !read_any) {
        return Err(e);
    }
    let mut body = Map::new();
    body.insert("Responses".into(), Value::Object(responses));
    body.insert("UnprocessedKeys".into(), Value::Object(unprocessed));
    batch_capacity(&mut body, capacity, &consumed, false);
    Ok(Reply::Json(Value::Object(body)))
}

/// `TransactItems`: 1 to 100 actions.
fn transact_items<'a>(i: &Input<'a>) -> Result<Vec<Input<'a>>, ApiError> {
    let list = i.list("TransactItems")?;
    if list.is_empty() || list.len() > 100 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length {}",
            if list.is_empty() { "greater than or equal to 1" } else { "less than or equal to 100" }
        )));
    }
    Ok(list)
}

/// TransactGetItems: up to 100 Gets over any tables, read as one serializable step; each answer in request
/// order (`{}` for a missing item), transactional reads costing twice a consistent read (and, with
/// provisioned throughput enforced, needing twice a read's least units to start).
pub async fn transact_get(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let capacity = capacity_wanted(i)?;
    let list = transact_items(i)?;
    let mut gets = Vec::with_capacity(list.len());
    let mut projections = Vec::with_capacity(list.len());
    let mut seen = std::collections::HashSet::new();
    for entry in &list {
        let get = entry
            .object("Get")?
            .ok_or_else(|| crate::services::input::missing("Get"))?;
        let name = get.str("TableName")?;
        authorize(app, c, "dynamodb:GetItem", name)?;
        let key = item_member(&get, "Key")?;
        let e = exprs::read(&get, &[Kind::Projection])?;
        let table = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
        if !seen.insert((name.to_owned(), table.record.spec.schema.key_of(&key)?)) {
            return Err(ApiError::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        gets.push((table, key));
        projections.push(e.projection);
    }
    transaction_admits(app, gets.iter().map(|(t, _)| t.as_ref()), false)?;
    let found = dynamodb::tables::transact_get(&gets, &app.table_keys(c)).await?;
    let mut per_table: Vec<(String, f64)> = Vec::new();
    let mut responses = Vec::with_capacity(found.len());
    for (((table, _), item), projection) in gets.iter().zip(found).zip(projections) {
        let units = 2.0 * read_units(item.as_ref().map_or(0, item_size), true);
        throughput_pay(app, table, false, units);
        match per_table.iter_mut().find(|(n, _)| *n == table.record.spec.name) {
            Some((_, u)) => *u += units,
            None => per_table.push((table.record.spec.name.clone(), units)),
        }
        responses.push(match item {
            Some(item) => {
                let item = match &projection {
                    Some(paths) => project(&item, paths),
                    None => item,
                };
                json!({ "Item": item_to_json(&item) })
            }
            None => json!({}),
        });
    }
    let mut body = Map::new();
    body.insert("Responses".into(), Value::Array(responses));
    batch_capacity(&mut body, capacity, &per_table, false);
    Ok(Reply::Json(Value::Object(body)))
}

/// TransactWriteItems: up to 100 Put, Update, Delete and ConditionCheck actions applied all or none, with a
/// cancellation reason per action when any condition fails. Actions on one table are one atomic batch of
/// its storage engine; a transaction over several tables is refused until the cross-table transaction log
/// exists (issue 7).
pub async fn transact_write(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    use dynamodb::tables::{TxAction, TxOp};
    let capacity = capacity_wanted(i)?;
    collection_metrics(i)?;
    let list = transact_items(i)?;
    let mut actions = Vec::with_capacity(list.len());
    let mut seen = std::collections::HashSet::new();
    let mut tables: std::collections::BTreeMap<String, std::sync::Arc<dynamodb::tables::Table>> = Default::default();
    for entry in &list {
        let kinds = ["Put", "Update", "Delete", "ConditionCheck"];
        let present: Vec<(&str, Input<'_>)> = kinds
            .iter()
            .filter_map(|k| entry.object(k).ok().flatten().map(|o| (*k, o)))
            .collect();
        let [(kind, a)] = present.as_slice() else {
            return Err(ApiError::validation(
                "TransactItems can only contain one of Check, Put, Update or Delete",
            ));
        };
        let name = a.str("TableName")?;
        let action = match *kind {
            "Put" => "dynamodb:PutItem",
            "Update" => "dynamodb:UpdateItem",
            "Delete" => "dynamodb:DeleteItem",
            _ => "dynamodb:ConditionCheckItem",
        };
        authorize(app, c, action, name)?;
        let t = match tables.get(name) {
            Some(t) => std::sync::Arc::clone(t),
            None => {
                let t = app.tables.get(c.account(), &c.region, name).map_err(item_not_found)?;
                tables.insert(name.to_owned(), t.clone());
                t
            }
        };
        let schema = &t.record.spec.schema;
        let e = match *kind {
            "Update" => exprs::read(a, &[Kind::Update, Kind::Condition])?,
            _ => exprs::read(a, &[Kind::Condition])?,
        };
        if *kind == "ConditionCheck" && e.condition.is_none() {
            return Err(crate::services::input::missing("ConditionExpression"));
        }
        let (key, op) = match *kind {
            "Put" => {
                let item = item_member(a, "Item")?;
                schema.item_key(&item)?;
                (schema.key_attributes(&item), TxOp::Put(item))
            }
            "Update" => {
                if let Some(u) = &e.update {
                    items::check_update_keys(u, schema)?;
                }
                (item_member(a, "Key")?, TxOp::Update(e.update.clone()))
            }
            "Delete" => (item_member(a, "Key")?, TxOp::Delete),
            _ => (item_member(a, "Key")?, TxOp::ConditionCheck),
        };
        if !seen.insert((name, schema.key_of(&key)?)) {
            return Err(ApiError::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        let action = TxAction {
            key,
            op,
            condition: e.condition,
            old_on_failure: old_on_failure(a)?,
        };
        actions.push((t, action));
    }
    if actions.is_empty() {
        return Err(crate::services::input::missing("TransactItems"));
    }
    transaction_admits(app, actions.iter().map(|(t, _)| t.as_ref()), true)?;
    if let Some(token) = i.opt_str("ClientRequestToken")? {
        if !remember_token(app, c, token, i)? {
            // The same request again within ten minutes: it was applied once; it succeeds again unapplied.
            let mut body = Map::new();
            let none: Vec<(String, f64)> = tables.keys().map(|n| (n.clone(), 0.0)).collect();
            batch_capacity(&mut body, capacity, &none, true);
            return Ok(Reply::Json(Value::Object(body)));
        }
    }
    let written = app.tables.transact_write(&actions, &app.table_keys(c)).await;
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            // A transaction that did not happen does not hold its token.
            if let Some(token) = i.opt_str("ClientRequestToken")? {
                forget_token(app, c, token);
            }
            return Err(e.into());
        }
    };
    let mut units: std::collections::BTreeMap<String, f64> = Default::default();
    for ((t, _), w) in actions.iter().zip(&written) {
        *units.entry(t.record.spec.name.clone()).or_default() += throughput_pay_write(app, t, w, 2.0);
    }
    let per_table: Vec<(String, f64)> = units.into_iter().collect();
    let mut body = Map::new();
    batch_capacity(&mut body, capacity, &per_table, true);
    Ok(Reply::Json(Value::Object(body)))
}

/// ClientRequestTokens are remembered for ten minutes.
const TOKEN_LIFETIME_MS: i64 = 600_000;

/// Records a TransactWriteItems token; false if the same request already used it (so it must not be
/// applied again). The same token with other actions is IdempotentParameterMismatchException.
fn remember_token(app: &App, c: &Caller, token: &str, i: &Input<'_>) -> Result<bool, ApiError> {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        i.0.get("TransactItems")
            .map(Value::to_string)
            .unwrap_or_default()
            .as_bytes(),
    )
    .as_ref()
    .to_vec();
    let now = app.clock.now_millis();
    let mut tokens = app.transaction_tokens.lock().unwrap_or_else(|p| p.into_inner());
    tokens.retain(|_, (_, at)| now - *at < TOKEN_LIFETIME_MS);
    let slot = (c.account().to_owned(), token.to_owned());
    match tokens.get(&slot) {
        Some((seen, _)) if *seen == digest => Ok(false),
        Some(_) => Err(ApiError::modeled(
            "IdempotentParameterMismatchException",
            400,
            "Request parameters do not match the original request that used this ClientRequestToken",
        )),
        None => {
            tokens.insert(slot, (digest, now));
            Ok(true)
        }
    }
}

fn forget_token(app: &App, c: &Caller, token: &str) {
    let mut tokens = app.transaction_tokens.lock().unwrap_or_else(|p| p.into_inner());
    tokens.remove(&(c.account().to_owned(), token.to_owned()));
}
