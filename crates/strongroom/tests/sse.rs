//! Encryption at rest as the seed describes it, through aws-sdk-dynamodb, aws-sdk-kms and CloudTrail: the
//! three key kinds, the grant DynamoDB creates, the calls it makes (in the trail), the table-key cache, a
//! disabled key making the table unreadable until it is enabled again, the grant retired with the table,
//! and the refusals that leave no table behind.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, SseSpecification, SseType,
};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use common::*;
use serde_json::Value;

/// CreateTable of a table keyed by `id` (S) with the given SSESpecification.
async fn create(
    db: &aws_sdk_dynamodb::Client,
    name: &str,
    sse: Option<SseSpecification>,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>,
> {
    db.create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .set_sse_specification(sse)
        .send()
        .await
}

fn cmk(key: &str) -> SseSpecification {
    SseSpecification::builder()
        .enabled(true)
        .sse_type(SseType::Kms)
        .kms_master_key_id(key)
        .build()
}

/// The trail's records of `event` on `key`, newest first.
async fn trail(srv: &Server, event: &str) -> Vec<Value> {
    let out = srv
        .cloudtrail(srv.root())
        .lookup_events()
        .lookup_attributes(
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::EventName)
                .attribute_value(event)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.events()
        .iter()
        .map(|e| serde_json::from_str(e.cloud_trail_event().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_managed_key_table_follows_the_seed() {
    let srv = Server::start_with(&["--table-key-cache-ttl", "700ms"]);
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let key = kms.create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    kms.create_alias()
        .alias_name("alias/orders")
        .target_key_id(&key_arn)
        .send()
        .await
        .unwrap();

    let created = create(&db, "Orders", Some(cmk("alias/orders"))).await.unwrap();
    let sse = created.table_description().unwrap().sse_description().unwrap();
    assert_eq!(sse.status().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(sse.sse_type().map(|s| s.as_str()), Some("KMS"));
    assert_eq!(
        sse.kms_master_key_arn(),
        Some(key_arn.as_str()),
        "the key's ARN, never the alias"
    );

    // The grant DynamoDB made, as the seed shows it.
    let grants = kms.list_grants().key_id(&key_arn).send().await.unwrap();
    assert_eq!(grants.grants().len(), 1);
    let g = &grants.grants()[0];
    let service = format!("dynamodb.{REGION}.amazonaws.com");
    assert_eq!(g.grantee_principal(), Some(service.as_str()));
    assert_eq!(g.retiring_principal(), Some(service.as_str()));
    let mut ops: Vec<&str> = g.operations().iter().map(|o| o.as_str()).collect();
    ops.sort_unstable();
    assert_eq!(
        ops,
        [
            "Decrypt",
            "DescribeKey",
            "Encrypt",
            "GenerateDataKey",
            "ReEncryptFrom",
            "ReEncryptTo",
            "RetireGrant"
        ]
    );
    let subset = g.constraints().unwrap().encryption_context_subset().unwrap();
    assert_eq!(subset["aws:dynamodb:tableName"], "Orders");
    assert_eq!(subset["aws:dynamodb:subscriberId"], ACCOUNT);

    // The calls DynamoDB made are in the trail, with the seed's identities.
    let create_grant = &trail(&srv, "CreateGrant").await[0];
    assert_eq!(create_grant["userIdentity"]["type"], "Root");
    assert_eq!(create_grant["userIdentity"]["invokedBy"], "dynamodb.amazonaws.com");
    assert_eq!(create_grant["sourceIPAddress"], "dynamodb.amazonaws.com");
    assert_eq!(create_grant["requestParameters"]["granteePrincipal"], service);
    let generated = &trail(&srv, "GenerateDataKey").await[0];
    assert_eq!(generated["userIdentity"]["type"], "AWSService");
    assert_eq!(generated["userIdentity"]["invokedBy"], "dynamodb.amazonaws.com");
    assert_eq!(generated["requestParameters"]["keySpec"], "AES_256");
    assert_eq!(
        generated["requestParameters"]["encryptionContext"]["aws:dynamodb:tableName"],
        "Orders"
    );
    assert_eq!(generated["recipientAccountId"], ACCOUNT);
    assert!(!trail(&srv, "DescribeKey").await.is_empty());

    // Items, with one Decrypt per cache lifetime at most.
    for i in 0..20 {
        db.put_item()
            .table_name("Orders")
            .item("id", s(&format!("order-{i}")))
            .item("note", s("CMK-MARKER-NOTE"))
            .send()
            .await
            .unwrap();
    }
    let decrypts = trail(&srv, "Decrypt").await.len();
    assert!(decrypts <= 1, "{decrypts} Decrypts for 20 writes in one cache lifetime");

    // Disabled: after the cache lifetime every item operation fails with the KMS-derived error.
    kms.disable_key().key_id(&key_arn).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let err = db
        .get_item()
        .table_name("Orders")
        .key("id", s("order-1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let m = err.message().unwrap();
    assert!(
        m.starts_with("KMS key disabled error: com.amazonaws.services.kms.model.DisabledException: ")
            && m.contains(&key_arn)
            && m.contains("(Service: AWSKMS; Status Code: 400; Error Code: DisabledException; Request ID: "),
        "{m}"
    );
    let refused = &trail(&srv, "Decrypt").await[0];
    assert_eq!(refused["errorCode"], "DisabledException");
    assert_eq!(refused["userIdentity"]["invokedBy"], "dynamodb.amazonaws.com");

    // Enabled again: every item is back.
    kms.enable_key().key_id(&key_arn).send().await.unwrap();
    let got = db
        .get_item()
        .table_name("Orders")
        .key("id", s("order-19"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["note"], s("CMK-MARKER-NOTE"));
    srv.assert_not_at_rest("CMK-MARKER-NOTE");
    srv.assert_not_at_rest("order-19");

    // Deleting the table retires its grant.
    db.delete_table().table_name("Orders").send().await.unwrap();
    let grants = kms.list_grants().key_id(&key_arn).send().await.unwrap();
    assert!(grants.grants().is_empty());
    let retired = &trail(&srv, "RetireGrant").await[0];
    assert_eq!(retired["userIdentity"]["type"], "AWSService");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_managed_key_is_made_on_first_use() {
    let srv = Server::start();
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let owned = create(&db, "Owned", None).await.unwrap();
    assert!(owned.table_description().unwrap().sse_description().is_none());
    let created = create(&db, "Managed", Some(SseSpecification::builder().enabled(true).build()))
        .await
        .unwrap();
    let arn = created
        .table_description()
        .unwrap()
        .sse_description()
        .unwrap()
        .kms_master_key_arn()
        .unwrap()
        .to_owned();
    let meta = kms.describe_key().key_id("alias/aws/dynamodb").send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(meta.arn(), Some(arn.as_str()));
    assert_eq!(meta.key_manager().map(|m| m.as_str()), Some("AWS"));
    assert_eq!(
        meta.description(),
        Some("Default key that protects my DynamoDB data when no other key is defined")
    );
    // The second managed table uses the same key.
    let again = create(
        &db,
        "Managed2",
        Some(SseSpecification::builder().enabled(true).sse_type(SseType::Kms).build()),
    )
    .await
    .unwrap();
    assert_eq!(
        again
            .table_description()
            .unwrap()
            .sse_description()
            .unwrap()
            .kms_master_key_arn(),
        Some(arn.as_str())
    );
    for t in ["Owned", "Managed", "Managed2"] {
        db.put_item()
            .table_name(t)
            .item("id", s("KIND-MARKER-KEY"))
            .item("v", s("KIND-MARKER-VALUE"))
            .send()
            .await
            .unwrap();
        let described = db.describe_table().table_name(t).send().await.unwrap();
        assert_eq!(
            described.table().unwrap().sse_description().is_some(),
            t != "Owned",
            "{t}"
        );
    }
    srv.assert_not_at_rest("KIND-MARKER-KEY");
    srv.assert_not_at_rest("KIND-MARKER-VALUE");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_keys_leave_no_table_behind() {
    let srv = Server::start();
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let rsa = kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap();
    let disabled = kms.create_key().send().await.unwrap();
    let disabled_arn = disabled.key_metadata().unwrap().arn().unwrap().to_owned();
    kms.disable_key().key_id(&disabled_arn).send().await.unwrap();
    // A key whose policy forbids the grant DynamoDB needs.
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"kms:CreateGrant","Resource":"*"}}]}}"#
    );
    let denied = kms.create_key().policy(deny).send().await.unwrap();

    let cases = [
        (
            cmk(rsa.key_metadata().unwrap().key_id()),
            "ValidationException",
            "KMS validation error: com.amazonaws.services.kms.model.ValidationException: EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.",
        ),
        (
            cmk(&disabled_arn),
            "ValidationException",
            "KMS key disabled error: com.amazonaws.services.kms.model.DisabledException:",
        ),
        (
            cmk("alias/nothing-here"),
            "ValidationException",
            "KMS validation error: com.amazonaws.services.kms.model.NotFoundException: Alias arn:aws:kms:",
        ),
        (
            cmk(&format!("arn:aws:kms:eu-north-1:{ACCOUNT}:key/{}", disabled.key_metadata().unwrap().key_id())),
            "ValidationException",
            "KMS validation error: com.amazonaws.services.kms.model.NotFoundException: Invalid arn eu-north-1",
        ),
        (
            cmk(denied.key_metadata().unwrap().key_id()),
            "AccessDeniedException",
            "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: ",
        ),
        (
            SseSpecification::builder().enabled(true).sse_type(SseType::Aes256).build(),
            "ValidationException",
            "One or more parameter values were invalid: SSEType AES256 is not supported",
        ),
        (
            SseSpecification::builder().enabled(false).sse_type(SseType::Kms).build(),
            "ValidationException",
            "One or more parameter values were invalid: SSEType can not be specified if Enabled is false",
        ),
        (
            SseSpecification::builder().enabled(true).kms_master_key_id("alias/x").build(),
            "ValidationException",
            "One or more parameter values were invalid: SSEType KMS is required if KMSMasterKeyId is specified",
        ),
    ];
    for (sse, code, message) in cases {
        let err = create(&db, "Refused", Some(sse)).await.unwrap_err();
        assert_eq!(err.code(), Some(code), "{message}");
        assert!(
            err.message().unwrap().starts_with(message),
            "{:?} vs {message}",
            err.message()
        );
    }
    assert!(db.list_tables().send().await.unwrap().table_names().is_empty());
    for k in [&rsa, &disabled, &denied] {
        let grants = kms
            .list_grants()
            .key_id(k.key_metadata().unwrap().key_id())
            .send()
            .await
            .unwrap();
        assert!(grants.grants().is_empty(), "no grant left behind");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_switch_online_under_load_and_the_old_key_is_no_longer_needed() {
    let srv = Server::start_with(&["--table-key-cache-ttl", "300ms"]);
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let first = kms.create_key().send().await.unwrap();
    let first_arn = first.key_metadata().unwrap().arn().unwrap().to_owned();
    let second = kms.create_key().send().await.unwrap();
    let second_arn = second.key_metadata().unwrap().arn().unwrap().to_owned();
    create(&db, "Switching", None).await.unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (db, stop) = (db.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("w{w}-{n}");
                db.put_item()
                    .table_name("Switching")
                    .item("id", s(&id))
                    .item("v", s("SWITCH-MARKER"))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {id}: {e:?}"));
                let got = db
                    .get_item()
                    .table_name("Switching")
                    .key("id", s(&id))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("get {id}: {e:?}"));
                assert!(got.item().is_some(), "{id} lost");
                n += 1;
            }
            n
        }));
    }
    let steps: [(Option<SseSpecification>, Option<&str>); 4] = [
        (Some(cmk(&first_arn)), Some(first_arn.as_str())),
        (Some(SseSpecification::builder().enabled(true).build()), None),
        (Some(cmk(&second_arn)), Some(second_arn.as_str())),
        (Some(SseSpecification::builder().enabled(false).build()), None),
    ];
    for (i, (sse, arn)) in steps.into_iter().enumerate() {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let out = db
            .update_table()
            .table_name("Switching")
            .set_sse_specification(sse)
            .send()
            .await
            .unwrap_or_else(|e| panic!("switch {i}: {e:?}"));
        let d = out.table_description().unwrap().sse_description().unwrap();
        assert_eq!(d.status().map(|s| s.as_str()), Some("UPDATING"), "switch {i}");
        let now = db.describe_table().table_name("Switching").send().await.unwrap();
        let now = now.table().unwrap().sse_description();
        match (i, arn) {
            (3, _) => assert!(now.is_none(), "back on the owned key"),
            (_, Some(arn)) => assert_eq!(now.unwrap().kms_master_key_arn(), Some(arn), "switch {i}"),
            (_, None) => assert!(now.unwrap().kms_master_key_arn().unwrap().contains(":key/")),
        }
    }
    // Once switched away, the old keys' grants are retired and disabling them changes nothing.
    for arn in [&first_arn, &second_arn] {
        let grants = kms.list_grants().key_id(arn).send().await.unwrap();
        assert!(grants.grants().is_empty(), "{arn}");
        kms.disable_key().key_id(arn).send().await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert!(total > 20, "{total} writes during the switches");
    let scanned = db
        .scan()
        .table_name("Switching")
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count() as u64, total);

    // The same key again, and the owned key again, are refused as DynamoDB refuses them.
    let err = db
        .update_table()
        .table_name("Switching")
        .sse_specification(SseSpecification::builder().enabled(false).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Table is already encrypted by default")
    );
    let err = db
        .update_table()
        .table_name("Switching")
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .billing_mode(BillingMode::Provisioned)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request")
    );
    srv.assert_not_at_rest("SWITCH-MARKER");
}

