//! DynamoDB operations. This module holds the control plane (tables, tags, limits) and the dispatch;
//! `items` the item operations and batches, `reads` Query and Scan, `exprs` the reading of a request's
//! expressions. Every table is kept encrypted under a table key from `App::table_keys`.

use dynamodb::table::{
    AttributeDefinition, CreateTableInput, IndexInput, KeySchemaElement, Projection, ProjectionInput, TableSpec,
    Throughput,
};
use dynamodb::tables::{KeyChoice, TableRecord};
use dynamodb::DynamoError;
use serde_json::{json, Map, Value};

mod backups;
mod exprs;
mod items;
mod reads;
mod streams;

pub use streams::dispatch as dispatch_streams;

use crate::services::input::{epoch, Input};
use crate::{unknown_operation, Api, ApiError, App, Caller, Reply};

/// Authorizes `action` on a table of the caller's account and region.
pub(super) fn authorize(app: &App, c: &Caller, action: &str, table: &str) -> Result<(), ApiError> {
    let arn = format!("arn:aws:dynamodb:{}:{}:table/{table}", c.region, c.account());
    app.iam.authorize(&c.entry, action, &arn, &Default::default())?;
    Ok(())
}

/// `TableName` may be a name or a table ARN of the caller's account and region.
pub(super) fn table_name<'a>(c: &Caller, i: &Input<'a>) -> Result<&'a str, ApiError> {
    let name = i.str("TableName")?;
    match name.strip_prefix("arn:aws:dynamodb:") {
        Some(rest) => {
            let prefix = format!("{}:{}:table/", c.region, c.account());
            rest.strip_prefix(prefix.as_str())
                .ok_or_else(|| ApiError::validation(format!("Invalid TableArn: {name}")))
        }
        None => Ok(name),
    }
}

fn key_schema(list: Vec<Input<'_>>) -> Result<Vec<KeySchemaElement>, ApiError> {
    list.iter()
        .map(|k| {
            Ok(KeySchemaElement {
                attribute_name: k.str("AttributeName")?.to_owned(),
                key_type: k.str("KeyType")?.to_owned(),
            })
        })
        .collect()
}

fn throughput(i: Option<Input<'_>>) -> Result<Option<Throughput>, ApiError> {
    i.map(|t| {
        Ok(Throughput {
            read: t.opt_i64("ReadCapacityUnits")?,
            write: t.opt_i64("WriteCapacityUnits")?,
        })
    })
    .transpose()
}

