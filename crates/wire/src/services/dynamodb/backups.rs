//! On-demand backups: CreateBackup, DescribeBackup, ListBackups, DeleteBackup, RestoreTableFromBackup.

use std::sync::Arc;

use dynamodb::table::Billing;
use dynamodb::tables::{BackupRecord, RestoreOverrides, TableRecord};
use serde_json::{json, Map, Value};

use super::{authorize, description, projection_json, schema_json, sse_choice_in, table_name, Sizes};
use crate::services::input::{epoch, Input};
use crate::{ApiError, App, Caller, Reply};

/// BackupName's constraints in botocore's model (length 3-255, pattern `[a-zA-Z0-9_.-]+`), the length
/// checked first, in DynamoDB's words.
fn backup_name_violation(name: &str) -> Option<&'static str> {
    if name.len() < 3 {
        Some("Member must have length greater than or equal to 3")
    } else if name.len() > 255 {
        Some("Member must have length less than or equal to 255")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Some("Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    } else {
        None
    }
}

pub async fn dispatch(app: &App, c: &Caller, op: &str, i: &Input<'_>) -> Result<Reply, ApiError> {
    match op {
        "CreateBackup" => {
            let name = table_name(c, i)?;
            authorize(app, c, "dynamodb:CreateBackup", name)?;
            let backup_name = i.str("BackupName")?;
            if let Some(constraint) = backup_name_violation(backup_name) {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{backup_name}' at 'backupName' failed to satisfy constraint: {constraint}"
                )));
            }
            let b = app
                .tables
                .create_backup(c.account(), &c.region, name, backup_name, &app.table_keys(c))
                .await?;
            Ok(Reply::Json(json!({ "BackupDetails": details(&b, "AVAILABLE") })))
        }
        "DescribeBackup" => {
            let arn = i.str("BackupArn")?;
            let b = app.tables.backup(c.account(), &c.region, arn)?;
            authorize(app, c, "dynamodb:DescribeBackup", &b.table.spec.name)?;
            Ok(Reply::Json(
                json!({ "BackupDescription": backup_description(&b, "AVAILABLE") }),
            ))
        }
        "DeleteBackup" => {
            let arn = i.str("BackupArn")?;
            let b = app.tables.backup(c.account(), &c.region, arn)?;
            authorize(app, c, "dynamodb:DeleteBackup", &b.table.spec.name)?;
            let b = app.tables.delete_backup(c.account(), &c.region, arn)?;
            Ok(Reply::Json(
                json!({ "BackupDescription": backup_description(&b, "DELETED") }),
            ))
        }
        "ListBackups" => list_backups(app, c, i),
        "RestoreTableFromBackup" => {
            let target = i.str("TargetTableName")?;
            authorize(app, c, "dynamodb:RestoreTableFromBackup", target)?;
            let arn = i.str("BackupArn")?;
            let backup = app.tables.backup(c.account(), &c.region, arn)?;
            let overrides = overrides(i, &backup.table)?;
            let record =
                app.tables
                    .restore_from_backup(target, &backup, overrides, &app.table_keys(c), Arc::new(|_| {}))?;
            Ok(Reply::Json(
                json!({ "TableDescription": description(&record, "CREATING", &Sizes::default()) }),
            ))
        }
        "UpdateContinuousBackups" => {
            let name = table_name(c, i)?;
            authorize(app, c, "dynamodb:UpdateContinuousBackups", name)?;
            let spec = i
                .object("PointInTimeRecoverySpecification")?
                .ok_or_else(|| crate::services::input::missing("PointInTimeRecoverySpecification"))?;
            let enable = match spec.0.get("PointInTimeRecoveryEnabled") {
                Some(Value::Bool(b)) => *b,
                _ => return Err(crate::services::input::missing("PointInTimeRecoveryEnabled")),
            };
            if !enable && spec.opt_i64("RecoveryPeriodInDays")?.is_some() {
                return Err(ApiError::validation(
                    "Invalid Request: Cannot specify RecoveryPeriodInDays when disabling point-in-time recovery.",
                ));
            }
            let period = spec
                .opt_i64_between(
                    "RecoveryPeriodInDays",
                    "pointInTimeRecoverySpecification.recoveryPeriodInDays",
                    1,
                    35,
                )?
                .map(|d| d as u32);
            let record = app
                .tables
                .update_pitr(c.account(), &c.region, name, enable, period, &app.table_keys(c))
                .await?;
            Ok(Reply::Json(
                json!({ "ContinuousBackupsDescription": continuous(app, &record) }),
            ))
        }
        "DescribeContinuousBackups" => {
            let name = table_name(c, i)?;
            authorize(app, c, "dynamodb:DescribeContinuousBackups", name)?;
            let t = app.tables.table_for_backup(c.account(), &c.region, name)?;
            Ok(Reply::Json(
                json!({ "ContinuousBackupsDescription": continuous(app, &t.record) }),
            ))
        }
        "RestoreTableToPointInTime" => {
            let target = i.str("TargetTableName")?;
            authorize(app, c, "dynamodb:RestoreTableToPointInTime", target)?;
            let source = match (i.opt_str("SourceTableName")?, i.opt_str("SourceTableArn")?) {
                (Some(n), None) => n.to_owned(),
                (None, Some(arn)) => {
                    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", c.region, c.account());
                    arn.strip_prefix(prefix.as_str())
                        .ok_or_else(|| ApiError::validation(format!("Invalid TableArn: {arn}")))?
                        .to_owned()
                }
                _ => return Err(ApiError::validation(
                    "Invalid Request: Either one of SourceTableArn or SourceTableName must be specified, but not both",
                )),
            };
            let latest =
                i.0.get("UseLatestRestorableTime")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            let at = match (i.0.get("RestoreDateTime").filter(|v| !v.is_null()), latest) {
                (Some(v), false) => Some(
                    (v.as_f64()
                        .ok_or_else(|| ApiError::serialization("RestoreDateTime must be a timestamp"))?
                        * 1000.0) as i64,
                ),
                (None, true) => None,
                _ => {
                    return Err(ApiError::validation(
                        "Invalid Request: Either one of RestoreDateTime or UseLatestRestorableTime must be specified, but not both",
                    ))
                }
            };
            let source_table = app.tables.table_for_backup(c.account(), &c.region, &source)?;
            let overrides = overrides(i, &source_table.record)?;
            let record = app.tables.restore_to_point(
                c.account(),
                &c.region,
                &source,
                target,
                at,
                overrides,
                &app.table_keys(c),
                Arc::new(|_| {}),
            )?;
            Ok(Reply::Json(
                json!({ "TableDescription": description(&record, "CREATING", &Sizes::default()) }),
            ))
        }
        _ => Err(crate::unknown_operation(crate::Api::DynamoDb, op)),
    }
}

