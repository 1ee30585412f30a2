//! TransactWriteItems across tables through aws-sdk-dynamodb: all or nothing with index entries, conflicts
//! between concurrent transactions and single-item writes, and a server killed in the middle of a
//! transaction across tables (at each point of the commit protocol) that restarts to all or nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, Projection, ProjectionType, Put, ScalarAttributeType,
    TransactWriteItem, Update,
};
use common::*;

/// `Wallets` (id) and `Journal` (id, with a global index by account `acct`).
async fn tables(db: &aws_sdk_dynamodb::Client) {
    create_table(db, "Wallets", ("id", ScalarAttributeType::S), None).await;
    db.create_table()
        .table_name("Journal")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_def("id"))
        .attribute_definitions(string_def("acct"))
        .key_schema(hash_key("id"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_acct")
                .key_schema(hash_key("acct"))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (id, balance) in [("a", "100"), ("b", "0")] {
        db.put_item()
            .table_name("Wallets")
            .item("id", s(id))
            .item("balance", n(balance))
            .send()
            .await
            .unwrap();
    }
}

/// Moves `amount` from wallet a to wallet b and journals it as `entry`, in one transaction.
fn transfer(amount: &str, entry: &str) -> Vec<TransactWriteItem> {
    let update = |id: &str, expr: &str, guard: Option<&str>| {
        let mut u = Update::builder()
            .table_name("Wallets")
            .key("id", s(id))
            .update_expression(expr)
            .expression_attribute_values(":x", n(amount));
        if let Some(g) = guard {
            u = u.condition_expression(g);
        }
        TransactWriteItem::builder().update(u.build().unwrap()).build()
    };
    vec![
        update("a", "SET balance = balance - :x", Some("balance >= :x")),
        update("b", "SET balance = balance + :x", None),
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("Journal")
                    .item("id", s(entry))
                    .item("acct", s("a"))
                    .item("amount", n(amount))
                    .item("memo", s(&format!("MARKER-TXN-MEMO {entry}")))
                    .condition_expression("attribute_not_exists(id)")
                    .build()
                    .unwrap(),
            )
            .build(),
    ]
}

async fn balance(db: &aws_sdk_dynamodb::Client, id: &str) -> i64 {
    db.get_item()
        .table_name("Wallets")
        .key("id", s(id))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .unwrap()["balance"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap()
}

async fn journal(db: &aws_sdk_dynamodb::Client) -> Vec<HashMap<String, AttributeValue>> {
    db.query()
        .table_name("Journal")
        .index_name("by_acct")
        .key_condition_expression("acct = :a")
        .expression_attribute_values(":a", s("a"))
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_across_tables_are_all_or_nothing_and_conflicts_are_reported() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    tables(&db).await;

    db.transact_write_items()
        .set_transact_items(Some(transfer("30", "t1")))
        .send()
        .await
        .unwrap();
    assert_eq!((balance(&db, "a").await, balance(&db, "b").await), (70, 30));
    assert_eq!(journal(&db).await.len(), 1, "the index entry came with the transaction");

    // A failed condition in one table cancels the writes to the other.
    let err = db
        .transact_write_items()
        .set_transact_items(Some(transfer("500", "t2")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None, None]")
    );
    assert_eq!((balance(&db, "a").await, balance(&db, "b").await), (70, 30));
    assert_eq!(journal(&db).await.len(), 1);

    // Concurrent transfers and single-item writes to the same items: some are refused as conflicting,
    // none is half applied, and the money adds up.
    let mut tasks = Vec::new();
    for t in 0..6 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let (mut applied, mut conflicts) = (0, 0);
            for i in 0..15 {
                let r = db
                    .transact_write_items()
                    .set_transact_items(Some(transfer("1", &format!("c{t}-{i}"))))
                    .send()
                    .await;
                match r {
                    Ok(_) => applied += 1,
                    Err(e) => {
                        assert_eq!(e.code(), Some("TransactionCanceledException"));
                        assert!(e.message().unwrap().contains("TransactionConflict"), "{e:?}");
                        conflicts += 1;
                    }
                }
            }
            (applied, conflicts)
        }));
    }
    let poker = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..60 {
                let r = db
                    .update_item()
                    .table_name("Wallets")
                    .key("id", s("b"))
                    .update_expression("SET touched = :t")
                    .expression_attribute_values(":t", AttributeValue::Bool(true))
                    .send()
                    .await;
                if let Err(e) = r {
                    assert_eq!(e.code(), Some("TransactionConflictException"), "{e:?}");
                    conflicts += 1;
                }
            }
            conflicts
        })
    };
    let (mut applied, mut conflicts) = (0, 0);
    for t in tasks {
        let (a, c) = t.await.unwrap();
        applied += a;
        conflicts += c;
    }
    conflicts += poker.await.unwrap();
    assert!(conflicts > 0, "concurrent transactions on the same items must meet");
    assert_eq!(balance(&db, "a").await + balance(&db, "b").await, 100);
    assert_eq!(balance(&db, "b").await, 30 + applied);
    assert_eq!(journal(&db).await.len() as i64, 1 + applied);
    srv.assert_not_at_rest("MARKER-TXN-MEMO");
}

/// Starts a transfer on a server set to abort itself at `point`, restarts it, and returns what the
/// tables hold afterwards: (balance of a, balance of b, journal entries).
async fn crash_at(point: &str) -> (i64, i64, usize) {
    let mut srv = Server::start();
    let db = srv.dynamodb(srv.root());
    tables(&db).await;
    srv.restart_with_env(&[("STRONGROOM_TEST_CRASH_POINT", point)]);
    let db = srv.dynamodb(srv.root());
    let r = db
        .transact_write_items()
        .set_transact_items(Some(transfer("40", "crash")))
        .send()
        .await;
    assert!(r.is_err(), "the server stops before it answers");
    for _ in 0..100 {
        if srv.exited() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(srv.exited(), "the server aborted at {point}");
    srv.restart_with_env(&[]);
    let db = srv.dynamodb(srv.root());
    let out = (
        balance(&db, "a").await,
        balance(&db, "b").await,
        journal(&db).await.len(),
    );
    // Nothing is left for the background pass to finish, and nothing is in plaintext.
    for _ in 0..100 {
        let left = std::fs::read_dir(srv.data_dir.join("dynamodb/txns")).map_or(0, |d| d.count());
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read_dir(srv.data_dir.join("dynamodb/txns")).map_or(0, |d| d.count()),
        0,
        "commit records are removed once applied"
    );
    srv.assert_not_at_rest("MARKER-TXN-MEMO");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_before_the_commit_record_undoes_the_transaction() {
    assert_eq!(crash_at("after-intents").await, (100, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_the_commit_record_completes_the_transaction() {
    assert_eq!(crash_at("after-commit-record").await, (60, 40, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_one_table_applied_completes_the_other() {
    assert_eq!(crash_at("after-first-apply").await, (60, 40, 1));
}