fn indexes(i: &Input<'_>, name: &str) -> Result<Option<Vec<IndexInput>>, ApiError> {
    if i.0.get(name).is_none_or(Value::is_null) {
        return Ok(None);
    }
    i.list(name)?
        .iter()
        .map(index_input)
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

fn index_input(x: &Input<'_>) -> Result<IndexInput, ApiError> {
    let p = x.object("Projection")?;
    Ok(IndexInput {
        index_name: x.str("IndexName")?.to_owned(),
        key_schema: key_schema(x.list("KeySchema")?)?,
        projection: ProjectionInput {
            projection_type: p
                .as_ref()
                .map(|p| p.opt_str("ProjectionType"))
                .transpose()?
                .flatten()
                .map(str::to_owned),
            non_key_attributes: match p.as_ref() {
                Some(p) if p.0.get("NonKeyAttributes").is_some_and(|v| !v.is_null()) => {
                    Some(p.str_list("NonKeyAttributes")?)
                }
                _ => None,
            },
        },
        provisioned_throughput: throughput(x.object("ProvisionedThroughput")?)?,
    })
}

fn attribute_definitions(i: &Input<'_>) -> Result<Vec<AttributeDefinition>, ApiError> {
    i.list("AttributeDefinitions")?
        .iter()
        .map(|d| {
            Ok(AttributeDefinition {
                attribute_name: d.str("AttributeName")?.to_owned(),
                attribute_type: d.str("AttributeType")?.to_owned(),
            })
        })
        .collect()
}

fn create_input(name: &str, i: &Input<'_>) -> Result<CreateTableInput, ApiError> {
    Ok(CreateTableInput {
        table_name: name.to_owned(),
        attribute_definitions: attribute_definitions(i)?,
        key_schema: key_schema(i.list("KeySchema")?)?,
        billing_mode: i.opt_str("BillingMode")?.map(str::to_owned),
        provisioned_throughput: throughput(i.object("ProvisionedThroughput")?)?,
        local_secondary_indexes: indexes(i, "LocalSecondaryIndexes")?,
        global_secondary_indexes: indexes(i, "GlobalSecondaryIndexes")?,
        deletion_protection_enabled: i.0.get("DeletionProtectionEnabled").and_then(Value::as_bool),
        table_class: i.opt_str("TableClass")?.map(str::to_owned),
    })
}

fn schema_json(s: &dynamodb::key::KeySchema) -> Value {
    let mut out = vec![json!({"AttributeName": s.partition.name, "KeyType": "HASH"})];
    if let Some(sort) = &s.sort {
        out.push(json!({"AttributeName": sort.name, "KeyType": "RANGE"}));
    }
    Value::Array(out)
}

fn projection_json(p: &Projection) -> Value {
    match p {
        Projection::All => json!({"ProjectionType": "ALL"}),
        Projection::KeysOnly => json!({"ProjectionType": "KEYS_ONLY"}),
        Projection::Include(attrs) => json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": attrs}),
    }
}

/// A table's item counts and sizes, and its indexes' (DescribeTable's ItemCount, TableSizeBytes,
/// IndexSizeBytes).
#[derive(Default)]
struct Sizes {
    table: (u64, u64),
    indexes: std::collections::BTreeMap<String, (u64, u64)>,
}

impl Sizes {
    fn of(table: &dynamodb::tables::Table) -> Sizes {
        let spec = &table.record.spec;
        Sizes {
            table: table.usage(),
            indexes: spec
                .local_indexes
                .iter()
                .chain(&spec.global_indexes)
                .map(|i| (i.name.clone(), table.index_usage(&i.name)))
                .collect(),
        }
    }

    fn index(&self, name: &str) -> (u64, u64) {
        self.indexes.get(name).copied().unwrap_or_default()
    }
}

/// TableDescription, as DynamoDB fills it.
fn description(r: &TableRecord, status: &str, sizes: &Sizes) -> Value {
    described(r, status, sizes, None)
}

/// TableDescription, with the time since which the table's KMS key has been refused, if it has.
fn described(r: &TableRecord, status: &str, sizes: &Sizes, inaccessible_since: Option<i64>) -> Value {
    let usage = sizes.table;
    // A table being restored is CREATING until its items are in; an archived one is ARCHIVED.
    let status = if r.restore.as_ref().is_some_and(|x| x.in_progress) {
        "CREATING"
    } else if r.archived.is_some() {
        "ARCHIVED"
    } else {
        status
    };
    let spec: &TableSpec = &r.spec;
    let arn = r.arn();
    let (read, write) = match spec.billing {
        dynamodb::table::Billing::PayPerRequest => (0, 0),
        dynamodb::table::Billing::Provisioned { read, write } => (read, write),
    };
    let mut d = Map::new();
    d.insert(
        "AttributeDefinitions".into(),
        json!(spec
            .attributes
            .iter()
            .map(|(n, t)| json!({"AttributeName": n, "AttributeType": t.as_str()}))
            .collect::<Vec<_>>()),
    );
    d.insert("TableName".into(), json!(spec.name));
    d.insert("KeySchema".into(), schema_json(&spec.schema));
    let inaccessible = if status == "ACTIVE" { inaccessible_since } else { None };
    d.insert(
        "TableStatus".into(),
        json!(if inaccessible.is_some() {
            "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
        } else {
            status
        }),
    );
    d.insert("CreationDateTime".into(), epoch(r.created_ms));
    d.insert(
        "ProvisionedThroughput".into(),
        json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": read, "WriteCapacityUnits": write}),
    );
    d.insert("TableSizeBytes".into(), json!(usage.1));
    d.insert("ItemCount".into(), json!(usage.0));
    d.insert("TableArn".into(), json!(arn));
    // The owned key shows no SSEDescription; a key of the customer's account does.
    if let Some(sse) = &r.sse {
        let mut sse_d = json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": sse.key_arn});
        if let Some(ms) = inaccessible {
            sse_d["InaccessibleEncryptionDateTime"] = epoch(ms);
        }
        d.insert("SSEDescription".into(), sse_d);
    }
    d.insert("TableId".into(), json!(r.table_id));
    if matches!(spec.billing, dynamodb::table::Billing::PayPerRequest) {
        d.insert(
            "BillingModeSummary".into(),
            json!({"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": epoch(r.created_ms)}),
        );
    }
    if !spec.local_indexes.is_empty() {
        d.insert(
            "LocalSecondaryIndexes".into(),
            json!(spec
                .local_indexes
                .iter()
                .map(|i| {
                    let (items, bytes) = sizes.index(&i.name);
                    json!({
                        "IndexName": i.name, "KeySchema": schema_json(&i.schema), "Projection": projection_json(&i.projection),
                        "IndexSizeBytes": bytes, "ItemCount": items, "IndexArn": r.index_arn(&i.name),
                    })
                })
                .collect::<Vec<_>>()),
        );
    }
    if !spec.global_indexes.is_empty() {
        d.insert(
            "GlobalSecondaryIndexes".into(),
            json!(spec
                .global_indexes
                .iter()
                .map(|i| {
                    let (read, write) = i.throughput.unwrap_or((0, 0));
                    let (items, bytes) = sizes.index(&i.name);
                    let mut g = json!({
                        "IndexName": i.name, "KeySchema": schema_json(&i.schema), "Projection": projection_json(&i.projection),
                        "IndexStatus": if i.backfilling { "CREATING" } else { status_of_index(status) },
                        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": read, "WriteCapacityUnits": write},
                        "IndexSizeBytes": bytes, "ItemCount": items, "IndexArn": r.index_arn(&i.name),
                    });
                    if i.backfilling {
                        g["Backfilling"] = json!(true);
                    }
                    g
                })
                .collect::<Vec<_>>()),
        );
    }
    streams::describe_into(r, &mut d);
    if let Some(a) = &r.archived {
        d.insert(
            "ArchivalSummary".into(),
            json!({
                "ArchivalDateTime": epoch(a.at_ms),
                "ArchivalReason": "INACCESSIBLE_ENCRYPTION_CREDENTIALS",
                "ArchivalBackupArn": a.backup_arn,
            }),
        );
    }
    if let Some(x) = &r.restore {
        let mut summary = json!({
            "SourceTableArn": x.source_table_arn,
            "RestoreDateTime": epoch(x.restore_ms),
            "RestoreInProgress": x.in_progress,
        });
        if let Some(b) = &x.source_backup_arn {
            summary["SourceBackupArn"] = json!(b);
        }
        d.insert("RestoreSummary".into(), summary);
    }
    d.insert("TableClassSummary".into(), json!({"TableClass": spec.table_class}));
    d.insert("DeletionProtectionEnabled".into(), json!(spec.deletion_protection));
    Value::Object(d)
}

fn status_of_index(table_status: &str) -> &str {
    match table_status {
        "CREATING" => "CREATING",
        "DELETING" => "DELETING",
        _ => "ACTIVE",
    }
}

/// `SSESpecification`: which KMS key the table's hierarchy is rooted in, with DynamoDB's rules and texts.
fn sse_choice(i: &Input<'_>) -> Result<KeyChoice, ApiError> {
    Ok(sse_choice_in(i, "SSESpecification")?.unwrap_or(KeyChoice::Owned))
}

/// The key a `member` shaped like SSESpecification chooses, if it is there.
pub(super) fn sse_choice_in(i: &Input<'_>, member: &str) -> Result<Option<KeyChoice>, ApiError> {
    let Some(sse) = i.object(member)? else {
        return Ok(None);
    };
    sse_choice_of(&sse).map(Some)
}

fn sse_choice_of(sse: &Input<'_>) -> Result<KeyChoice, ApiError> {
    let invalid = |m: &str| ApiError::validation(format!("One or more parameter values were invalid: {m}"));
    let sse_type = sse.opt_str("SSEType")?;
    let key_id = sse.opt_str("KMSMasterKeyId")?;
    if !sse.bool("Enabled")? {
        if sse_type.is_some() {
            return Err(invalid("SSEType can not be specified if Enabled is false"));
        }
        if key_id.is_some() {
            return Err(invalid("KMSMasterKeyId can not be specified if Enabled is false"));
        }
        return Ok(KeyChoice::Owned);
    }
    match (sse_type, key_id) {
        (Some("AES256"), _) => Err(invalid("SSEType AES256 is not supported")),
        (Some(other), _) if other != "KMS" => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'sSESpecification.sSEType' failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS]"
        ))),
        (None, Some(_)) => Err(invalid("SSEType KMS is required if KMSMasterKeyId is specified")),
        (_, None) => Ok(KeyChoice::Managed),
        (_, Some(id)) if id == kms::DYNAMODB_MANAGED_ALIAS || id.ends_with(&format!(":{}", kms::DYNAMODB_MANAGED_ALIAS)) => {
            Ok(KeyChoice::Managed)
        }
        (_, Some(id)) => Ok(KeyChoice::Customer(id.to_owned())),
    }
}