/// The overrides RestoreTableFromBackup and RestoreTableToPointInTime share.
pub(super) fn overrides(i: &Input<'_>, source: &TableRecord) -> Result<RestoreOverrides, ApiError> {
    let throughput = i
        .object("ProvisionedThroughputOverride")?
        .map(|t| Ok::<_, ApiError>((t.opt_i64("ReadCapacityUnits")?, t.opt_i64("WriteCapacityUnits")?)))
        .transpose()?;
    let billing = match (i.opt_str("BillingModeOverride")?, throughput) {
        (Some("PAY_PER_REQUEST"), Some(_)) => {
            return Err(ApiError::validation(
                "Invalid Request: Cannot override ProvisionedThroughput if BillingMode is overridden to PAY_PER_REQUEST",
            ))
        }
        (Some("PAY_PER_REQUEST"), None) => Some(Billing::PayPerRequest),
        (Some("PROVISIONED") | None, Some((Some(read), Some(write)))) => Some(Billing::Provisioned { read, write }),
        (Some("PROVISIONED"), None) => match source.spec.billing {
            b @ Billing::Provisioned { .. } => Some(b),
            Billing::PayPerRequest => {
                return Err(ApiError::validation(
                    "Invalid Request: ProvisionedThroughputOverride must be provided when BillingModeOverride is PROVISIONED",
                ))
            }
        },
        (None, None) => None,
        (Some(other), _) if other != "PROVISIONED" => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'billingModeOverride' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
            )))
        }
        _ => {
            return Err(ApiError::validation(
                "Invalid Request: ReadCapacityUnits and WriteCapacityUnits must both be specified",
            ))
        }
    };
    let names = |member: &str| -> Result<Option<Vec<String>>, ApiError> {
        match i.0.get(member) {
            Some(v) if !v.is_null() => Ok(Some(
                i.list(member)?
                    .iter()
                    .map(|x| x.str("IndexName").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Ok(None),
        }
    };
    Ok(RestoreOverrides {
        billing,
        global_indexes: names("GlobalSecondaryIndexOverride")?,
        local_indexes: names("LocalSecondaryIndexOverride")?,
        key: sse_choice_in(i, "SSESpecificationOverride")?,
    })
}

fn backup_type(b: &BackupRecord) -> &'static str {
    if b.system {
        "SYSTEM"
    } else {
        "USER"
    }
}

fn details(b: &BackupRecord, status: &str) -> Value {
    json!({
        "BackupArn": b.arn,
        "BackupName": b.name,
        "BackupSizeBytes": b.size_bytes,
        "BackupStatus": status,
        "BackupType": backup_type(b),
        "BackupCreationDateTime": epoch(b.created_ms),
    })
}

fn backup_description(b: &BackupRecord, status: &str) -> Value {
    let t = &b.table;
    let spec = &t.spec;
    let (read, write, mode) = match spec.billing {
        Billing::PayPerRequest => (0, 0, "PAY_PER_REQUEST"),
        Billing::Provisioned { read, write } => (read, write, "PROVISIONED"),
    };
    let mut features = Map::new();
    if !spec.local_indexes.is_empty() {
        features.insert(
            "LocalSecondaryIndexes".into(),
            json!(spec
                .local_indexes
                .iter()
                .map(|x| json!({"IndexName": x.name, "KeySchema": schema_json(&x.schema), "Projection": projection_json(&x.projection)}))
                .collect::<Vec<_>>()),
        );
    }
    if !spec.global_indexes.is_empty() {
        features.insert(
            "GlobalSecondaryIndexes".into(),
            json!(spec
                .global_indexes
                .iter()
                .map(|x| {
                    let (r, w) = x.throughput.unwrap_or((0, 0));
                    json!({"IndexName": x.name, "KeySchema": schema_json(&x.schema), "Projection": projection_json(&x.projection),
                           "ProvisionedThroughput": {"ReadCapacityUnits": r, "WriteCapacityUnits": w}})
                })
                .collect::<Vec<_>>()),
        );
    }
    if let Some(s) = t.streams.last().filter(|s| s.enabled()) {
        features.insert(
            "StreamDescription".into(),
            json!({"StreamEnabled": true, "StreamViewType": s.view.as_str()}),
        );
    }
    if let Some(ttl) = &t.ttl {
        features.insert(
            "TimeToLiveDescription".into(),
            json!({"TimeToLiveStatus": if ttl.enabled { "ENABLED" } else { "DISABLED" }, "AttributeName": ttl.attribute}),
        );
    }
    // The key the backup is under: the table's when it was taken.
    if let Some(sse) = &t.sse {
        features.insert(
            "SSEDescription".into(),
            json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": sse.key_arn}),
        );
    }
    json!({
        "BackupDetails": details(b, status),
        "SourceTableDetails": {
            "TableName": spec.name,
            "TableId": t.table_id,
            "TableArn": t.arn(),
            "TableSizeBytes": b.size_bytes,
            "KeySchema": schema_json(&spec.schema),
            "TableCreationDateTime": epoch(t.created_ms),
            "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
            "ItemCount": b.item_count,
            "BillingMode": mode,
        },
        "SourceTableFeatureDetails": Value::Object(features),
    })
}

fn list_backups(app: &App, c: &Caller, i: &Input<'_>) -> Result<Reply, ApiError> {
    let resource = format!("arn:aws:dynamodb:{}:{}:table/*", c.region, c.account());
    app.iam
        .authorize(&c.entry, "dynamodb:ListBackups", &resource, &Default::default())?;
    let limit = i
        .opt_i64_between("Limit", "limit", 1, 100)?
        .map_or(usize::MAX, |l| l as usize);
    let seconds = |member: &str| -> Result<Option<f64>, ApiError> {
        match i.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| ApiError::serialization(format!("{member} must be a timestamp"))),
        }
    };
    let (lower, upper) = (seconds("TimeRangeLowerBound")?, seconds("TimeRangeUpperBound")?);
    let only = i.opt_str("TableName")?;
    let wanted = match i.opt_str("BackupType")? {
        None | Some("USER") => Some("USER"),
        Some("ALL") => None,
        Some(t @ ("SYSTEM" | "AWS_BACKUP")) => Some(t),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'backupType' failed to satisfy constraint: Member must satisfy enum value set: [USER, SYSTEM, AWS_BACKUP, ALL]"
            )))
        }
    };
    let after = i.opt_str("ExclusiveStartBackupArn")?;
    let all: Vec<BackupRecord> = app
        .tables
        .backups(c.account(), &c.region)?
        .into_iter()
        .filter(|b| only.is_none_or(|t| b.table.spec.name == t))
        .filter(|b| wanted.is_none_or(|w| w == backup_type(b)))
        .filter(|b| {
            let at = b.created_ms as f64 / 1000.0;
            lower.is_none_or(|l| at >= l) && upper.is_none_or(|u| at < u)
        })
        .collect();
    let start = match after {
        Some(a) => all.iter().position(|b| b.arn == a).map_or(all.len(), |p| p + 1),
        None => 0,
    };
    let page: Vec<&BackupRecord> = all.iter().skip(start).take(limit).collect();
    let mut body = Map::new();
    body.insert(
        "BackupSummaries".into(),
        json!(page
            .iter()
            .map(|b| json!({
                "TableName": b.table.spec.name, "TableId": b.table.table_id, "TableArn": b.table.arn(),
                "BackupArn": b.arn, "BackupName": b.name, "BackupCreationDateTime": epoch(b.created_ms),
                "BackupStatus": "AVAILABLE", "BackupType": backup_type(b), "BackupSizeBytes": b.size_bytes,
            }))
            .collect::<Vec<_>>()),
    );
    if start + page.len() < all.len() {
        if let Some(last) = page.last() {
            body.insert("LastEvaluatedBackupArn".into(), json!(last.arn));
        }
    }
    Ok(Reply::Json(Value::Object(body)))
}

/// ContinuousBackupsDescription: backups are always on; point-in-time recovery as the table has it.
fn continuous(app: &App, r: &TableRecord) -> Value {
    let pitr = match (&r.pitr, app.tables.pitr_window(r)) {
        (Some(p), Some((earliest, latest))) => json!({
            "PointInTimeRecoveryStatus": "ENABLED",
            "RecoveryPeriodInDays": p.period_days,
            "EarliestRestorableDateTime": epoch(earliest),
            "LatestRestorableDateTime": epoch(latest),
        }),
        _ => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
    };
    json!({"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": pitr})
}

#[cfg(test)]
mod tests {
    use super::backup_name_violation;

    #[test]
    fn backup_names_are_checked_for_length_then_pattern() {
        assert_eq!(backup_name_violation("ok-1.b_"), None);
        assert!(backup_name_violation("b")
            .unwrap()
            .contains("greater than or equal to 3"));
        assert!(backup_name_violation(&"a".repeat(256))
            .unwrap()
            .contains("less than or equal to 255"));
        assert!(backup_name_violation("has space")
            .unwrap()
            .contains("regular expression"));
        assert!(backup_name_violation("é")
            .unwrap()
            .contains("greater than or equal to 3"));
    }
}