/// Waits (up to 5 s) until DescribeTable shows `status`; returns the description.
async fn await_status(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    status: &str,
) -> aws_sdk_dynamodb::types::TableDescription {
    for _ in 0..100 {
        let d = db.describe_table().table_name(table).send().await.unwrap();
        let t = d.table().unwrap().clone();
        if t.table_status().map(|s| s.as_str()) == Some(status) {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{table} never became {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_key_makes_the_table_inaccessible_until_access_returns() {
    let srv = Server::start_with(&["--table-key-cache-ttl", "200ms", "--key-health-interval", "200ms"]);
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    create(&db, "Fragile", Some(cmk(&arn))).await.unwrap();
    db.put_item()
        .table_name("Fragile")
        .item("id", s("kept"))
        .send()
        .await
        .unwrap();

    // Disabled: the health check notices without any request touching the table.
    kms.disable_key().key_id(&arn).send().await.unwrap();
    let t = await_status(&db, "Fragile", "INACCESSIBLE_ENCRYPTION_CREDENTIALS").await;
    let sse = t.sse_description().unwrap();
    assert!(sse.inaccessible_encryption_date_time().is_some());
    assert_eq!(
        sse.status().map(|s| s.as_str()),
        Some("ENABLED"),
        "the SSE status itself stays ENABLED"
    );
    kms.enable_key().key_id(&arn).send().await.unwrap();
    let t = await_status(&db, "Fragile", "ACTIVE").await;
    assert!(t
        .sse_description()
        .unwrap()
        .inaccessible_encryption_date_time()
        .is_none());
    let got = db
        .get_item()
        .table_name("Fragile")
        .key("id", s("kept"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_some());

    // Pending deletion, then cancelled and enabled again: all data back.
    kms.schedule_key_deletion()
        .key_id(&arn)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    await_status(&db, "Fragile", "INACCESSIBLE_ENCRYPTION_CREDENTIALS").await;
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let err = db
        .get_item()
        .table_name("Fragile")
        .key("id", s("kept"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .starts_with("KMS validation error: com.amazonaws.services.kms.model.KMSInvalidStateException:"),
        "{:?}",
        err.message()
    );
    kms.cancel_key_deletion().key_id(&arn).send().await.unwrap();
    kms.enable_key().key_id(&arn).send().await.unwrap();
    await_status(&db, "Fragile", "ACTIVE").await;
    let got = db
        .get_item()
        .table_name("Fragile")
        .key("id", s("kept"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_some());

    // A revoked grant: DynamoDB itself can no longer use the key.
    let grants = kms.list_grants().key_id(&arn).send().await.unwrap();
    let grant_id = grants.grants()[0].grant_id().unwrap().to_owned();
    kms.revoke_grant()
        .key_id(&arn)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    await_status(&db, "Fragile", "INACCESSIBLE_ENCRYPTION_CREDENTIALS").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_keys_shows_each_tables_hierarchy_without_key_material() {
    let mut srv = Server::start();
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    create(&db, "Plain", None).await.unwrap();
    create(&db, "Guarded", Some(cmk(&arn))).await.unwrap();
    db.put_item()
        .table_name("Guarded")
        .item("id", s("INSPECT-MARKER"))
        .send()
        .await
        .unwrap();
    // A backup flushes the table, so it has a sorted file to show.
    db.create_backup()
        .table_name("Guarded")
        .backup_name("inspect")
        .send()
        .await
        .unwrap();
    let grant = kms.list_grants().key_id(&arn).send().await.unwrap().grants()[0]
        .grant_id()
        .unwrap()
        .to_owned();
    let inspect = |srv: &Server| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args(["inspect", "keys", "--data-dir"])
            .arg(&srv.data_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = inspect(&srv);
    assert!(text.contains("table Plain"), "{text}");
    assert!(text.contains("KMS key: the AWS owned key"), "{text}");
    assert!(text.contains(&format!("KMS key: {arn} (Customer managed)")), "{text}");
    assert!(text.contains(&format!("grant: {grant}")), "{text}");
    assert_eq!(text.matches("data keys wrapped under it").count(), 2, "{text}");
    assert_eq!(text.matches("not shown while a server runs").count(), 2, "{text}");

    // With the directory to itself, inspect opens each table through KMS and shows its files.
    let decrypts_before = trail(&srv, "Decrypt").await.len();
    srv.terminate();
    let text = inspect(&srv);
    let guarded = &text[text.find("table Guarded").unwrap()..];
    let guarded = &guarded[..guarded[1..].find("\ntable ").map_or(guarded.len(), |i| i + 1)];
    let structures = guarded
        .split("structures and the data keys")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(structures.contains("base: data key "), "{text}");
    assert!(structures.contains("(write-ahead log)"), "{text}");
    assert!(guarded.contains(".sst (sorted table, level 0: base)"), "{text}");
    assert!(guarded.contains(".manifest (manifest)"), "{text}");
    assert!(!text.contains("INSPECT-MARKER"), "{text}");
    // Every data key named for a file is one of the registry's.
    let registry: Vec<&str> = guarded
        .lines()
        .find_map(|l| l.split("data keys wrapped under it (").nth(1))
        .and_then(|l| l.split("): ").nth(1))
        .unwrap()
        .split(", ")
        .collect();
    for line in guarded.lines().filter(|l| l.trim_start().starts_with("data key ")) {
        let id = line.trim_start()["data key ".len()..].split(':').next().unwrap();
        assert!(registry.contains(&id), "{id} not in {registry:?}: {text}");
    }
    // Its Decrypt of the table key is in the trail like any other call.
    srv.start_again();
    let decrypts = trail(&srv, "Decrypt").await;
    assert!(decrypts.len() > decrypts_before, "{decrypts:?}");
    assert_eq!(decrypts[0]["resources"][0]["ARN"], arn.as_str(), "{}", decrypts[0]);

    // A disabled key is the refusal, not the files.
    srv.kms(srv.root()).disable_key().key_id(&arn).send().await.unwrap();
    srv.terminate();
    let text = inspect(&srv);
    let guarded = &text[text.find("table Guarded").unwrap()..];
    assert!(guarded.contains("the table could not be opened: "), "{text}");
    assert!(guarded.contains("DisabledException"), "{text}");
}

/// The client-side library the seed mentions, on a Strongroom table under a customer managed key:
/// encrypted on the client with a data key from Strongroom's KMS, then encrypted at rest again by the table.
#[tokio::test(flavor = "multi_thread")]
async fn the_dynamodb_encryption_client_for_python_works_against_strongroom() {
    let srv = Server::start();
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    create(&db, "ClientSide", Some(cmk(&arn))).await.unwrap();
    let out = python(&srv, "ddb_encryption_client.py", &["ClientSide", &arn]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["round_trip"], true, "{v}");
    assert_eq!(v["stored_encrypted"], true, "{v}");
    assert_eq!(v["signed"], true, "{v}");
    assert_eq!(v["key_in_clear_for_dynamodb"], true, "{v}");
    srv.assert_not_at_rest("CLIENT-SIDE-MARKER");
    srv.assert_not_at_rest("client-side");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_switches_are_limited_except_to_the_owned_key() {
    let srv = Server::start();
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let a = new_key_arn(&kms).await;
    let b = new_key_arn(&kms).await;
    create(&db, "Limited", None).await.unwrap();
    let switch = |sse: SseSpecification| db.update_table().table_name("Limited").sse_specification(sse).send();
    for key in [&a, &b, &a, &b] {
        switch(cmk(key)).await.unwrap();
    }
    let err = switch(cmk(&a)).await.unwrap_err();
    assert_eq!(err.code(), Some("LimitExceededException"));
    switch(SseSpecification::builder().enabled(false).build())
        .await
        .unwrap();
    let err = switch(SseSpecification::builder().enabled(true).build())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("LimitExceededException"));
    // Every grant but the current key's was retired along the way; on the owned key, none is left.
    for key in [&a, &b] {
        assert!(kms.list_grants().key_id(key).send().await.unwrap().grants().is_empty());
    }
}

/// The table-key cache remembers each principal apart: root's recent access does not let a user in whom
/// the key does not allow, and that user's refusal does not make the table inaccessible.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_the_key_does_not_allow_gets_access_denied_whatever_others_did() {
    let mut srv = Server::start();
    let kms = srv.kms(srv.root());
    let db = srv.dynamodb(srv.root());
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    create(&db, "Private", Some(cmk(&arn))).await.unwrap();
    db.put_item()
        .table_name("Private")
        .item("id", s("x"))
        .send()
        .await
        .unwrap();
    let dynamo_only =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}]}"#;
    let with_key = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}},
            {{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{arn}",
              "Condition":{{"StringEquals":{{"kms:ViaService":"dynamodb.{REGION}.amazonaws.com"}}}}}}]}}"#
    );
    let outsider_creds = srv.user("outsider", Some(dynamo_only)).await;
    let outsider = srv.dynamodb(outsider_creds.clone());
    let insider = srv.dynamodb(srv.user("insider", Some(&with_key)).await);
    let err = outsider
        .get_item()
        .table_name("Private")
        .key("id", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(
        err.message()
            .unwrap()
            .starts_with("KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: "),
        "{:?}",
        err.message()
    );
    let got = insider
        .get_item()
        .table_name("Private")
        .key("id", s("x"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_some());
    let d = db.describe_table().table_name("Private").send().await.unwrap();
    assert_eq!(d.table().unwrap().table_status().map(|s| s.as_str()), Some("ACTIVE"));
    // The refused Decrypt is in the trail as the outsider's, through DynamoDB.
    let refused = trail(&srv, "Decrypt")
        .await
        .into_iter()
        .find(|r| r["errorCode"] == "AccessDeniedException")
        .unwrap();
    assert_eq!(refused["userIdentity"]["userName"], "outsider");
    assert_eq!(refused["userIdentity"]["invokedBy"], "dynamodb.amazonaws.com");

    // After a restart the outsider may be the first to touch the table: refused, and the table stays ACTIVE.
    srv.restart();
    let outsider = srv.dynamodb(outsider_creds);
    let err = outsider
        .get_item()
        .table_name("Private")
        .key("id", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let d = srv
        .dynamodb(srv.root())
        .describe_table()
        .table_name("Private")
        .send()
        .await
        .unwrap();
    assert_eq!(d.table().unwrap().table_status().map(|s| s.as_str()), Some("ACTIVE"));
    let got = srv
        .dynamodb(srv.root())
        .get_item()
        .table_name("Private")
        .key("id", s("x"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_some());
}