/// `ReturnConsumedCapacity`: which shape of `ConsumedCapacity` to answer with, if any.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Capacity {
    None,
    Total,
    Indexes,
}

/// Whether a read (or write) of `table` may start, when the server enforces provisioned throughput.
/// A write must also fit every global index's write capacity.
pub(super) fn throughput_admits(app: &App, table: &dynamodb::tables::Table, write: bool) -> Result<(), ApiError> {
    if app.limits.enforce_provisioned_throughput {
        table.throughput_admits(write)?;
        if write {
            table.index_writes_admitted()?;
        }
    }
    Ok(())
}

/// Whether a Query or Scan may start: a global index's own read capacity, else the table's (a local
/// index shares the table's).
pub(super) fn read_admits(
    app: &App,
    table: &dynamodb::tables::Table,
    index: Option<&dynamodb::index::IndexDef>,
) -> Result<(), ApiError> {
    match index.filter(|x| !x.local) {
        Some(x) if app.limits.enforce_provisioned_throughput => Ok(table.index_read_admitted(&x.name)?),
        Some(_) => Ok(()),
        None => throughput_admits(app, table, false),
    }
}

/// Pays what a Query or Scan read, to the global index it read or else to the table.
pub(super) fn read_pay(
    app: &App,
    table: &dynamodb::tables::Table,
    index: Option<&dynamodb::index::IndexDef>,
    units: f64,
) {
    match index.filter(|x| !x.local) {
        Some(x) if app.limits.enforce_provisioned_throughput => table.index_throughput_pay(&x.name, false, units),
        Some(_) => {}
        None => throughput_pay(app, table, false, units),
    }
}

