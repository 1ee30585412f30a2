//! On-demand backups through aws-sdk-dynamodb: a backup taken while transactions run restores to one
//! consistent instant; a restore under another customer managed key with index overrides; a disabled key
//! blocks CreateBackup and RestoreTableFromBackup; ListBackups and DeleteBackup (which destroys the backup's
//! data keys); nothing in plaintext at rest.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    TableStatus, TransactWriteItem, Update,
};
use common::*;

async fn wait_active(db: &aws_sdk_dynamodb::Client, table: &str) -> aws_sdk_dynamodb::types::TableDescription {
    for _ in 0..400 {
        let d = db.describe_table().table_name(table).send().await.unwrap();
        let t = d.table().unwrap().clone();
        if t.table_status() == Some(&TableStatus::Active) {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{table} did not become ACTIVE");
}

/// Every item of a table, by `id`, as `v` (a number) or the marker text.
async fn contents(db: &aws_sdk_dynamodb::Client, table: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for i in page.items() {
            let v = i.get("v").map(|v| match v {
                aws_sdk_dynamodb::types::AttributeValue::N(n) => n.clone(),
                aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
                other => format!("{other:?}"),
            });
            out.insert(i["id"].as_s().unwrap().clone(), v.unwrap_or_default());
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return out;
        }
    }
}

/// A table `name` keyed by `id`, with a global index on `grp`, under `key` (the owned key if none).
async fn table(db: &aws_sdk_dynamodb::Client, name: &str, key: Option<&str>) {
    let mut req = db
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_def("id"))
        .attribute_definitions(string_def("grp"))
        .key_schema(hash_key("id"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_grp")
                .key_schema(hash_key("grp"))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        );
    if let Some(k) = key {
        req = req.sse_specification(kms_sse(k));
    }
    req.send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_transactions_run_restores_one_instant() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    table(&db, "Ledger", None).await;
    for i in 0..200 {
        db.put_item()
            .table_name("Ledger")
            .item("id", s(&format!("acct{i:03}")))
            .item("grp", s(&format!("g{}", i % 4)))
            .item("v", n("100"))
            .send()
            .await
            .unwrap();
    }
    // Transfers between two accounts keep the total at 20,000 at every instant.
    let mover = {
        let db = db.clone();
        tokio::spawn(async move {
            for round in 0..150usize {
                let (a, b) = (round % 200, (round * 7 + 1) % 200);
                if a == b {
                    continue;
                }
                let update = |id: usize, expr: &str| {
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name("Ledger")
                                .key("id", s(&format!("acct{id:03}")))
                                .update_expression(expr)
                                .expression_attribute_values(":x", n("1"))
                                .build()
                                .unwrap(),
                        )
                        .build()
                };
                let _ = db
                    .transact_write_items()
                    .transact_items(update(a, "SET v = v - :x"))
                    .transact_items(update(b, "SET v = v + :x"))
                    .send()
                    .await;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let backup = db
        .create_backup()
        .table_name("Ledger")
        .backup_name("mid-flight")
        .send()
        .await
        .unwrap();
    let arn = backup.backup_details().unwrap().backup_arn().to_owned();
    mover.await.unwrap();
    // After the backup: a marker item the restore must not have.
    db.put_item()
        .table_name("Ledger")
        .item("id", s("later"))
        .item("grp", s("g0"))
        .item("v", s("MARKER-BACKUP-LATER"))
        .send()
        .await
        .unwrap();

    let out = db
        .restore_table_from_backup()
        .target_table_name("Ledger2")
        .backup_arn(&arn)
        .send()
        .await
        .unwrap();
    let restored = out.table_description().unwrap();
    assert_eq!(
        restored.restore_summary().unwrap().source_backup_arn(),
        Some(arn.as_str())
    );
    let t = wait_active(&db, "Ledger2").await;
    assert!(!t.restore_summary().unwrap().restore_in_progress());
    let items = contents(&db, "Ledger2").await;
    assert_eq!(items.len(), 200);
    let total: i64 = items.values().map(|v| v.parse::<i64>().unwrap()).sum();
    assert_eq!(total, 20_000, "the backup is one instant: no transfer half in it");
    // The index is rebuilt in the restored table.
    let q = db
        .query()
        .table_name("Ledger2")
        .index_name("by_grp")
        .key_condition_expression("grp = :g")
        .expression_attribute_values(":g", s("g1"))
        .send()
        .await
        .unwrap();
    assert_eq!(q.count(), 50);
    // Writes to the restored table are its own.
    db.put_item()
        .table_name("Ledger2")
        .item("id", s("new"))
        .item("grp", s("g1"))
        .send()
        .await
        .unwrap();

    let err = db
        .restore_table_from_backup()
        .target_table_name("Ledger2")
        .backup_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("TableAlreadyExistsException"));
    srv.assert_not_at_rest("MARKER-BACKUP");
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_keep_their_key_and_restore_under_another() {
    let srv = Server::start_with(&["--table-key-cache-ttl", "200ms"]);
    let db = srv.dynamodb(srv.root());
    let kms = srv.kms(srv.root());
    let key_a = new_key_arn(&kms).await;
    let key_b = new_key_arn(&kms).await;
    table(&db, "Secrets", Some(&key_a)).await;
    for i in 0..30 {
        db.put_item()
            .table_name("Secrets")
            .item("id", s(&format!("s{i:02}")))
            .item("grp", s("g"))
            .item("v", s(&format!("MARKER-BACKUP-SECRET-{i}")))
            .send()
            .await
            .unwrap();
    }
    let before = contents(&db, "Secrets").await;
    let arn = db
        .create_backup()
        .table_name("Secrets")
        .backup_name("nightly")
        .send()
        .await
        .unwrap()
        .backup_details()
        .unwrap()
        .backup_arn()
        .to_owned();
    let d = db.describe_backup().backup_arn(&arn).send().await.unwrap();
    let d = d.backup_description().unwrap();
    assert_eq!(
        d.source_table_feature_details()
            .unwrap()
            .sse_description()
            .unwrap()
            .kms_master_key_arn(),
        Some(key_a.as_str()),
        "the backup is under the key the table had"
    );
    assert_eq!(d.source_table_details().unwrap().item_count(), Some(30));

    // Restored under key B, keeping no global index.
    db.restore_table_from_backup()
        .target_table_name("SecretsB")
        .backup_arn(&arn)
        .sse_specification_override(kms_sse(&key_b))
        .set_global_secondary_index_override(Some(vec![]))
        .send()
        .await
        .unwrap();
    let t = wait_active(&db, "SecretsB").await;
    assert_eq!(t.sse_description().unwrap().kms_master_key_arn(), Some(key_b.as_str()));
    assert!(t.global_secondary_indexes().is_empty());
    assert_eq!(contents(&db, "SecretsB").await, before);
    let err = db
        .restore_table_from_backup()
        .target_table_name("SecretsC")
        .backup_arn(&arn)
        .set_global_secondary_index_override(Some(vec![GlobalSecondaryIndex::builder()
            .index_name("nope")
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("grp")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .unwrap()]))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .contains("Index nope does not match a secondary index"),
        "{err:?}"
    );

    // With key A disabled, neither a new backup nor a restore of the old one is possible; the table
    // restored under key B is untouched.
    kms.disable_key().key_id(&key_a).send().await.unwrap();
    let err = db
        .create_backup()
        .table_name("Secrets")
        .backup_name("blocked")
        .send()
        .await
        .unwrap_err();
    assert!(err.message().unwrap().starts_with("KMS key disabled error"), "{err:?}");
    let err = db
        .restore_table_from_backup()
        .target_table_name("SecretsD")
        .backup_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert!(err.message().unwrap().starts_with("KMS key disabled error"), "{err:?}");
    assert!(
        db.describe_table().table_name("SecretsD").send().await.is_err(),
        "no table is left behind"
    );
    assert_eq!(contents(&db, "SecretsB").await, before);
    kms.enable_key().key_id(&key_a).send().await.unwrap();

    // ListBackups filters and pages; DeleteBackup destroys the backup and its data keys.
    let second = db
        .create_backup()
        .table_name("SecretsB")
        .backup_name("other")
        .send()
        .await
        .unwrap()
        .backup_details()
        .unwrap()
        .backup_arn()
        .to_owned();
    let all = db.list_backups().send().await.unwrap();
    assert_eq!(all.backup_summaries().len(), 2);
    let only = db.list_backups().table_name("Secrets").send().await.unwrap();
    assert_eq!(only.backup_summaries().len(), 1);
    let first_page = db.list_backups().limit(1).send().await.unwrap();
    assert_eq!(first_page.backup_summaries().len(), 1);
    let next = db
        .list_backups()
        .exclusive_start_backup_arn(first_page.last_evaluated_backup_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.backup_summaries()[0].backup_arn(), Some(second.as_str()));
    let backups_dir = srv.data_dir.join("dynamodb/backups");
    let dirs = || std::fs::read_dir(&backups_dir).unwrap().count();
    assert_eq!(dirs(), 2);
    let gone = db.delete_backup().backup_arn(&arn).send().await.unwrap();
    assert_eq!(
        gone.backup_description()
            .unwrap()
            .backup_details()
            .unwrap()
            .backup_status()
            .as_str(),
        "DELETED"
    );
    assert_eq!(dirs(), 1, "the backup's files and key registry are gone");
    let err = db.describe_backup().backup_arn(&arn).send().await.unwrap_err();
    assert_eq!(err.code(), Some("BackupNotFoundException"));
    srv.assert_not_at_rest("MARKER-BACKUP-SECRET");
}

#[tokio::test(flavor = "multi_thread")]
async fn point_in_time_recovery_restores_the_table_as_it_was_at_a_chosen_moment() {
    use aws_sdk_dynamodb::primitives::DateTime;
    use aws_sdk_dynamodb::types::PointInTimeRecoverySpecification;
    // A new base copy every second: a restore starts from the newest copy before its moment.
    let srv = Server::start_with(&["--pitr-base-interval", "1s"]);
    let db = srv.dynamodb(srv.root());
    table(&db, "Orders", None).await;
    let put = |id: String, v: String| {
        db.put_item()
            .table_name("Orders")
            .item("id", s(&id))
            .item("grp", s("g"))
            .item("v", s(&v))
            .send()
    };
    for i in 0..20 {
        put(format!("o{i:02}"), format!("MARKER-PITR-before-{i}"))
            .await
            .unwrap();
    }
    let err = db
        .restore_table_to_point_in_time()
        .source_table_name("Orders")
        .target_table_name("Nope")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("PointInTimeRecoveryUnavailableException"));
    let enabled = db
        .update_continuous_backups()
        .table_name("Orders")
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .recovery_period_in_days(7)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let pitr = enabled
        .continuous_backups_description()
        .unwrap()
        .point_in_time_recovery_description()
        .unwrap()
        .clone();
    assert_eq!(
        pitr.point_in_time_recovery_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
    assert_eq!(pitr.recovery_period_in_days(), Some(7));
    let earliest = pitr.earliest_restorable_date_time().unwrap().to_millis().unwrap();

    for i in 0..20 {
        put(format!("o{i:02}"), format!("MARKER-PITR-first-{i}")).await.unwrap();
    }
    db.delete_item()
        .table_name("Orders")
        .key("id", s("o00"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let chosen = contents(&db, "Orders").await;
    let moment = DateTime::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for i in 10..30 {
        put(format!("o{i:02}"), format!("MARKER-PITR-second-{i}"))
            .await
            .unwrap();
    }
    db.delete_item()
        .table_name("Orders")
        .key("id", s("o05"))
        .send()
        .await
        .unwrap();
    let latest = contents(&db, "Orders").await;
    let bases = || std::fs::read_dir(srv.data_dir.join("dynamodb/pitr")).unwrap().count();
    assert!(bases() >= 2, "base copies are taken as time goes by");

    db.restore_table_to_point_in_time()
        .source_table_name("Orders")
        .target_table_name("OrdersThen")
        .restore_date_time(moment)
        .send()
        .await
        .unwrap();
    wait_active(&db, "OrdersThen").await;
    assert_eq!(
        contents(&db, "OrdersThen").await,
        chosen,
        "the table as it was at the chosen moment"
    );
    let q = db
        .query()
        .table_name("OrdersThen")
        .index_name("by_grp")
        .key_condition_expression("grp = :g")
        .expression_attribute_values(":g", s("g"))
        .send()
        .await
        .unwrap();
    assert_eq!(q.count() as usize, chosen.len(), "its index matches it");
    db.restore_table_to_point_in_time()
        .source_table_name("Orders")
        .target_table_name("OrdersNow")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    wait_active(&db, "OrdersNow").await;
    assert_eq!(contents(&db, "OrdersNow").await, latest);

    let err = db
        .restore_table_to_point_in_time()
        .source_table_name("Orders")
        .target_table_name("TooEarly")
        .restore_date_time(DateTime::from_millis(earliest - 60_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRestoreTimeException"));
    srv.assert_not_at_rest("MARKER-PITR");

    db.update_continuous_backups()
        .table_name("Orders")
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let d = db
        .describe_continuous_backups()
        .table_name("Orders")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.continuous_backups_description()
            .unwrap()
            .point_in_time_recovery_description()
            .unwrap()
            .point_in_time_recovery_status()
            .map(|s| s.as_str()),
        Some("DISABLED")
    );
    assert_eq!(
        std::fs::read_dir(srv.data_dir.join("dynamodb/pitr")).unwrap().count(),
        0,
        "the base copy is gone with its keys"
    );
}

/// Runs `strongroom ARGS` against the server with the root's credentials; (success, stdout, stderr).
fn strongroom(srv: &Server, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(args)
        .args(["--endpoint", &srv.url, "--region", REGION])
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_restores_and_indexes_with_progress() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_table(&db, "Source", ("id", ScalarAttributeType::S), None).await;
    batch_put(&db, "Source", 600, |i| {
        vec![("id", s(&format!("i{i:04}"))), ("grp", s(&format!("g{}", i % 3)))]
    })
    .await;
    let arn = db
        .create_backup()
        .table_name("Source")
        .backup_name("for-the-cli")
        .send()
        .await
        .unwrap()
        .backup_details()
        .unwrap()
        .backup_arn()
        .to_owned();
    let (ok, out, err) = strongroom(
        &srv,
        &["restore-table", "--backup-arn", &arn, "--target-table", "FromCli"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("FromCli restored: 600 items"), "{out}");
    assert!(err.contains("restoring FromCli ["), "a progress bar: {err}");
    assert!(err.contains("600/600 items (100%)"), "{err}");
    assert_eq!(contents(&db, "FromCli").await.len(), 600);

    let (ok, out, err) = strongroom(
        &srv,
        &[
            "create-index",
            "--table",
            "FromCli",
            "--index-name",
            "by_grp",
            "--hash",
            "grp:S",
            "--projection",
            "KEYS_ONLY",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("by_grp on FromCli is ACTIVE: 600 items"), "{out}");
    assert!(err.contains("items/s"), "{err}");

    let (ok, _, err) = strongroom(
        &srv,
        &[
            "create-index",
            "--table",
            "FromCli",
            "--index-name",
            "x1",
            "--hash",
            "grp",
        ],
    );
    assert!(!ok);
    assert!(err.contains("NAME:TYPE"), "{err}");
    let (ok, _, err) = strongroom(
        &srv,
        &["restore-table", "--backup-arn", "nope", "--target-table", "Never"],
    );
    assert!(!ok);
    assert!(err.contains("BackupNotFoundException"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_whose_key_stays_unusable_is_archived_and_restores_once_the_key_is_back() {
    let srv = Server::start_with(&[
        "--table-key-cache-ttl",
        "100ms",
        "--key-health-interval",
        "100ms",
        "--archive-after",
        "500ms",
    ]);
    let db = srv.dynamodb(srv.root());
    let kms = srv.kms(srv.root());
    let key = new_key_arn(&kms).await;
    table(&db, "Vault", Some(&key)).await;
    for i in 0..20 {
        db.put_item()
            .table_name("Vault")
            .item("id", s(&format!("v{i:02}")))
            .item("grp", s("g"))
            .item("v", s("MARKER-ARCHIVED"))
            .send()
            .await
            .unwrap();
    }
    let before = contents(&db, "Vault").await;
    kms.disable_key().key_id(&key).send().await.unwrap();
    let mut archived = None;
    for _ in 0..100 {
        let t = db.describe_table().table_name("Vault").send().await.unwrap();
        let t = t.table().unwrap().clone();
        if t.table_status() == Some(&TableStatus::Archived) {
            archived = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let t = archived.expect("the table is archived once its key has been unusable long enough");
    let summary = t.archival_summary().unwrap();
    assert_eq!(summary.archival_reason(), Some("INACCESSIBLE_ENCRYPTION_CREDENTIALS"));
    let backup = summary.archival_backup_arn().unwrap().to_owned();
    let err = db
        .get_item()
        .table_name("Vault")
        .key("id", s("v00"))
        .send()
        .await
        .unwrap_err();
    assert!(err.message().unwrap().contains("is archived"), "{err:?}");
    let system = db
        .list_backups()
        .backup_type(aws_sdk_dynamodb::types::BackupTypeFilter::System)
        .send()
        .await
        .unwrap();
    assert_eq!(system.backup_summaries()[0].backup_arn(), Some(backup.as_str()));
    assert!(
        db.list_backups().send().await.unwrap().backup_summaries().is_empty(),
        "user backups by default"
    );

    // With the key back, the archival backup restores the table.
    kms.enable_key().key_id(&key).send().await.unwrap();
    db.restore_table_from_backup()
        .target_table_name("VaultBack")
        .backup_arn(&backup)
        .send()
        .await
        .unwrap();
    wait_active(&db, "VaultBack").await;
    assert_eq!(contents(&db, "VaultBack").await, before);
    srv.assert_not_at_rest("MARKER-ARCHIVED");
}
