//! DynamoDB Streams through aws-sdk-dynamodb and aws-sdk-dynamodbstreams: every view type, iterator
//! semantics across pages, one record per change under concurrent writers (a consumer reproduces the
//! table), TTL deletions named as DynamoDB's, disabling and re-enabling, and records as encrypted at rest
//! as the items.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{ScalarAttributeType, StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{AttributeValue as SAttr, OperationType, Record, ShardIteratorType};
use common::*;

fn spec(view: Option<StreamViewType>) -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(view.is_some())
        .set_stream_view_type(view)
        .build()
        .unwrap()
}

async fn streamed_table(db: &aws_sdk_dynamodb::Client, name: &str, view: StreamViewType) -> String {
    create_table(db, name, ("id", ScalarAttributeType::S), None).await;
    let out = db
        .update_table()
        .table_name(name)
        .stream_specification(spec(Some(view)))
        .send()
        .await
        .unwrap();
    out.table_description().unwrap().latest_stream_arn().unwrap().to_owned()
}

/// Every record of the stream's one shard from its start, following NextShardIterator `pages` times at
/// most (or until an empty page).
async fn read_all(st: &aws_sdk_dynamodbstreams::Client, arn: &str, limit: i32) -> Vec<Record> {
    let d = st.describe_stream().stream_arn(arn).send().await.unwrap();
    let shard = d.stream_description().unwrap().shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let mut it = st
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(str::to_owned);
    let mut out = Vec::new();
    while let Some(i) = it {
        let page = st.get_records().shard_iterator(i).limit(limit).send().await.unwrap();
        if page.records().is_empty() {
            break;
        }
        out.extend(page.records().iter().cloned());
        it = page.next_shard_iterator().map(str::to_owned);
    }
    out
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sv(v: &str) -> SAttr {
    SAttr::S(v.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_view_type_records_each_change_once_with_its_images() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let st = srv.streams(srv.root());
    for (n, view) in [
        StreamViewType::KeysOnly,
        StreamViewType::NewImage,
        StreamViewType::OldImage,
        StreamViewType::NewAndOldImages,
    ]
    .into_iter()
    .enumerate()
    {
        let table = format!("Views{n}");
        let arn = streamed_table(&db, &table, view.clone()).await;
        let put = |v: &str| {
            db.put_item()
                .table_name(&table)
                .item("id", s("k"))
                .item("v", s(v))
                .send()
        };
        put("MARKER-STREAM-1").await.unwrap();
        put("MARKER-STREAM-2").await.unwrap();
        put("MARKER-STREAM-2").await.unwrap(); // No change: no record.
        db.delete_item()
            .table_name(&table)
            .key("id", s("k"))
            .send()
            .await
            .unwrap();
        db.delete_item()
            .table_name(&table)
            .key("id", s("k"))
            .send()
            .await
            .unwrap(); // Nothing to delete.

        let records = read_all(&st, &arn, 100).await;
        let events: Vec<_> = records.iter().map(|r| r.event_name().cloned().unwrap()).collect();
        assert_eq!(
            events,
            [OperationType::Insert, OperationType::Modify, OperationType::Remove],
            "{view:?}"
        );
        let images = |r: &Record| {
            let d = r.dynamodb().unwrap();
            (
                d.new_image().map(|i| i["v"].clone()),
                d.old_image().map(|i| i["v"].clone()),
            )
        };
        let expected = match view {
            StreamViewType::KeysOnly => [(None, None), (None, None), (None, None)],
            StreamViewType::NewImage => [
                (Some(sv("MARKER-STREAM-1")), None),
                (Some(sv("MARKER-STREAM-2")), None),
                (None, None),
            ],
            StreamViewType::OldImage => [
                (None, None),
                (None, Some(sv("MARKER-STREAM-1"))),
                (None, Some(sv("MARKER-STREAM-2"))),
            ],
            _ => [
                (Some(sv("MARKER-STREAM-1")), None),
                (Some(sv("MARKER-STREAM-2")), Some(sv("MARKER-STREAM-1"))),
                (None, Some(sv("MARKER-STREAM-2"))),
            ],
        };
        assert_eq!(records.iter().map(images).collect::<Vec<_>>(), expected, "{view:?}");
        for r in &records {
            assert_eq!(r.event_source(), Some("aws:dynamodb"));
            assert_eq!(r.event_version(), Some("1.1"));
            assert_eq!(r.aws_region(), Some(REGION));
            assert_eq!(r.event_id().map(str::len), Some(32));
            let d = r.dynamodb().unwrap();
            assert_eq!(d.keys().unwrap()["id"], sv("k"));
            assert_eq!(d.stream_view_type().map(|v| v.as_str()), Some(view.as_str()));
            assert!(d.size_bytes().unwrap() > 0);
            assert!(d.sequence_number().unwrap().len() >= 21);
            assert!(r.user_identity().is_none());
        }
        let seqs: Vec<u128> = records
            .iter()
            .map(|r| r.dynamodb().unwrap().sequence_number().unwrap().parse().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence numbers increase");
    }
    let listed = st.list_streams().send().await.unwrap();
    assert_eq!(listed.streams().len(), 4);
    let d = db.describe_table().table_name("Views3").send().await.unwrap();
    let t = d.table().unwrap();
    assert_eq!(
        t.stream_specification().unwrap().stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert!(t
        .latest_stream_arn()
        .unwrap()
        .ends_with(&format!("table/Views3/stream/{}", t.latest_stream_label().unwrap())));
    srv.assert_not_at_rest("MARKER-STREAM");
}

#[tokio::test(flavor = "multi_thread")]
async fn iterators_resume_where_they_point_and_refuse_what_they_should() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let st = srv.streams(srv.root());
    let arn = streamed_table(&db, "Paged", StreamViewType::KeysOnly).await;
    for i in 0..25 {
        db.put_item()
            .table_name("Paged")
            .item("id", s(&format!("k{i:02}")))
            .send()
            .await
            .unwrap();
    }
    let all = read_all(&st, &arn, 10).await;
    assert_eq!(all.len(), 25, "three pages of at most ten");
    let shard = st.describe_stream().stream_arn(&arn).send().await.unwrap();
    let shard_id = shard.stream_description().unwrap().shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let iterator = |t: ShardIteratorType, seq: Option<&str>| {
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard_id)
            .shard_iterator_type(t)
            .set_sequence_number(seq.map(str::to_owned))
            .send()
    };
    let seq_of = |r: &Record| r.dynamodb().unwrap().sequence_number().unwrap().to_owned();
    let first = |it: String| {
        let st = st.clone();
        async move {
            let page = st.get_records().shard_iterator(it).limit(1).send().await.unwrap();
            page.records()
                .first()
                .map(|r| r.dynamodb().unwrap().keys().unwrap()["id"].clone())
        }
    };
    let at = iterator(ShardIteratorType::AtSequenceNumber, Some(&seq_of(&all[7])))
        .await
        .unwrap();
    assert_eq!(first(at.shard_iterator().unwrap().to_owned()).await, Some(sv("k07")));
    let after = iterator(ShardIteratorType::AfterSequenceNumber, Some(&seq_of(&all[7])))
        .await
        .unwrap();
    assert_eq!(first(after.shard_iterator().unwrap().to_owned()).await, Some(sv("k08")));
    // LATEST sees only what comes after it.
    let latest = iterator(ShardIteratorType::Latest, None).await.unwrap();
    let latest = latest.shard_iterator().unwrap().to_owned();
    assert_eq!(first(latest.clone()).await, None);
    db.put_item()
        .table_name("Paged")
        .item("id", s("late"))
        .send()
        .await
        .unwrap();
    assert_eq!(first(latest).await, Some(sv("late")));

    let err = iterator(ShardIteratorType::AtSequenceNumber, None).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let err = st
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id("shardId-00000000000000000000-00000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let err = st
        .get_records()
        .shard_iterator("not-an-iterator")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    // An iterator is good for 15 minutes: one issued 20 minutes ago (its issue time is part of it) has
    // expired.
    let fresh = iterator(ShardIteratorType::TrimHorizon, None).await.unwrap();
    let fresh = fresh.shard_iterator().unwrap();
    use base64::Engine as _;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(fresh).unwrap()).unwrap();
    let (rest, issued) = text.rsplit_once('|').unwrap();
    let old = format!("{rest}|{}", issued.parse::<i64>().unwrap() - 20 * 60 * 1000);
    let err = st
        .get_records()
        .shard_iterator(base64::engine::general_purpose::STANDARD.encode(old))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ExpiredIteratorException"));
    assert!(err.message().unwrap().starts_with("Iterator expired."), "{err:?}");
    let err = st
        .describe_stream()
        .stream_arn(format!("{arn}x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    // Disabling closes the shard: its records stay readable, the last page has no next iterator, and a new
    // stream starts on re-enabling.
    let err = db
        .update_table()
        .table_name("Paged")
        .stream_specification(spec(Some(StreamViewType::KeysOnly)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Table already has an enabled stream: TableName: Paged")
    );
    db.update_table()
        .table_name("Paged")
        .stream_specification(spec(None))
        .send()
        .await
        .unwrap();
    db.put_item()
        .table_name("Paged")
        .item("id", s("unrecorded"))
        .send()
        .await
        .unwrap();
    let d = st.describe_stream().stream_arn(&arn).send().await.unwrap();
    let d = d.stream_description().unwrap();
    assert_eq!(d.stream_status().map(|s| s.as_str()), Some("DISABLED"));
    let range = d.shards()[0].sequence_number_range().unwrap();
    assert!(range.ending_sequence_number().is_some(), "the shard is closed");
    let it = iterator(ShardIteratorType::TrimHorizon, None).await.unwrap();
    let page = st
        .get_records()
        .shard_iterator(it.shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.records().len(), 26);
    assert!(
        page.next_shard_iterator().is_none(),
        "a closed shard read to its end has no next iterator"
    );
    let err = db
        .update_table()
        .table_name("Paged")
        .stream_specification(spec(None))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.message(), Some("Table has no stream to disable: TableName: Paged"));
    let again = db
        .update_table()
        .table_name("Paged")
        .stream_specification(spec(Some(StreamViewType::NewImage)))
        .send()
        .await
        .unwrap();
    let new_arn = again
        .table_description()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    assert_ne!(new_arn, arn);
    let listed = st.list_streams().table_name("Paged").send().await.unwrap();
    assert_eq!(listed.streams().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_of_the_stream_reproduces_the_table_under_concurrent_writers() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let st = srv.streams(srv.root());
    let arn = streamed_table(&db, "Busy", StreamViewType::NewAndOldImages).await;
    let mut writers = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..40 {
                let id = format!("k{}", (w * 13 + i * 7) % 30);
                if i % 5 == 4 {
                    db.delete_item()
                        .table_name("Busy")
                        .key("id", s(&id))
                        .send()
                        .await
                        .unwrap();
                } else {
                    db.update_item()
                        .table_name("Busy")
                        .key("id", s(&id))
                        .update_expression("SET v = :v ADD n :one")
                        .expression_attribute_values(":v", s(&format!("w{w}-{i}")))
                        .expression_attribute_values(":one", n("1"))
                        .send()
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let records = read_all(&st, &arn, 1000).await;
    // Each item's records chain: every old image is the previous new image, so none is lost or repeated.
    let mut model: HashMap<String, HashMap<String, SAttr>> = HashMap::new();
    for r in &records {
        let d = r.dynamodb().unwrap();
        let id = match &d.keys().unwrap()["id"] {
            SAttr::S(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(d.old_image().cloned(), model.get(&id).cloned(), "the chain of {id}");
        match d.new_image() {
            Some(n) => model.insert(id, n.clone()),
            None => model.remove(&id),
        };
    }
    let scan = db.scan().table_name("Busy").send().await.unwrap();
    assert_eq!(scan.items().len(), model.len());
    for item in scan.items() {
        let id = item["id"].as_s().unwrap();
        let seen = &model[id];
        assert_eq!(seen["v"], sv(item["v"].as_s().unwrap()), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn time_to_live_deletions_are_recorded_as_dynamodbs() {
    let srv = Server::start_with(&["--ttl-sweep-interval", "200ms"]);
    let db = srv.dynamodb(srv.root());
    let st = srv.streams(srv.root());
    let arn = streamed_table(&db, "Expiring", StreamViewType::OldImage).await;
    db.update_time_to_live()
        .table_name("Expiring")
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    db.put_item()
        .table_name("Expiring")
        .item("id", s("old"))
        .item("expires", n(&(now_secs() - 10).to_string()))
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for _ in 0..100 {
        records = read_all(&st, &arn, 100).await;
        if records.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(records.len(), 2, "the insert and the expiry");
    let removal = &records[1];
    assert_eq!(removal.event_name(), Some(&OperationType::Remove));
    let who = removal.user_identity().unwrap();
    assert_eq!(who.r#type(), Some("Service"));
    assert_eq!(who.principal_id(), Some("dynamodb.amazonaws.com"));
    assert!(records[0].user_identity().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn records_outlive_a_restart_and_a_key_switch() {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let arn = streamed_table(&db, "Lasting", StreamViewType::NewImage).await;
    for i in 0..5 {
        db.put_item()
            .table_name("Lasting")
            .item("id", s(&format!("a{i}")))
            .send()
            .await
            .unwrap();
    }
    srv.restart();
    let db = srv.dynamodb(srv.root());
    for i in 0..5 {
        db.put_item()
            .table_name("Lasting")
            .item("id", s(&format!("b{i}")))
            .send()
            .await
            .unwrap();
    }
    let key = new_key_arn(&srv.kms(srv.root())).await;
    db.update_table()
        .table_name("Lasting")
        .sse_specification(kms_sse(&key))
        .send()
        .await
        .unwrap();
    db.put_item()
        .table_name("Lasting")
        .item("id", s("c0"))
        .send()
        .await
        .unwrap();
    let records = read_all(&srv.streams(srv.root()), &arn, 100).await;
    let ids: Vec<SAttr> = records
        .iter()
        .map(|r| r.dynamodb().unwrap().keys().unwrap()["id"].clone())
        .collect();
    let expected: Vec<SAttr> = (0..5)
        .map(|i| sv(&format!("a{i}")))
        .chain((0..5).map(|i| sv(&format!("b{i}"))))
        .chain([sv("c0")])
        .collect();
    assert_eq!(
        ids, expected,
        "numbering goes on after a restart; the key switch re-wraps the stream's keys too"
    );
}