/// Pays a write's capacity, `factor` times (two for a transaction): the table's, and each global
/// index's for the entries the write changed in it. Returns the table's units.
pub(super) fn throughput_pay_write(
    app: &App,
    table: &dynamodb::tables::Table,
    w: &dynamodb::tables::Written,
    factor: f64,
) -> f64 {
    let units = factor * dynamodb::capacity::write_units(w.charged_bytes());
    if !app.limits.enforce_provisioned_throughput {
        return units;
    }
    table.throughput_pay(true, units);
    let spec = &table.record.spec;
    if !spec.global_indexes.is_empty() {
        // The definitions the write maintained, kept by the table, not built again per write.
        for u in dynamodb::index::write_units(&table.index_defs(), &spec.schema, w) {
            if !u.local {
                table.index_throughput_pay(&u.name, true, factor * u.units);
            }
        }
    }
    units
}

/// Whether every action of a transaction may start, when the server enforces provisioned throughput: a
/// transactional action needs twice the units of a plain one. If not, the transaction is cancelled with
/// `ProvisionedThroughputExceeded` for each action whose table is throttled and `None` for the others.
pub(super) fn transaction_admits<'t>(
    app: &App,
    tables: impl Iterator<Item = &'t dynamodb::tables::Table>,
    write: bool,
) -> Result<(), ApiError> {
    if !app.limits.enforce_provisioned_throughput {
        return Ok(());
    }
    let least = if write { 2.0 } else { 1.0 };
    let reasons: Vec<dynamodb::CancellationReason> = tables
        .map(|t| {
            let admitted = t.throughput_admits_least(write, least) && (!write || t.index_writes_admitted().is_ok());
            dynamodb::CancellationReason {
                code: if admitted {
                    "None"
                } else {
                    "ProvisionedThroughputExceeded"
                }
                .into(),
                message: (!admitted).then(|| dynamodb::tables::THROUGHPUT_EXCEEDED.to_owned()),
                item: None,
            }
        })
        .collect();
    if reasons.iter().all(|r| r.code == "None") {
        Ok(())
    } else {
        Err(dynamodb::DynamoError::TransactionCanceled(reasons).into())
    }
}

/// Pays what a request consumed of `table`'s provisioned throughput, when the server enforces it.
pub(super) fn throughput_pay(app: &App, table: &dynamodb::tables::Table, write: bool, units: f64) {
    if app.limits.enforce_provisioned_throughput {
        table.throughput_pay(write, units);
    }
}

pub(super) fn capacity_wanted(i: &Input<'_>) -> Result<Capacity, ApiError> {
    match i.opt_str("ReturnConsumedCapacity")? {
        None | Some("NONE") => Ok(Capacity::None),
        Some("TOTAL") => Ok(Capacity::Total),
        Some("INDEXES") => Ok(Capacity::Indexes),
        Some(other) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
        ))),
    }
}

