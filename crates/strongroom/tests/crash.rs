//! The server killed (SIGKILL) again and again under mixed write load — puts, deletes, transactions
//! across two tables, a global index and a stream being maintained, key switches — and after every restart:
//! each acknowledged write is there (or a later one that may have landed), no transaction is half applied,
//! the index matches its table, and the stream holds exactly one record per change, in order per item.
//! `STRONGROOM_CRASH_ROUNDS` sets the number of kills (CI runs the default; the long run is 50).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndex, Projection, ProjectionType, Put, ScalarAttributeType, SseSpecification,
    StreamSpecification, StreamViewType, TransactWriteItem,
};
use aws_sdk_dynamodbstreams::types::{AttributeValue as SAttr, ShardIteratorType};
use common::*;

const WRITERS: usize = 6;
const KEYS_PER_WRITER: usize = 6;

async fn setup(db: &aws_sdk_dynamodb::Client) -> String {
    let out = db
        .create_table()
        .table_name("Accts")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_def("id"))
        .attribute_definitions(string_def("owner"))
        .key_schema(hash_key("id"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_owner")
                .key_schema(hash_key("owner"))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    create_table(db, "Audit", ("id", ScalarAttributeType::S), None).await;
    out.table_description().unwrap().latest_stream_arn().unwrap().to_owned()
}

/// What one writer sent to one key, in order: the value (none for a delete) and whether it was
/// acknowledged.
type History = BTreeMap<String, Vec<(Option<String>, bool)>>;

async fn writer(db: aws_sdk_dynamodb::Client, w: usize, round: usize) -> History {
    let mut history = History::new();
    for i in 0.. {
        let slot = i % KEYS_PER_WRITER;
        let value = format!("r{round}-w{w}-{i}");
        let outcome = match i % 5 {
            // A transaction: the same value in both tables, under its own keys.
            0 | 1 => {
                let key = format!("t{w}-{slot}");
                let put = |table: &str| {
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(table)
                                .item("id", s(&key))
                                .item("owner", s(&format!("o{}", i % 3)))
                                .item("v", s(&value))
                                .build()
                                .unwrap(),
                        )
                        .build()
                };
                let entry = history.entry(key.clone()).or_default();
                entry.push((Some(value.clone()), false));
                let r = db
                    .transact_write_items()
                    .transact_items(put("Accts"))
                    .transact_items(put("Audit"))
                    .send()
                    .await;
                (key, r.is_ok(), r.err().map(|e| format!("{e:?}")))
            }
            4 => {
                let key = format!("k{w}-{slot}");
                history.entry(key.clone()).or_default().push((None, false));
                let r = db.delete_item().table_name("Accts").key("id", s(&key)).send().await;
                (key, r.is_ok(), r.err().map(|e| format!("{e:?}")))
            }
            _ => {
                let key = format!("k{w}-{slot}");
                history
                    .entry(key.clone())
                    .or_default()
                    .push((Some(value.clone()), false));
                let r = db
                    .put_item()
                    .table_name("Accts")
                    .item("id", s(&key))
                    .item("owner", s(&format!("o{}", i % 3)))
                    .item("v", s(&value))
                    .send()
                    .await;
                (key, r.is_ok(), r.err().map(|e| format!("{e:?}")))
            }
        };
        let (key, ok, err) = outcome;
        if ok {
            if let Some(last) = history.get_mut(&key).and_then(|h| h.last_mut()) {
                last.1 = true;
            }
        } else if err.as_deref().is_some_and(|e| e.contains("TransactionConflict")) {
            continue;
        } else {
            // The server is gone.
            return history;
        }
    }
    history
}

/// The value a key may hold after the kill: the last acknowledged one, or any sent after it.
fn allowed(past: &[(Option<String>, bool)], before: &Option<String>) -> Vec<Option<String>> {
    let last_acked = past.iter().rposition(|(_, acked)| *acked);
    let mut out = vec![match last_acked {
        Some(i) => past[i].0.clone(),
        None => before.clone(),
    }];
    let from = last_acked.map_or(0, |i| i + 1);
    out.extend(past[from..].iter().map(|(v, _)| v.clone()));
    out
}

