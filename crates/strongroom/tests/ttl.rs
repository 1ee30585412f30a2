//! Time to live through aws-sdk-dynamodb: UpdateTimeToLive and DescribeTimeToLive with DynamoDB's refusals,
//! and the background sweeper deleting expired items (and only those), on owned and customer-key tables.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{ScalarAttributeType, TimeToLiveSpecification};
use common::*;

fn ttl(enabled: bool, attribute: &str) -> TimeToLiveSpecification {
    TimeToLiveSpecification::builder()
        .enabled(enabled)
        .attribute_name(attribute)
        .build()
        .unwrap()
}

/// DescribeTimeToLive: the status and the attribute.
async fn ttl_status(db: &aws_sdk_dynamodb::Client, table: &str) -> (Option<String>, Option<String>) {
    let d = db.describe_time_to_live().table_name(table).send().await.unwrap();
    let d = d.time_to_live_description().unwrap();
    (
        d.time_to_live_status().map(|s| s.as_str().to_owned()),
        d.attribute_name().map(str::to_owned),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_items_are_swept_and_only_they() {
    let srv = Server::start_with(&["--ttl-sweep-interval", "200ms", "--ttl-change-cooldown", "0s"]);
    let db = srv.dynamodb(srv.root());
    let kms = srv.kms(srv.root());
    let arn = new_key_arn(&kms).await;
    create_table(&db, "Sessions", ("id", ScalarAttributeType::S), None).await;
    db.create_table()
        .table_name("Guarded")
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .sse_specification(kms_sse(&arn))
        .send()
        .await
        .unwrap();

    assert_eq!(ttl_status(&db, "Sessions").await.0.as_deref(), Some("DISABLED"));
    let err = db
        .update_time_to_live()
        .table_name("Sessions")
        .time_to_live_specification(ttl(false, "expires"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.message(), Some("TimeToLive is already disabled"));
    for table in ["Sessions", "Guarded"] {
        let out = db
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl(true, "expires"))
            .send()
            .await
            .unwrap();
        assert_eq!(out.time_to_live_specification().unwrap().attribute_name(), "expires");
    }
    let err = db
        .update_time_to_live()
        .table_name("Sessions")
        .time_to_live_specification(ttl(true, "other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("TimeToLive is active on a different AttributeName: current AttributeName is expires")
    );
    let (status, attribute) = ttl_status(&db, "Sessions").await;
    assert_eq!(status.as_deref(), Some("ENABLED"));
    assert_eq!(attribute.as_deref(), Some("expires"));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for table in ["Sessions", "Guarded"] {
        for (id, expires) in [
            ("expired", Some(n(&(now - 100).to_string()))),
            ("expired-fraction", Some(n(&format!("{}.5", now - 10)))),
            ("future", Some(n(&(now + 3600).to_string()))),
            ("ancient", Some(n(&(now - 6 * 365 * 86_400).to_string()))),
            ("not-a-number", Some(s("yesterday"))),
            ("none", None),
        ] {
            let mut item = std::collections::HashMap::from([("id".to_owned(), s(id))]);
            if let Some(e) = expires {
                item.insert("expires".to_owned(), e);
            }
            db.put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap();
        }
    }
    for table in ["Sessions", "Guarded"] {
        let mut left = Vec::new();
        for _ in 0..100 {
            let scan = db.scan().table_name(table).send().await.unwrap();
            left = scan
                .items()
                .iter()
                .map(|i| i["id"].as_s().unwrap().clone())
                .collect::<Vec<_>>();
            left.sort();
            if left.len() == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(left, ["ancient", "future", "none", "not-a-number"], "{table}");
    }
    db.update_time_to_live()
        .table_name("Sessions")
        .time_to_live_specification(ttl(false, "expires"))
        .send()
        .await
        .unwrap();
    assert_eq!(ttl_status(&db, "Sessions").await.0.as_deref(), Some("DISABLED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn time_to_live_cannot_change_twice_within_the_cooldown() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_table(&db, "Cooling", ("id", ScalarAttributeType::S), None).await;
    db.update_time_to_live()
        .table_name("Cooling")
        .time_to_live_specification(ttl(true, "expires"))
        .send()
        .await
        .unwrap();
    let err = db
        .update_time_to_live()
        .table_name("Cooling")
        .time_to_live_specification(ttl(false, "expires"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Time to live has been modified multiple times within a fixed interval")
    );
}