/// Adds `ConsumedCapacity` to an answer when asked for: `units` of reads or writes on `table` itself and
/// what its indexes consumed (shown apart with `INDEXES`, in the total either way).
pub(super) fn add_capacity(
    body: &mut Map<String, Value>,
    wanted: Capacity,
    table: &str,
    units: f64,
    write: bool,
    indexes: &[dynamodb::index::IndexUnits],
) {
    if wanted == Capacity::None {
        return;
    }
    let kind = if write {
        "WriteCapacityUnits"
    } else {
        "ReadCapacityUnits"
    };
    let total = units + indexes.iter().map(|i| i.units).sum::<f64>();
    let mut c = Map::new();
    c.insert("TableName".into(), json!(table));
    c.insert("CapacityUnits".into(), json!(total));
    c.insert(kind.into(), json!(total));
    if wanted == Capacity::Indexes {
        c.insert("Table".into(), json!({ "CapacityUnits": units, kind: units }));
        for (local, member) in [(true, "LocalSecondaryIndexes"), (false, "GlobalSecondaryIndexes")] {
            let group: Map<String, Value> = indexes
                .iter()
                .filter(|i| i.local == local)
                .map(|i| (i.name.clone(), json!({ "CapacityUnits": i.units, kind: i.units })))
                .collect();
            if !group.is_empty() {
                c.insert(member.into(), Value::Object(group));
            }
        }
    }
    body.insert("ConsumedCapacity".into(), Value::Object(c));
}