async fn value(db: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> Option<String> {
    db.get_item()
        .table_name(table)
        .key("id", s(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .map(|i| i["v"].as_s().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn kills_under_mixed_load_lose_nothing_acknowledged_and_half_apply_nothing() {
    let rounds: usize = std::env::var("STRONGROOM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let arn = setup(&db).await;
    let key_id = new_key_arn(&srv.kms(srv.root())).await;
    // What each key held when the round began.
    let mut state: HashMap<String, Option<String>> = HashMap::new();
    let mut records_seen = 0;
    for round in 0..rounds {
        let db = srv.dynamodb(srv.root());
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(db.clone(), w, round)))
            .collect();
        // Now and then the table's key is switched while the writes go on.
        if round % 4 == 0 || round % 4 == 2 {
            let sse = if round % 4 == 0 {
                kms_sse(&key_id)
            } else {
                SseSpecification::builder().enabled(false).build()
            };
            let db = db.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = db
                    .update_table()
                    .table_name("Accts")
                    .sse_specification(sse)
                    .send()
                    .await;
            });
        }
        tokio::time::sleep(Duration::from_millis(150 + 37 * (round as u64 % 5))).await;
        srv.restart();
        let mut histories = History::new();
        for w in writers {
            histories.extend(w.await.unwrap());
        }
        assert!(
            histories.values().flatten().any(|(_, acked)| *acked),
            "round {round}: writes were acknowledged"
        );

        let db = srv.dynamodb(srv.root());
        for (key, past) in &histories {
            let before = state.get(key).cloned().flatten();
            let now = value(&db, "Accts", key).await;
            assert!(
                allowed(past, &before).contains(&now),
                "round {round}: {key} holds {now:?}, which no acknowledged write explains ({past:?})"
            );
            if key.starts_with('t') {
                assert_eq!(
                    value(&db, "Audit", key).await,
                    now,
                    "round {round}: transaction on {key} half applied"
                );
            }
            state.insert(key.clone(), now);
        }

        // The index holds exactly the table's items.
        let scan = db
            .scan()
            .table_name("Accts")
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let mut table: Vec<(String, String)> = scan
            .items()
            .iter()
            .map(|i| (i["id"].as_s().unwrap().clone(), i["v"].as_s().unwrap().clone()))
            .collect();
        table.sort();
        let mut indexed = Vec::new();
        for o in 0..3 {
            let q = db
                .query()
                .table_name("Accts")
                .index_name("by_owner")
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":o", s(&format!("o{o}")))
                .send()
                .await
                .unwrap();
            indexed.extend(
                q.items()
                    .iter()
                    .map(|i| (i["id"].as_s().unwrap().clone(), i["v"].as_s().unwrap().clone())),
            );
        }
        indexed.sort();
        assert_eq!(indexed, table, "round {round}: the index");

        // The stream: each item's records chain (every old image is the previous new image) and end at
        // what the table holds.
        let st = srv.streams(srv.root());
        let shard = st.describe_stream().stream_arn(&arn).send().await.unwrap();
        let shard = shard.stream_description().unwrap().shards()[0]
            .shard_id()
            .unwrap()
            .to_owned();
        let mut it = st
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_owned);
        let mut model: HashMap<String, HashMap<String, SAttr>> = HashMap::new();
        let mut records = 0;
        while let Some(i) = it {
            let page = st.get_records().shard_iterator(i).send().await.unwrap();
            if page.records().is_empty() {
                break;
            }
            for r in page.records() {
                let d = r.dynamodb().unwrap();
                let SAttr::S(id) = &d.keys().unwrap()["id"] else {
                    panic!()
                };
                assert_eq!(
                    d.old_image().cloned(),
                    model.get(id).cloned(),
                    "round {round}: the chain of {id}"
                );
                match d.new_image() {
                    Some(n) => model.insert(id.clone(), n.clone()),
                    None => model.remove(id),
                };
                records += 1;
            }
            it = page.next_shard_iterator().map(str::to_owned);
        }
        let mut streamed: Vec<(String, String)> = model
            .iter()
            .map(|(id, item)| match &item["v"] {
                SAttr::S(v) => (id.clone(), v.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        streamed.sort();
        assert_eq!(streamed, table, "round {round}: the stream replays to the table");
        assert!(records >= records_seen, "round {round}: records are never lost");
        records_seen = records;
    }
    srv.assert_not_at_rest("r0-w0-");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_between_a_key_switchs_rewrap_and_its_record_leaves_the_table_under_the_new_key() {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_table(&db, "Switching", ("id", ScalarAttributeType::S), None).await;
    db.put_item()
        .table_name("Switching")
        .item("id", s("a"))
        .item("v", s("kept"))
        .send()
        .await
        .unwrap();
    let arn = new_key_arn(&srv.kms(srv.root())).await;
    srv.restart_with_env(&[("STRONGROOM_TEST_CRASH_POINT", "after-rewrap")]);
    let db = srv.dynamodb(srv.root());
    let r = db
        .update_table()
        .table_name("Switching")
        .sse_specification(kms_sse(&arn))
        .send()
        .await;
    assert!(r.is_err(), "the server stops in the middle of the switch");
    srv.restart_with_env(&[]);
    let db = srv.dynamodb(srv.root());
    let t = db.describe_table().table_name("Switching").send().await.unwrap();
    assert_eq!(
        t.table()
            .unwrap()
            .sse_description()
            .and_then(|d| d.kms_master_key_arn()),
        Some(arn.as_str()),
        "the registry was re-wrapped, so the table is under the new key"
    );
    assert_eq!(value(&db, "Switching", "a").await.as_deref(), Some("kept"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_requests_in_flight_finish_and_stops_cleanly() {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_table(&db, "Calm", ("id", ScalarAttributeType::S), None).await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let id = format!("w{w}-{i}");
                    match db.put_item().table_name("Calm").item("id", s(&id)).send().await {
                        Ok(_) => acknowledged.push(id),
                        Err(_) => return acknowledged,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = srv.terminate();
        (srv, status)
    })
    .await
    .unwrap();
    let (mut srv, status) = status;
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(!acknowledged.is_empty());
    srv.start_again();
    let db = srv.dynamodb(srv.root());
    for id in &acknowledged {
        assert!(
            db.get_item()
                .table_name("Calm")
                .key("id", s(id))
                .send()
                .await
                .unwrap()
                .item()
                .is_some(),
            "{id} was acknowledged before the stop"
        );
    }
}

/// `len` letters that compress badly (a linear congruential sequence seeded with `seed`).
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + (x >> 59) as u8 % 26)
        })
        .collect()
}

/// A full disk, then failing fsyncs (injected by the storage layer through `STRONGROOM_TEST_FAULTS`): writes
/// are refused with a server error, never acknowledged without being durable, reads still answer, and after
/// a restart without the fault every acknowledged write is there.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_or_a_failing_fsync_refuses_writes_and_loses_nothing_acknowledged() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    for fault in ["disk-full-after-bytes=300000", "fsync-fails-after=60"] {
        let mut srv = Server::start();
        let db = srv.dynamodb(srv.root());
        create_table(&db, "Faulty", ("id", ScalarAttributeType::S), None).await;
        db.put_item()
            .table_name("Faulty")
            .item("id", s("before"))
            .send()
            .await
            .unwrap();
        srv.restart_with_env(&[("STRONGROOM_TEST_FAULTS", fault)]);
        let db = srv.dynamodb(srv.root());
        let (mut acked, mut refused) = (Vec::new(), 0);
        for i in 0..400 {
            let put = db
                .put_item()
                .table_name("Faulty")
                .item("id", s(&format!("k{i}")))
                .item("v", s(&noise(i, 1000)))
                .send()
                .await;
            match put {
                Ok(_) => acked.push(i),
                Err(e) => {
                    assert_eq!(e.code(), Some("InternalServerError"), "{fault}: {e:?}");
                    refused += 1;
                }
            }
        }
        assert!(refused > 0, "{fault}: nothing refused");
        assert!(!acked.is_empty(), "{fault}: nothing acknowledged");
        let got = db.get_item().table_name("Faulty").key("id", s("before")).send().await;
        assert!(got.unwrap().item().is_some(), "{fault}: reads go on");
        srv.restart_with_env(&[]);
        let db = srv.dynamodb(srv.root());
        for i in &acked {
            let got = db
                .get_item()
                .table_name("Faulty")
                .key("id", s(&format!("k{i}")))
                .send()
                .await
                .unwrap();
            assert!(got.item().is_some(), "{fault}: acknowledged k{i} lost");
        }
        // And the table takes writes again.
        db.put_item()
            .table_name("Faulty")
            .item("id", s("after"))
            .send()
            .await
            .unwrap();
        eprintln!("{fault}: {} acknowledged, {refused} refused, none lost", acked.len());
    }
}
