//! Secondary indexes through aws-sdk-dynamodb: local and global indexes with each projection, sparse
//! entries, index keys of the wrong type, moved and removed entries, pagination, DynamoDB's refusals, a
//! global index added to a populated table and backfilled while writes continue, and index entries that
//! are as encrypted at rest as the items.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement,
    KeyType, LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, Select,
};
use common::*;

fn def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .unwrap()
}

fn key(name: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .unwrap()
}

fn projection(t: ProjectionType, include: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(t);
    for a in include {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

/// Orders by customer and order id, with a local index by time placed (KEYS_ONLY), a global index by
/// state and time (INCLUDE o_total) and a global index by note (ALL).
async fn orders_table(db: &aws_sdk_dynamodb::Client) {
    db.create_table()
        .table_name("Orders")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("cust", ScalarAttributeType::S))
        .attribute_definitions(def("ord", ScalarAttributeType::S))
        .attribute_definitions(def("placed", ScalarAttributeType::N))
        .attribute_definitions(def("o_state", ScalarAttributeType::S))
        .attribute_definitions(def("o_note", ScalarAttributeType::S))
        .key_schema(key("cust", KeyType::Hash))
        .key_schema(key("ord", KeyType::Range))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_placed")
                .key_schema(key("cust", KeyType::Hash))
                .key_schema(key("placed", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_state")
                .key_schema(key("o_state", KeyType::Hash))
                .key_schema(key("placed", KeyType::Range))
                .projection(projection(ProjectionType::Include, &["o_total"]))
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_note")
                .key_schema(key("o_note", KeyType::Hash))
                .projection(projection(ProjectionType::All, &[]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

type Item = HashMap<String, AttributeValue>;

fn names(items: &[Item]) -> Vec<BTreeSet<String>> {
    items.iter().map(|i| i.keys().cloned().collect()).collect()
}

fn set(attrs: &[&str]) -> BTreeSet<String> {
    attrs.iter().map(|s| s.to_string()).collect()
}

fn ords(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i["ord"].as_s().unwrap().clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn local_and_global_indexes_answer_with_their_projections() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders_table(&db).await;
    for (i, placed) in [50, 40, 30, 20, 10].iter().enumerate() {
        let mut put = db
            .put_item()
            .table_name("Orders")
            .item("cust", s("c1"))
            .item("ord", s(&format!("o{i}")))
            .item("placed", n(&placed.to_string()))
            .item("o_total", n(&(i * 100).to_string()))
            .item("o_secret", s("MARKER-INDEX-PROJECTED"));
        // o4 has no state: it is in no index keyed by state (a sparse index).
        if i != 4 {
            put = put.item("o_state", s(if i % 2 == 0 { "open" } else { "shipped" }));
        }
        if i == 0 {
            put = put.item("o_note", s("MARKER-INDEX-KEY"));
        }
        put.send().await.unwrap();
    }

    // The local index: keys only, in placed order, strongly consistent.
    let q = db
        .query()
        .table_name("Orders")
        .index_name("by_placed")
        .key_condition_expression("cust = :c AND placed < :p")
        .expression_attribute_values(":c", s("c1"))
        .expression_attribute_values(":p", n("35"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(ords(q.items()), ["o4", "o3", "o2"]);
    assert_eq!(names(q.items())[0], set(&["cust", "ord", "placed"]));
    // Asking a local index for more than it holds reads the items from the table.
    let q = db
        .query()
        .table_name("Orders")
        .index_name("by_placed")
        .key_condition_expression("cust = :c AND placed BETWEEN :a AND :b")
        .expression_attribute_values(":c", s("c1"))
        .expression_attribute_values(":a", n("20"))
        .expression_attribute_values(":b", n("30"))
        .select(Select::AllAttributes)
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    assert_eq!(ords(q.items()), ["o2", "o3"]);
    assert!(q.items()[0].contains_key("o_secret"));
    let q = db
        .query()
        .table_name("Orders")
        .index_name("by_placed")
        .key_condition_expression("cust = :c")
        .expression_attribute_values(":c", s("c1"))
        .projection_expression("ord, o_total")
        .send()
        .await
        .unwrap();
    assert_eq!(q.items().len(), 5);
    assert_eq!(names(q.items())[0], set(&["ord", "o_total"]));

    // A global index with INCLUDE: its keys, the table's and o_total; nothing else.
    let q = db
        .query()
        .table_name("Orders")
        .index_name("by_state")
        .key_condition_expression("o_state = :s")
        .expression_attribute_values(":s", s("open"))
        .send()
        .await
        .unwrap();
    assert_eq!(ords(q.items()), ["o2", "o0"], "in placed order");
    assert_eq!(
        names(q.items())[0],
        set(&["cust", "ord", "placed", "o_state", "o_total"])
    );
    // A global index with ALL holds whole items.
    let q = db
        .query()
        .table_name("Orders")
        .index_name("by_note")
        .key_condition_expression("o_note = :n")
        .expression_attribute_values(":n", s("MARKER-INDEX-KEY"))
        .send()
        .await
        .unwrap();
    assert_eq!(ords(q.items()), ["o0"]);
    assert_eq!(q.items()[0]["o_secret"], s("MARKER-INDEX-PROJECTED"));

    // An update that changes the index key moves the entry (and is charged for it in each index it
    // changes); a delete removes it.
    let out = db
        .update_item()
        .table_name("Orders")
        .key("cust", s("c1"))
        .key("ord", s("o0"))
        .update_expression("SET o_state = :s")
        .expression_attribute_values(":s", s("shipped"))
        .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let c = out.consumed_capacity().unwrap();
    assert_eq!(c.table().unwrap().capacity_units(), Some(1.0));
    let gsi = c.global_secondary_indexes().unwrap();
    assert_eq!(
        gsi["by_state"].capacity_units(),
        Some(2.0),
        "one entry removed, one written"
    );
    assert_eq!(
        gsi["by_note"].capacity_units(),
        Some(1.0),
        "the whole item it holds changed"
    );
    assert!(c.local_secondary_indexes().is_none(), "by_placed did not change");
    assert_eq!(c.capacity_units(), Some(4.0));
    db.delete_item()
        .table_name("Orders")
        .key("cust", s("c1"))
        .key("ord", s("o1"))
        .send()
        .await
        .unwrap();
    let by_state = |state: &'static str| {
        let db = db.clone();
        async move {
            let q = db
                .query()
                .table_name("Orders")
                .index_name("by_state")
                .key_condition_expression("o_state = :s")
                .expression_attribute_values(":s", s(state))
                .send()
                .await
                .unwrap();
            ords(q.items())
        }
    };
    assert_eq!(by_state("open").await, ["o2"]);
    assert_eq!(by_state("shipped").await, ["o3", "o0"]);

    // A scan of an index visits its entries only.
    let scan = db
        .scan()
        .table_name("Orders")
        .index_name("by_state")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count(), 3);

    // Pagination through an index: the position names the table's keys and the index's.
    let mut seen = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = db
            .query()
            .table_name("Orders")
            .index_name("by_placed")
            .key_condition_expression("cust = :c")
            .expression_attribute_values(":c", s("c1"))
            .limit(2)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        seen.extend(ords(page.items()));
        match page.last_evaluated_key() {
            Some(k) => {
                assert_eq!(
                    k.keys().cloned().collect::<BTreeSet<_>>(),
                    set(&["cust", "ord", "placed"])
                );
                start = Some(k.clone());
            }
            None => break,
        }
    }
    assert_eq!(seen, ["o4", "o3", "o2", "o0"]);

    // DescribeTable counts each index's entries.
    let t = db.describe_table().table_name("Orders").send().await.unwrap();
    let t = t.table().unwrap();
    let count = |name: &str| {
        t.global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(name))
            .and_then(|g| g.item_count())
    };
    assert_eq!(count("by_state"), Some(3));
    assert_eq!(count("by_note"), Some(1));
    assert_eq!(t.local_secondary_indexes()[0].item_count(), Some(4));

    // A table with a local index reports its item collections when asked.
    let out = db
        .put_item()
        .table_name("Orders")
        .item("cust", s("c1"))
        .item("ord", s("o9"))
        .return_item_collection_metrics(aws_sdk_dynamodb::types::ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .unwrap();
    let m = out.item_collection_metrics().unwrap();
    assert_eq!(m.item_collection_key().unwrap()["cust"], s("c1"));
    assert_eq!(m.size_estimate_range_gb(), [0.0, 1.0]);

    srv.assert_not_at_rest("MARKER-INDEX-KEY");
    srv.assert_not_at_rest("MARKER-INDEX-PROJECTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn index_reads_and_writes_are_refused_as_dynamodb_refuses_them() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders_table(&db).await;
    let err = db
        .put_item()
        .table_name("Orders")
        .item("cust", s("c1"))
        .item("ord", s("o1"))
        .item("o_state", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Type mismatch for Index Key o_state Expected: S Actual: N IndexName: by_state")
    );
    let err = db
        .update_item()
        .table_name("Orders")
        .key("cust", s("c1"))
        .key("ord", s("o1"))
        .update_expression("SET placed = :p")
        .expression_attribute_values(":p", s("soon"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Type mismatch for Index Key placed Expected: N Actual: S IndexName: by_placed")
    );
    let query = |index: &str| {
        db.query()
            .table_name("Orders")
            .index_name(index)
            .key_condition_expression("o_state = :s")
            .expression_attribute_values(":s", s("open"))
    };
    let err = query("nope").send().await.unwrap_err();
    assert_eq!(err.message(), Some("The table does not have the specified index: nope"));
    let err = query("by_state").consistent_read(true).send().await.unwrap_err();
    assert_eq!(
        err.message(),
        Some("Consistent reads are not supported on global secondary indexes")
    );
    let err = query("by_state")
        .select(Select::AllAttributes)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index by_state because its projection type is not ALL")
    );
    let err = query("by_state")
        .key_condition_expression("placed = :s")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Query condition missed key schema element: o_state")
    );
    let err = db
        .scan()
        .table_name("Orders")
        .select(Select::AllProjectedAttributes)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: ALL_PROJECTED_ATTRIBUTES can be used only when Scanning using an IndexName")
    );
}

async fn index_status(db: &aws_sdk_dynamodb::Client, table: &str, index: &str) -> Option<IndexStatus> {
    let t = db.describe_table().table_name(table).send().await.unwrap();
    t.table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some(index))
        .and_then(|g| g.index_status().cloned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_index_added_to_a_populated_table_is_backfilled_while_writes_continue() {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_table(&db, "Events", ("id", ScalarAttributeType::S), None).await;
    const ITEMS: usize = 2000;
    batch_put(&db, "Events", ITEMS, |i| {
        vec![
            ("id", s(&format!("e{i}"))),
            ("grp", s(&format!("g{}", i % 7))),
            ("seq", n(&i.to_string())),
        ]
    })
    .await;

    // Writes go on while the index is added: items move between groups, some go, some come.
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for round in 0..400usize {
                let i = (round * 37) % ITEMS;
                let id = format!("e{i}");
                if round % 5 == 0 {
                    db.delete_item()
                        .table_name("Events")
                        .key("id", s(&id))
                        .send()
                        .await
                        .unwrap();
                } else {
                    db.put_item()
                        .table_name("Events")
                        .item("id", s(&id))
                        .item("grp", s(&format!("g{}", round % 7)))
                        .item("seq", n(&(ITEMS + round).to_string()))
                        .send()
                        .await
                        .unwrap();
                }
            }
        })
    };
    let out = db
        .update_table()
        .table_name("Events")
        .attribute_definitions(def("grp", ScalarAttributeType::S))
        .attribute_definitions(def("seq", ScalarAttributeType::N))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_grp")
                        .key_schema(key("grp", KeyType::Hash))
                        .key_schema(key("seq", KeyType::Range))
                        .projection(projection(ProjectionType::KeysOnly, &[]))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let g = &out.table_description().unwrap().global_secondary_indexes()[0];
    assert_eq!(g.index_status(), Some(&IndexStatus::Creating));
    assert_eq!(g.backfilling(), Some(true));
    writer.await.unwrap();
    for _ in 0..200 {
        if index_status(&db, "Events", "by_grp").await == Some(IndexStatus::Active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(index_status(&db, "Events", "by_grp").await, Some(IndexStatus::Active));

    // The index holds exactly the table's items, each under its current group.
    let check = |db: aws_sdk_dynamodb::Client| async move {
        let mut expected: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut start = None;
        loop {
            let page = db
                .scan()
                .table_name("Events")
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for i in page.items() {
                expected
                    .entry(i["grp"].as_s().unwrap().clone())
                    .or_default()
                    .insert(i["id"].as_s().unwrap().clone());
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        for g in 0..7 {
            let grp = format!("g{g}");
            let q = db
                .query()
                .table_name("Events")
                .index_name("by_grp")
                .key_condition_expression("grp = :g")
                .expression_attribute_values(":g", s(&grp))
                .send()
                .await
                .unwrap();
            let got: BTreeSet<String> = q.items().iter().map(|i| i["id"].as_s().unwrap().clone()).collect();
            assert_eq!(Some(&got), expected.get(&grp), "group {grp}");
            let seqs: Vec<f64> = q
                .items()
                .iter()
                .map(|i| i["seq"].as_n().unwrap().parse().unwrap())
                .collect();
            assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "sorted by seq");
        }
    };
    check(db.clone()).await;

    // The index survives a restart.
    srv.restart();
    let db = srv.dynamodb(srv.root());
    check(db.clone()).await;

    // Deleting it drops it.
    db.update_table()
        .table_name("Events")
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by_grp")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = db
        .query()
        .table_name("Events")
        .index_name("by_grp")
        .key_condition_expression("grp = :g")
        .expression_attribute_values(":g", s("g1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("The table does not have the specified index: by_grp")
    );
    let t = db.describe_table().table_name("Events").send().await.unwrap();
    assert!(t.table().unwrap().global_secondary_indexes().is_empty());
    assert_eq!(t.table().unwrap().attribute_definitions().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn index_entries_survive_a_kill_under_write_load_exactly_as_their_items() {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders_table(&db).await;
    for round in 0..3 {
        let db = srv.dynamodb(srv.root());
        let mut writers = Vec::new();
        for w in 0..8 {
            let db = db.clone();
            writers.push(tokio::spawn(async move {
                let mut acknowledged = 0;
                for i in 0.. {
                    let ord = format!("o{}", (w * 7 + i) % 40);
                    let r = if i % 4 == 3 {
                        db.delete_item()
                            .table_name("Orders")
                            .key("cust", s("c1"))
                            .key("ord", s(&ord))
                            .send()
                            .await
                            .is_ok()
                    } else {
                        db.put_item()
                            .table_name("Orders")
                            .item("cust", s("c1"))
                            .item("ord", s(&ord))
                            .item("placed", n(&format!("{}", round * 1000 + i)))
                            .item("o_state", s(&format!("st{}", i % 3)))
                            .send()
                            .await
                            .is_ok()
                    };
                    if !r {
                        return acknowledged; // The server was killed.
                    }
                    acknowledged += 1;
                }
                acknowledged
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        srv.restart();
        let mut acknowledged = 0;
        for w in writers {
            acknowledged += w.await.unwrap();
        }
        assert!(
            acknowledged > 0,
            "round {round}: writes were under way when the server was killed"
        );
        let db2 = srv.dynamodb(srv.root());
        // Every item is in each index under its current keys, and nothing else is.
        let items = db2
            .query()
            .table_name("Orders")
            .key_condition_expression("cust = :c")
            .expression_attribute_values(":c", s("c1"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items()
            .to_vec();
        let mut expected: Vec<(String, String)> = items
            .iter()
            .map(|i| (i["ord"].as_s().unwrap().clone(), i["placed"].as_n().unwrap().clone()))
            .collect();
        expected.sort();
        let local = db2
            .query()
            .table_name("Orders")
            .index_name("by_placed")
            .key_condition_expression("cust = :c")
            .expression_attribute_values(":c", s("c1"))
            .send()
            .await
            .unwrap();
        let mut got: Vec<(String, String)> = local
            .items()
            .iter()
            .map(|i| (i["ord"].as_s().unwrap().clone(), i["placed"].as_n().unwrap().clone()))
            .collect();
        got.sort();
        assert_eq!(got, expected, "round {round}: the local index");
        let mut global = Vec::new();
        for st in ["st0", "st1", "st2"] {
            let q = db2
                .query()
                .table_name("Orders")
                .index_name("by_state")
                .key_condition_expression("o_state = :s")
                .expression_attribute_values(":s", s(st))
                .send()
                .await
                .unwrap();
            global.extend(
                q.items()
                    .iter()
                    .map(|i| (i["ord"].as_s().unwrap().clone(), i["placed"].as_n().unwrap().clone())),
            );
        }
        global.sort();
        assert_eq!(global, expected, "round {round}: the global index");
    }
}