pub async fn dispatch(app: &App, caller: &Caller, op: &str, input: &Value) -> Result<Reply, ApiError> {
    let account = caller.account();
    let region = caller.region.as_str();
    let i = Input(input);
    match op {
        "ListTables" => {
            let resource = format!("arn:aws:dynamodb:{region}:{account}:table/*");
            app.iam
                .authorize(&caller.entry, "dynamodb:ListTables", &resource, &Default::default())?;
            let out = dynamodb::list_tables(
                app.tables.names(account, region),
                &dynamodb::ListTablesInput {
                    exclusive_start_table_name: i.opt_str("ExclusiveStartTableName")?.map(str::to_owned),
                    limit: i.opt_i64("Limit")?,
                },
            )?;
            let mut body = Map::new();
            body.insert("TableNames".into(), json!(out.table_names));
            if let Some(last) = out.last_evaluated_table_name {
                body.insert("LastEvaluatedTableName".into(), json!(last));
            }
            Ok(Reply::Json(Value::Object(body)))
        }
        "CreateTable" => {
            let name = table_name(caller, &i)?;
            authorize(app, caller, "dynamodb:CreateTable", name)?;
            let spec = TableSpec::from_create(&create_input(name, &i)?)?;
            let choice = sse_choice(&i)?;
            let tags = tag_list(&i)?;
            let stream = streams::specification(&i)?.flatten();
            let table = app.tables.create(
                account,
                region,
                spec,
                base::random::uuid_v4().map_err(|_| ApiError::new(crate::error::ErrorKind::Internal, ""))?,
                app.clock.now_millis(),
                &choice,
                &app.table_keys(caller),
            )?;
            if !tags.is_empty() {
                app.tables.update(account, region, &table.record.spec.name, |r| {
                    r.tags.extend(tags);
                    Ok(())
                })?;
            }
            if let Some(view) = stream {
                streams::apply(app, caller, &table.record.spec.name, Some(view)).await?;
            }
            let table = app.tables.get(account, region, &table.record.spec.name)?;
            // Creation is immediate here; the answer still says CREATING, as DynamoDB's does.
            Ok(Reply::Json(
                json!({ "TableDescription": description(&table.record, "CREATING", &Sizes::default()) }),
            ))
        }
        "DescribeTable" => {
            let name = table_name(caller, &i)?;
            authorize(app, caller, "dynamodb:DescribeTable", name)?;
            let table = app.tables.get(account, region, name)?;
            Ok(Reply::Json(json!({
                "Table": described(&table.record, "ACTIVE", &Sizes::of(&table), table.inaccessible_since_ms())
            })))
        }
        "DeleteTable" => {
            let name = table_name(caller, &i)?;
            authorize(app, caller, "dynamodb:DeleteTable", name)?;
            let record = app.tables.delete(account, region, name, &app.table_keys(caller))?;
            Ok(Reply::Json(
                json!({ "TableDescription": description(&record, "DELETING", &Sizes::default()) }),
            ))
        }
        "UpdateTable" => {
            let name = table_name(caller, &i)?;
            authorize(app, caller, "dynamodb:UpdateTable", name)?;
            if i.0.get("GlobalSecondaryIndexUpdates").is_some_and(|v| !v.is_null()) {
                update_global_indexes(app, caller, name, &i).await?;
            }
            if let Some(change) = streams::specification(&i)? {
                if i.object("SSESpecification")?.is_some() {
                    return Err(ApiError::validation(
                        "One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request",
                    ));
                }
                streams::apply(app, caller, name, change).await?;
            }
            update_table(app, caller, name, &i)
        }
        "TagResource" | "UntagResource" | "ListTagsOfResource" => tags(app, caller, op, &i),
        "CreateBackup"
        | "DescribeBackup"
        | "ListBackups"
        | "DeleteBackup"
        | "RestoreTableFromBackup"
        | "UpdateContinuousBackups"
        | "DescribeContinuousBackups"
        | "RestoreTableToPointInTime" => backups::dispatch(app, caller, op, &i).await,
        "UpdateTimeToLive" => {
            let name = table_name(caller, &i)?;
            authorize(app, caller, "dynamodb:UpdateTimeToLive", name)?;
            let spec = i
                .object("TimeToLiveSpecification")?
                .ok_or_else(|| crate::services::input::missing("TimeToLiveSpecification"))?;
            let enabled = match spec.0.get("Enabled") {
                Some(Value::Bool(b)) => *b,
                _ => return Err(crate::services::input::missing("Enabled")),
            };
            let attribute = spec.str("AttributeName")?;
            if attribute.is_empty() || attribute.len() > 255 {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{attribute}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length between 1 and 255"
                )));
            }
            let set = app.tables.update_ttl(account, region, name, enabled, attribute)?;
            Ok(Reply::Json(json!({
                "TimeToLiveSpecification": {"Enabled": set.enabled, "AttributeName": set.attribute}
            })))
        }
        "DescribeTimeToLive" => {
            let name = table_name(caller, &i)?;
            authorize(app, caller, "dynamodb:DescribeTimeToLive", name)?;
            let table = app.tables.get(account, region, name)?;
            let d = match &table.record.ttl {
                Some(t) if t.enabled => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": t.attribute}),
                _ => json!({"TimeToLiveStatus": "DISABLED"}),
            };
            Ok(Reply::Json(json!({ "TimeToLiveDescription": d })))
        }
        "PutItem" => items::put_item(app, caller, &i).await,
        "GetItem" => items::get_item(app, caller, &i),
        "UpdateItem" => items::update_item(app, caller, &i).await,
        "DeleteItem" => items::delete_item(app, caller, &i).await,
        "Scan" => reads::scan(app, caller, &i),
        "Query" => reads::query(app, caller, &i),
        "BatchWriteItem" => items::batch_write(app, caller, &i).await,
        "BatchGetItem" => items::batch_get(app, caller, &i),
        "TransactGetItems" => items::transact_get(app, caller, &i).await,
        "TransactWriteItems" => items::transact_write(app, caller, &i).await,
        // AWS answers with its regional endpoint; this server's endpoint is the one the client reached, and
        // an SDK that discovers endpoints must be sent back here, never on to AWS.
        "DescribeEndpoints" => Ok(Reply::Json(json!({
            "Endpoints": [{ "Address": caller.host, "CachePeriodInMinutes": 1440 }]
        }))),
        "DescribeLimits" => {
            let resource = format!("arn:aws:dynamodb:{region}:{account}:*");
            app.iam
                .authorize(&caller.entry, "dynamodb:DescribeLimits", &resource, &Default::default())?;
            Ok(Reply::Json(json!({
                "AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000,
            })))
        }
        _ => Err(unknown_operation(Api::DynamoDb, op)),
    }
}

/// Members whose features arrive with later issues are refused, not ignored.
fn unsupported_member(i: &Input<'_>, name: &str) -> Result<(), ApiError> {
    if i.0.get(name).is_some_and(|v| !v.is_null()) {
        return Err(ApiError::validation(format!(
            "{name} is not supported by this server yet"
        )));
    }
    Ok(())
}

/// Item operations on a missing table say only this.
pub(super) fn item_not_found(e: DynamoError) -> DynamoError {
    match e {
        DynamoError::ResourceNotFound(_) => DynamoError::ResourceNotFound("Requested resource not found".into()),
        other => other,
    }
}

