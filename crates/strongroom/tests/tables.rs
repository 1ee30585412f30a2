//! DynamoDB tables and single items through aws-sdk-dynamodb: the control plane, PutItem/GetItem/DeleteItem,
//! AWS's errors, a restart, and nothing of it in plaintext at rest.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue, ScalarAttributeType,
    TableStatus,
};
use common::*;

async fn create_orders(
    db: &aws_sdk_dynamodb::Client,
    name: &str,
) -> aws_sdk_dynamodb::operation::create_table::CreateTableOutput {
    create_table(
        db,
        name,
        ("customer", ScalarAttributeType::S),
        Some(("order", ScalarAttributeType::N)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_and_items_round_trip_encrypted_and_survive_a_restart() {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let created = create_orders(&db, "Orders-MARKER-TABLE").await;
    let d = created.table_description().unwrap();
    assert_eq!(d.table_status(), Some(&TableStatus::Creating));
    assert_eq!(
        d.table_arn(),
        Some(format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Orders-MARKER-TABLE").as_str())
    );
    assert!(d.sse_description().is_none(), "the owned key shows no SSEDescription");

    let described = db
        .describe_table()
        .table_name("Orders-MARKER-TABLE")
        .send()
        .await
        .unwrap();
    let t = described.table().unwrap();
    assert_eq!(t.table_status(), Some(&TableStatus::Active));
    assert_eq!(t.key_schema().len(), 2);
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let listed = db.list_tables().send().await.unwrap();
    assert_eq!(listed.table_names(), ["Orders-MARKER-TABLE"]);

    let put = db
        .put_item()
        .table_name("Orders-MARKER-TABLE")
        .item("customer", s("MARKER-CUSTOMER"))
        .item("order", n("0042.50"))
        .item("note", s("MARKER-ITEM-NOTE"))
        .item("tags", AttributeValue::Ss(vec!["a".into(), "b".into()]))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert!(put.attributes().is_none(), "nothing was replaced");
    let got = db
        .get_item()
        .table_name("Orders-MARKER-TABLE")
        .key("customer", s("MARKER-CUSTOMER"))
        .key("order", n("42.5"))
        .send()
        .await
        .unwrap();
    let item = got.item().expect("the item");
    assert_eq!(item.get("note"), Some(&s("MARKER-ITEM-NOTE")));
    assert_eq!(item.get("order"), Some(&n("42.5")), "numbers come back normalized");

    srv.restart();
    let db = srv.dynamodb(srv.root());
    let got = db
        .get_item()
        .table_name("Orders-MARKER-TABLE")
        .key("customer", s("MARKER-CUSTOMER"))
        .key("order", n("42.5"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().and_then(|i| i.get("note")), Some(&s("MARKER-ITEM-NOTE")));
    for marker in ["MARKER-CUSTOMER", "MARKER-ITEM-NOTE", "MARKER-TABLE"] {
        srv.assert_not_at_rest(marker);
    }

    let deleted = db
        .delete_item()
        .table_name("Orders-MARKER-TABLE")
        .key("customer", s("MARKER-CUSTOMER"))
        .key("order", n("42.5"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.attributes().and_then(|a| a.get("note")),
        Some(&s("MARKER-ITEM-NOTE"))
    );
    let gone = db
        .get_item()
        .table_name("Orders-MARKER-TABLE")
        .key("customer", s("MARKER-CUSTOMER"))
        .key("order", n("42.5"))
        .send()
        .await
        .unwrap();
    assert!(gone.item().is_none());

    let dropped = db
        .delete_table()
        .table_name("Orders-MARKER-TABLE")
        .send()
        .await
        .unwrap();
    assert_eq!(
        dropped.table_description().and_then(|d| d.table_status()),
        Some(&TableStatus::Deleting)
    );
    assert!(db.list_tables().send().await.unwrap().table_names().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn table_and_item_errors_are_dynamodbs() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_orders(&db, "Errors").await;

    let err = db
        .create_table()
        .table_name("Errors")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("customer")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("customer")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceInUseException"));
    assert_eq!(err.message(), Some("Table already exists: Errors"));

    let err = db.describe_table().table_name("Nope").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some("Requested resource not found: Table: Nope not found")
    );

    let err = db
        .put_item()
        .table_name("Nope")
        .item("customer", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(err.message(), Some("Requested resource not found"));

    let err = db
        .put_item()
        .table_name("Errors")
        .item("customer", s("x"))
        .item("order", s("not a number key"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Type mismatch for key order expected: N actual: S")
    );

    let err = db
        .get_item()
        .table_name("Errors")
        .key("customer", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("The provided key element does not match the schema")
    );

    let err = db
        .put_item()
        .table_name("Errors")
        .item("customer", s("x"))
        .item("order", n("1"))
        .item("tags", AttributeValue::Ss(vec!["a".into(), "a".into()]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Input collection [a, a] contains duplicates.")
    );

    let err = db
        .create_table()
        .table_name("x")
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err
        .message()
        .unwrap_or_default()
        .contains("at 'tableName' failed to satisfy constraint"));
}

#[tokio::test(flavor = "multi_thread")]
async fn table_operations_need_permission() {
    let srv = Server::start();
    let bob = srv.user("bob", None).await;
    let err = srv
        .dynamodb(bob)
        .describe_table()
        .table_name("Anything")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
}

/// An SDK that discovers endpoints must be sent back to this server, never on to AWS: the advertised
/// address is the host the client reached, and a client built on it works.
#[tokio::test(flavor = "multi_thread")]
async fn describe_endpoints_advertises_this_server() {
    let s = Server::start();
    let out = s.dynamodb(s.root()).describe_endpoints().send().await.unwrap();
    let endpoints = out.endpoints();
    assert_eq!(endpoints.len(), 1, "{out:?}");
    assert_eq!(endpoints[0].address(), s.host_port());
    assert_eq!(endpoints[0].cache_period_in_minutes(), 1440);
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(REGION))
        .endpoint_url(format!("http://{}", endpoints[0].address()))
        .credentials_provider(s.root())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
        .list_tables()
        .send()
        .await
        .expect("the advertised endpoint answers");
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_write_and_read_many_items() {
    use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_orders(&db, "Batch").await;
    let put = |i: u32| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .item("customer", s("c"))
                    .item("order", n(&i.to_string()))
                    .item("v", s(&format!("value-{i}")))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let out = db
        .batch_write_item()
        .request_items("Batch", (0..25).map(put).collect())
        .send()
        .await
        .unwrap();
    assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    let err = db
        .batch_write_item()
        .request_items("Batch", (0..26).map(put).collect())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let err = db
        .batch_write_item()
        .request_items("Batch", vec![put(1), put(1)])
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.message(), Some("Provided list of item keys contains duplicates"));
    let delete = WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .key("customer", s("c"))
                .key("order", n("3"))
                .build()
                .unwrap(),
        )
        .build();
    db.batch_write_item()
        .request_items("Batch", vec![delete])
        .send()
        .await
        .unwrap();

    let mut keys = KeysAndAttributes::builder();
    for i in [1u32, 2, 3, 24] {
        keys = keys.keys(
            [("customer".to_owned(), s("c")), ("order".to_owned(), n(&i.to_string()))]
                .into_iter()
                .collect(),
        );
    }
    let got = db
        .batch_get_item()
        .request_items("Batch", keys.build().unwrap())
        .send()
        .await
        .unwrap();
    let mut values: Vec<String> = got.responses().unwrap()["Batch"]
        .iter()
        .map(|item| item["v"].as_s().unwrap().clone())
        .collect();
    values.sort();
    assert_eq!(
        values,
        ["value-1", "value-2", "value-24"],
        "the deleted item is not returned"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_table_and_tags() {
    use aws_sdk_dynamodb::types::{ProvisionedThroughput, Tag};
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let arn = create_orders(&db, "Tunable")
        .await
        .table_description()
        .unwrap()
        .table_arn()
        .unwrap()
        .to_owned();

    let err = db.update_table().table_name("Tunable").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let updated = db
        .update_table()
        .table_name("Tunable")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(7)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let d = updated.table_description().unwrap();
    assert_eq!(d.table_status(), Some(&TableStatus::Updating));
    assert_eq!(
        d.provisioned_throughput().and_then(|p| p.write_capacity_units()),
        Some(7)
    );
    db.update_table()
        .table_name("Tunable")
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    let err = db.delete_table().table_name("Tunable").send().await.unwrap_err();
    assert_eq!(
        err.message(),
        Some("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
    );
    let t = db.describe_table().table_name("Tunable").send().await.unwrap();
    assert_eq!(t.table().and_then(|t| t.deletion_protection_enabled()), Some(true));

    db.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("payments").build().unwrap())
        .tags(Tag::builder().key("env").value("ci").build().unwrap())
        .send()
        .await
        .unwrap();
    db.untag_resource()
        .resource_arn(&arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = db.list_tags_of_resource().resource_arn(&arn).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "payments")]);
    let err = db
        .list_tags_of_resource()
        .resource_arn(format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Missing"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn consumed_capacity_is_counted_as_dynamodb_counts_it() {
    use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_orders(&db, "Metered").await;
    let put = db
        .put_item()
        .table_name("Metered")
        .item("customer", s("c"))
        .item("order", n("1"))
        .item("blob", s(&"x".repeat(1500)))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let c = put.consumed_capacity().unwrap();
    assert_eq!(
        (c.table_name(), c.capacity_units()),
        (Some("Metered"), Some(2.0)),
        "1.5 KB is two write units"
    );
    for (consistent, units) in [(true, 1.0), (false, 0.5)] {
        let got = db
            .get_item()
            .table_name("Metered")
            .key("customer", s("c"))
            .key("order", n("1"))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
            .await
            .unwrap();
        let c = got.consumed_capacity().unwrap();
        assert_eq!(c.capacity_units(), Some(units));
        assert_eq!(c.table().and_then(|t| t.capacity_units()), Some(units));
    }
    let plain = db
        .get_item()
        .table_name("Metered")
        .key("customer", s("c"))
        .key("order", n("1"))
        .send()
        .await
        .unwrap();
    assert!(plain.consumed_capacity().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn scans_page_by_limit_and_size_and_split_into_segments() {
    use aws_sdk_dynamodb::types::Select;
    use std::collections::{BTreeSet, HashMap};
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_orders(&db, "Scanned").await;
    for i in 0..300u32 {
        db.put_item()
            .table_name("Scanned")
            .item("customer", s(&format!("c{}", i % 40)))
            .item("order", n(&i.to_string()))
            .send()
            .await
            .unwrap();
    }
    let id = |item: &HashMap<String, AttributeValue>| item["order"].as_n().unwrap().clone();
    // Pages of 70 cover every item once.
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name("Scanned")
            .limit(70)
            .set_exclusive_start_key(start.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.items().iter().map(id));
        assert!(page.count() <= 70);
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!((seen.len(), unique.len()), (300, 300));
    // Four segments split the table without overlap.
    let mut union = BTreeSet::new();
    for seg in 0..4 {
        let page = db
            .scan()
            .table_name("Scanned")
            .segment(seg)
            .total_segments(4)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            assert!(union.insert(id(item)), "an item in two segments");
        }
    }
    assert_eq!(union, unique);
    let counted = db
        .scan()
        .table_name("Scanned")
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!((counted.count(), counted.items().len()), (300, 0));
    let err = db
        .scan()
        .table_name("Scanned")
        .segment(4)
        .total_segments(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));

    // A page stops at 1 MB of items.
    create_orders(&db, "Big").await;
    for i in 0..15u32 {
        db.put_item()
            .table_name("Big")
            .item("customer", s("c"))
            .item("order", n(&i.to_string()))
            .item("blob", s(&"y".repeat(100_000)))
            .send()
            .await
            .unwrap();
    }
    let page = db.scan().table_name("Big").send().await.unwrap();
    assert!(
        page.count() < 15 && page.count() >= 10,
        "{} items in the first page",
        page.count()
    );
    assert!(page.last_evaluated_key().is_some());
}

/// A PROVISIONED table keyed by `id` with `units` read and write capacity units.
async fn create_provisioned(db: &aws_sdk_dynamodb::Client, name: &str, units: i64) {
    use aws_sdk_dynamodb::types::ProvisionedThroughput;
    let throughput = ProvisionedThroughput::builder()
        .read_capacity_units(units)
        .write_capacity_units(units)
        .build()
        .unwrap();
    db.create_table()
        .table_name(name)
        .attribute_definitions(string_def("id"))
        .key_schema(hash_key("id"))
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioned_throughput_is_enforced_when_asked_for() {
    let srv = Server::start_with(&["--enforce-provisioned-throughput"]);
    let db = srv.dynamodb(srv.root());
    create_provisioned(&db, "Provisioned", 1).await;
    let put = |id: &str| db.put_item().table_name("Provisioned").item("id", s(id)).send();
    let pause = |ms: u64| tokio::time::sleep(std::time::Duration::from_millis(ms));
    // One second's capacity to start with: one 1 KB write, then the table is throttled.
    put("a").await.unwrap();
    let err = put("b").await.unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));
    assert_eq!(
        err.message(),
        Some("The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
    );
    // A larger write pays for what it wrote: 3 KB leaves the bucket two units short.
    pause(1100).await;
    db.put_item()
        .table_name("Provisioned")
        .item("id", s("big"))
        .item("v", s(&"x".repeat(3000)))
        .send()
        .await
        .unwrap();
    pause(1100).await;
    assert!(put("c").await.is_err(), "still paying for the 3 KB write");
    // Reads have a bucket of their own; once refilled, writes go on.
    db.get_item()
        .table_name("Provisioned")
        .key("id", s("a"))
        .send()
        .await
        .unwrap();
    pause(2100).await;
    put("d").await.unwrap();
    // An on-demand table is never throttled.
    create_table(&db, "OnDemand", ("id", ScalarAttributeType::S), None).await;
    for i in 0..50 {
        db.put_item()
            .table_name("OnDemand")
            .item("id", s(&i.to_string()))
            .send()
            .await
            .unwrap();
    }
}

/// A batch on a throttled table does what the table admits and hands back the rest, as sent, for the
/// caller to retry; only a batch of which nothing could be done fails. A transaction is cancelled.
#[tokio::test(flavor = "multi_thread")]
async fn throttled_batches_return_what_they_could_not_do() {
    use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
    let srv = Server::start_with(&["--enforce-provisioned-throughput"]);
    let db = srv.dynamodb(srv.root());
    // One unit a second and one second of it to start with, for reads and for writes apart: slow enough
    // that a busy machine's delays between these calls do not refill a bucket.
    create_provisioned(&db, "Batched", 1).await;

    // Reads: half a unit each (eventually consistent, found or not), so two of six keys; the other four
    // come back with the projection they were sent with.
    let keys = KeysAndAttributes::builder()
        .set_keys(Some(
            (0..6).map(|i| [("id".to_owned(), s(&i.to_string()))].into()).collect(),
        ))
        .projection_expression("id")
        .build()
        .unwrap();
    let out = db.batch_get_item().request_items("Batched", keys).send().await.unwrap();
    let again = out
        .unprocessed_keys()
        .unwrap()
        .get("Batched")
        .cloned()
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(again.keys().len(), 4, "{out:?}");
    assert_eq!(again.projection_expression(), Some("id"));
    // Nothing admitted at all: the batch fails.
    let err = db
        .batch_get_item()
        .request_items("Batched", again)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));

    // Writes: a unit each, so one of five.
    let put = |id: &str| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().item("id", s(id)).build().unwrap())
            .build()
    };
    let out = db
        .batch_write_item()
        .request_items("Batched", (0..5).map(|i| put(&i.to_string())).collect())
        .send()
        .await
        .unwrap();
    let left = out.unprocessed_items().unwrap()["Batched"].clone();
    assert_eq!(left, (1..5).map(|i| put(&i.to_string())).collect::<Vec<_>>());
    let err = db
        .batch_write_item()
        .request_items("Batched", left.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));
    // A second later, one more goes through.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = db
        .batch_write_item()
        .request_items("Batched", left)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.unprocessed_items().unwrap().get("Batched").map(Vec::len),
        Some(3),
        "{out:?}"
    );
    // A transactional write needs two units; the bucket holds less than one.
    let put_tx = aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .put(
            aws_sdk_dynamodb::types::Put::builder()
                .table_name("Batched")
                .item("id", s("tx"))
                .build()
                .unwrap(),
        )
        .build();
    let err = db
        .transact_write_items()
        .transact_items(put_tx)
        .send()
        .await
        .unwrap_err();
    let reasons = match err.into_service_error() {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => {
            e.cancellation_reasons().to_vec()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(reasons[0].code(), Some("ProvisionedThroughputExceeded"), "{reasons:?}");
    assert_eq!(
        reasons[0].message(),
        Some("The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
    );
}

/// A global index of a PROVISIONED table has capacity of its own: writes that need it and Queries of it
/// are throttled by it, naming it in ThrottlingReasons, while the table's own reads go on.
#[tokio::test(flavor = "multi_thread")]
async fn a_global_index_has_throughput_of_its_own() {
    use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput};
    let srv = Server::start_with(&["--enforce-provisioned-throughput"]);
    let db = srv.dynamodb(srv.root());
    let units = |n| {
        ProvisionedThroughput::builder()
            .read_capacity_units(n)
            .write_capacity_units(n)
            .build()
            .unwrap()
    };
    db.create_table()
        .table_name("Indexed")
        .attribute_definitions(string_def("id"))
        .attribute_definitions(string_def("owner"))
        .key_schema(hash_key("id"))
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(100))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("ByOwner")
                .key_schema(hash_key("owner"))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .provisioned_throughput(units(1))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Queries of the index are the index's: half a unit each of its one a second, so two, then refused
    // (first, so the calls between the buckets' start and the refusal are as few as can be).
    let query = || {
        db.query()
            .table_name("Indexed")
            .index_name("ByOwner")
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", s("ann"))
            .send()
    };
    query().await.unwrap();
    query().await.unwrap();
    let err = query().await.unwrap_err();
    let e = match err.into_service_error() {
        aws_sdk_dynamodb::operation::query::QueryError::ProvisionedThroughputExceededException(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        e.throttling_reasons()[0].reason(),
        Some("IndexReadProvisionedThroughputExceeded")
    );
    // One write unit a second for the index: the first write fills it, the next is refused for it.
    let put = |id: &str| {
        db.put_item()
            .table_name("Indexed")
            .item("id", s(id))
            .item("owner", s("ann"))
            .send()
    };
    put("a").await.unwrap();
    let err = put("b").await.unwrap_err();
    let e = match err.into_service_error() {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ProvisionedThroughputExceededException(e) => e,
        other => panic!("{other:?}"),
    };
    assert!(e.message().unwrap().contains("global secondary indexes"), "{e:?}");
    let reason = &e.throttling_reasons()[0];
    assert_eq!(reason.reason(), Some("IndexWriteProvisionedThroughputExceeded"));
    assert!(
        reason.resource().unwrap().ends_with(":table/Indexed/index/ByOwner"),
        "{reason:?}"
    );
    // Reads of the table are the table's: they go on.
    for _ in 0..5 {
        db.get_item()
            .table_name("Indexed")
            .key("id", s("a"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioned_throughput_is_not_enforced_by_default() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_provisioned(&db, "Provisioned", 1).await;
    for i in 0..20 {
        db.put_item()
            .table_name("Provisioned")
            .item("id", s(&i.to_string()))
            .send()
            .await
            .unwrap();
    }
}