/// `Tags` as `[{Key, Value}]`, at most 50.
fn tag_list(i: &Input<'_>) -> Result<Vec<(String, String)>, ApiError> {
    let tags = i
        .list("Tags")?
        .iter()
        .map(|t| {
            Ok((
                t.str("Key")?.to_owned(),
                t.opt_str("Value")?.unwrap_or_default().to_owned(),
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    if tags.len() > 50 {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Too many tags attached to resource; the maximum is 50",
        ));
    }
    Ok(tags)
}

/// UpdateTable with an SSESpecification: an online switch of the table's KMS key. The answer shows the
/// switch under way (`UPDATING`, with the key being left); DescribeTable then shows the new key.
fn switch_key(app: &App, c: &Caller, name: &str, choice: &KeyChoice) -> Result<Reply, ApiError> {
    let (before, after) = app
        .tables
        .switch_key(c.account(), &c.region, name, choice, &app.table_keys(c))?;
    let sizes = Sizes::of(&*app.tables.get(c.account(), &c.region, name)?);
    let mut d = description(&after, "UPDATING", &sizes);
    if let Some(obj) = d.as_object_mut() {
        let arn = before.sse.as_ref().or(after.sse.as_ref()).map(|s| s.key_arn.clone());
        obj.insert(
            "SSEDescription".into(),
            json!({"Status": "UPDATING", "SSEType": "KMS", "KMSMasterKeyArn": arn}),
        );
    }
    Ok(Reply::Json(json!({ "TableDescription": d })))
}

/// UpdateTable's `GlobalSecondaryIndexUpdates`: one index created (then backfilled in the background) or
/// deleted per request, and throughput changes of existing ones.
async fn update_global_indexes(app: &App, c: &Caller, name: &str, i: &Input<'_>) -> Result<(), ApiError> {
    if i.object("SSESpecification")?.is_some() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request",
        ));
    }
    let updates = i.list("GlobalSecondaryIndexUpdates")?;
    let online = updates
        .iter()
        .filter(|u| u.0.get("Create").is_some() || u.0.get("Delete").is_some())
        .count();
    if online > 1 {
        return Err(DynamoError::LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table".into(),
        )
        .into());
    }
    let definitions = match i.0.get("AttributeDefinitions") {
        Some(v) if !v.is_null() => attribute_definitions(i)?,
        _ => Vec::new(),
    };
    let keys = app.table_keys(c);
    for u in &updates {
        if let Some(create) = u.object("Create")? {
            let input = index_input(&create)?;
            app.tables
                .add_global_index(c.account(), &c.region, name, &definitions, &input, &keys)?;
        } else if let Some(delete) = u.object("Delete")? {
            let index = delete.str("IndexName")?.to_owned();
            app.tables
                .remove_global_index(c.account(), &c.region, name, &index, &keys)
                .await?;
        } else if let Some(update) = u.object("Update")? {
            let index = update.str("IndexName")?.to_owned();
            let t = throughput(update.object("ProvisionedThroughput")?)?;
            app.tables.update(c.account(), &c.region, name, |r| {
                let provisioned = matches!(r.spec.billing, dynamodb::table::Billing::Provisioned { .. });
                let g = r
                    .spec
                    .global_indexes
                    .iter_mut()
                    .find(|g| g.name == index)
                    .ok_or_else(|| DynamoError::ResourceNotFound(format!("Requested resource not found: Index: {index} not found")))?;
                match t {
                    Some(dynamodb::table::Throughput {
                        read: Some(read),
                        write: Some(write),
                    }) if provisioned => {
                        g.throughput = Some((read, write));
                        Ok(())
                    }
                    _ => Err(DynamoError::Validation(format!(
                        "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {index}"
                    ))),
                }
            })?;
        }
    }
    Ok(())
}

/// UpdateTable: billing mode and throughput, deletion protection, table class (after any index updates).
fn update_table(app: &App, c: &Caller, name: &str, i: &Input<'_>) -> Result<Reply, ApiError> {
    use dynamodb::table::Billing;
    unsupported_member(i, "ReplicaUpdates")?;
    let indexes_updated = ["GlobalSecondaryIndexUpdates", "StreamSpecification"]
        .iter()
        .any(|m| i.0.get(*m).is_some_and(|v| !v.is_null()));
    let mode = i.opt_str("BillingMode")?.map(str::to_owned);
    let throughput = throughput(i.object("ProvisionedThroughput")?)?;
    let protection = i.0.get("DeletionProtectionEnabled").and_then(Value::as_bool);
    let class = i.opt_str("TableClass")?.map(str::to_owned);
    if i.object("SSESpecification")?.is_some() {
        if mode.is_some() || throughput.is_some() || protection.is_some() || class.is_some() {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request",
            ));
        }
        return switch_key(app, c, name, &sse_choice(i)?);
    }
    if mode.is_none() && throughput.is_none() && protection.is_none() && class.is_none() {
        if indexes_updated {
            let table = app.tables.get(c.account(), &c.region, name)?;
            return Ok(Reply::Json(
                json!({ "TableDescription": description(&table.record, "UPDATING", &Sizes::of(&table)) }),
            ));
        }
        return Err(ApiError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    let mut billing_changed = false;
    let record = app.tables.update(c.account(), &c.region, name, |r| {
        let current = r.spec.billing;
        let next = match (mode.as_deref(), throughput) {
            (Some("PAY_PER_REQUEST"), Some(_)) => {
                return Err(DynamoError::Validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST".into(),
                ))
            }
            (Some("PAY_PER_REQUEST"), None) => Billing::PayPerRequest,
            (Some("PROVISIONED") | None, Some(t)) => match (t.read, t.write) {
                (Some(read), Some(write)) if read >= 1 && write >= 1 => Billing::Provisioned { read, write },
                _ => {
                    return Err(DynamoError::Validation(
                        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified and at least 1".into(),
                    ))
                }
            },
            (Some("PROVISIONED"), None) => match current {
                Billing::Provisioned { .. } => current,
                Billing::PayPerRequest => {
                    return Err(DynamoError::Validation(
                        "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED".into(),
                    ))
                }
            },
            (Some(other), _) => {
                return Err(DynamoError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
                )))
            }
            (None, None) => current,
        };
        if let (Billing::Provisioned { read: r0, write: w0 }, Billing::Provisioned { read, write }, Some(_)) =
            (current, next, throughput)
        {
            if (r0, w0) == (read, write) {
                return Err(DynamoError::Validation(format!(
                    "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {r0}. Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for the table: {w0}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
                )));
            }
        }
        billing_changed = next != current;
        r.spec.billing = next;
        if let Some(p) = protection {
            r.spec.deletion_protection = p;
        }
        if let Some(cl) = &class {
            if cl != "STANDARD" && cl != "STANDARD_INFREQUENT_ACCESS" {
                return Err(DynamoError::Validation(format!(
                    "1 validation error detected: Value '{cl}' at 'tableClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]"
                )));
            }
            r.spec.table_class = cl.clone();
        }
        Ok(())
    })?;
    let status = if billing_changed { "UPDATING" } else { "ACTIVE" };
    Ok(Reply::Json(
        json!({ "TableDescription": description(&record, status, &Sizes::of(&*app.tables.get(c.account(), &c.region, name)?)) }),
    ))
}

/// TagResource, UntagResource, ListTagsOfResource on a table ARN.
fn tags(app: &App, c: &Caller, op: &str, i: &Input<'_>) -> Result<Reply, ApiError> {
    let arn = i.str("ResourceArn")?;
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", c.region, c.account());
    let name = arn
        .strip_prefix(prefix.as_str())
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| {
            ApiError::validation(format!("Invalid TableArn: Invalid ResourceArn provided as input {arn}"))
        })?;
    authorize(app, c, &format!("dynamodb:{op}"), name)?;
    let missing = |e: DynamoError| match e {
        DynamoError::ResourceNotFound(_) => {
            DynamoError::ResourceNotFound(format!("Requested resource not found: ResourcArn: {arn} not found"))
        }
        other => other,
    };
    match op {
        "TagResource" => {
            let tags = tag_list(i)?;
            app.tables
                .update(c.account(), &c.region, name, |r| {
                    let mut next = r.tags.clone();
                    next.extend(tags);
                    if next.len() > 50 {
                        return Err(DynamoError::Validation(
                            "One or more parameter values were invalid: Too many tags attached to resource; the maximum is 50"
                                .into(),
                        ));
                    }
                    r.tags = next;
                    Ok(())
                })
                .map_err(missing)?;
            Ok(Reply::Json(json!({})))
        }
        "UntagResource" => {
            let keys = i.str_list("TagKeys")?;
            app.tables
                .update(c.account(), &c.region, name, |r| {
                    for k in &keys {
                        r.tags.remove(k);
                    }
                    Ok(())
                })
                .map_err(missing)?;
            Ok(Reply::Json(json!({})))
        }
        _ => {
            let table = app.tables.get(c.account(), &c.region, name).map_err(missing)?;
            let tags: Vec<Value> = table
                .record
                .tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(Reply::Json(json!({ "Tags": tags })))
        }
    }
}
