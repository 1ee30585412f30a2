//! Expressions through aws-sdk-dynamodb: UpdateItem, conditional writes, projections, Query and Scan with
//! filters, the legacy parameters, DynamoDB's validation messages, atomic read-modify-write under
//! concurrency, and Query order and pagination against an in-memory model.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeValue, AttributeValueUpdate, ComparisonOperator, Condition, ExpectedAttributeValue,
    KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, Select,
};
use common::*;

fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// A legacy KeyConditions / QueryFilter entry with one value.
fn legacy_condition(op: ComparisonOperator, value: AttributeValue) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .attribute_value_list(value)
        .build()
        .unwrap()
}

async fn orders(db: &aws_sdk_dynamodb::Client, name: &str) {
    create_table(
        db,
        name,
        ("customer", ScalarAttributeType::S),
        Some(("order", ScalarAttributeType::N)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn update_item_applies_every_action_and_returns_what_was_asked() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "Updates").await;

    // An update of a missing item creates it from the key.
    let out = db
        .update_item()
        .table_name("Updates")
        .key("customer", s("ann"))
        .key("order", n("1"))
        .update_expression("SET amount = :t, #s = :new, parts = :parts, tags = :tags ADD visits :one")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":t", n("10.50"))
        .expression_attribute_values(":new", s("NEW-MARKER"))
        .expression_attribute_values(":parts", AttributeValue::L(vec![s("a"), s("b")]))
        .expression_attribute_values(":tags", AttributeValue::Ss(vec!["x".into(), "y".into()]))
        .expression_attribute_values(":one", n("1"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let all = out.attributes().unwrap();
    assert_eq!(all["customer"], s("ann"));
    assert_eq!(all["amount"], n("10.5"), "numbers come back normalized");
    assert_eq!(all["visits"], n("1"));

    let out = db
        .update_item()
        .table_name("Updates")
        .key("customer", s("ann"))
        .key("order", n("1"))
        .update_expression(
            "SET amount = amount - :d, parts = list_append(parts, :more) REMOVE #s ADD visits :one DELETE tags :x",
        )
        .condition_expression("attribute_exists(amount) AND visits < :ten")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":d", n("0.5"))
        .expression_attribute_values(":more", AttributeValue::L(vec![s("c")]))
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":ten", n("10"))
        .expression_attribute_values(":x", AttributeValue::Ss(vec!["x".into()]))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await
        .unwrap();
    let old = out.attributes().unwrap();
    assert_eq!(old["amount"], n("10.5"));
    assert_eq!(old["status"], s("NEW-MARKER"));
    assert_eq!(old["parts"], AttributeValue::L(vec![s("a"), s("b")]));
    assert!(
        !old.contains_key("customer"),
        "UPDATED_OLD keeps only the updated paths"
    );

    let got = db
        .get_item()
        .table_name("Updates")
        .key("customer", s("ann"))
        .key("order", n("1"))
        .send()
        .await
        .unwrap();
    let now = got.item().unwrap();
    assert_eq!(now["amount"], n("10"));
    assert_eq!(now["parts"], AttributeValue::L(vec![s("a"), s("b"), s("c")]));
    assert_eq!(now["visits"], n("2"));
    assert_eq!(now["tags"], AttributeValue::Ss(vec!["y".into()]));
    assert!(!now.contains_key("status"));

    // UPDATED_NEW on a nested path shows the path inside its map.
    let out = db
        .update_item()
        .table_name("Updates")
        .key("customer", s("ann"))
        .key("order", n("1"))
        .update_expression("SET address = :a")
        .expression_attribute_values(
            ":a",
            AttributeValue::M(item(&[("city", s("Oslo")), ("zip", s("0150"))])),
        )
        .send()
        .await
        .unwrap();
    assert!(out.attributes().is_none());
    let out = db
        .update_item()
        .table_name("Updates")
        .key("customer", s("ann"))
        .key("order", n("1"))
        .update_expression("SET address.city = :c")
        .expression_attribute_values(":c", s("Bergen"))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes().unwrap()["address"],
        AttributeValue::M(item(&[("city", s("Bergen"))]))
    );

    // A failed condition changes nothing and, when asked, shows the item.
    let err = db
        .update_item()
        .table_name("Updates")
        .key("customer", s("ann"))
        .key("order", n("1"))
        .update_expression("SET amount = :z")
        .condition_expression("amount > :big")
        .expression_attribute_values(":z", n("0"))
        .expression_attribute_values(":big", n("1000"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    assert_eq!(err.message(), Some("The conditional request failed"));
    let UpdateItemError::ConditionalCheckFailedException(failed) = err.into_service_error() else {
        panic!("not a ConditionalCheckFailedException");
    };
    assert_eq!(failed.item().unwrap()["amount"], n("10"));

    // Key attributes cannot be updated; runtime type errors are ValidationExceptions.
    for (update, message) in [
        (
            "SET #o = :z",
            "One or more parameter values were invalid: Cannot update attribute order. This attribute is part of the key",
        ),
        (
            "SET amount = parts + :z",
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET nothing = absent + :z",
            "The provided expression refers to an attribute that does not exist in the item",
        ),
    ] {
        let mut req = db
            .update_item()
            .table_name("Updates")
            .key("customer", s("ann"))
            .key("order", n("1"))
            .update_expression(update)
            .expression_attribute_values(":z", n("0"));
        if update.contains("#o") {
            req = req.expression_attribute_names("#o", "order");
        }
        let err = req.send().await.unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{update}");
        assert_eq!(err.message(), Some(message), "{update}");
    }
    srv.assert_not_at_rest("NEW-MARKER");
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_puts_and_deletes_check_the_item_they_replace() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "Conditional").await;
    let put = |v: &'static str| {
        db.put_item()
            .table_name("Conditional")
            .item("customer", s("bob"))
            .item("order", n("7"))
            .item("state", s(v))
            .condition_expression("attribute_not_exists(customer)")
            .send()
    };
    put("first").await.unwrap();
    let err = put("second").await.unwrap_err();
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    let PutItemError::ConditionalCheckFailedException(failed) = err.into_service_error() else {
        panic!("not a ConditionalCheckFailedException");
    };
    assert!(failed.item().is_none(), "the item is shown only when asked for");

    let err = db
        .delete_item()
        .table_name("Conditional")
        .key("customer", s("bob"))
        .key("order", n("7"))
        .condition_expression("#st = :s")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":s", s("second"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    let out = db
        .delete_item()
        .table_name("Conditional")
        .key("customer", s("bob"))
        .key("order", n("7"))
        .condition_expression("#st = :s")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":s", s("first"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes().unwrap()["state"], s("first"));

    // The legacy Expected parameter states the same conditions.
    db.put_item()
        .table_name("Conditional")
        .item("customer", s("bob"))
        .item("order", n("7"))
        .expected("customer", ExpectedAttributeValue::builder().exists(false).build())
        .send()
        .await
        .unwrap();
    let err = db
        .put_item()
        .table_name("Conditional")
        .item("customer", s("bob"))
        .item("order", n("7"))
        .expected("customer", ExpectedAttributeValue::builder().exists(false).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    let err = db
        .put_item()
        .table_name("Conditional")
        .item("customer", s("bob"))
        .item("order", n("7"))
        .expected("customer", ExpectedAttributeValue::builder().exists(false).build())
        .condition_expression("attribute_not_exists(customer)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_of_one_item_lose_nothing() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "Counters").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                db.update_item()
                    .table_name("Counters")
                    .key("customer", s("c"))
                    .key("order", n("1"))
                    .update_expression("ADD hits :one")
                    .expression_attribute_values(":one", n("1"))
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    // Racing creates: exactly one wins.
    let mut racers = Vec::new();
    for i in 0..8 {
        let db = db.clone();
        racers.push(tokio::spawn(async move {
            db.put_item()
                .table_name("Counters")
                .item("customer", s("race"))
                .item("order", n("1"))
                .item("winner", n(&i.to_string()))
                .condition_expression("attribute_not_exists(customer)")
                .send()
                .await
                .is_ok()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);
    let got = db
        .get_item()
        .table_name("Counters")
        .key("customer", s("c"))
        .key("order", n("1"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["hits"], n("200"));
}

#[tokio::test(flavor = "multi_thread")]
async fn projections_shape_get_batch_get_and_scan() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "Shapes").await;
    for o in 1..=3 {
        db.put_item()
            .table_name("Shapes")
            .item("customer", s("p"))
            .item("order", n(&o.to_string()))
            .item("a", n("1"))
            .item("m", AttributeValue::M(item(&[("x", s("keep")), ("y", s("drop"))])))
            .item("l", AttributeValue::L(vec![s("l0"), s("l1"), s("l2")]))
            .send()
            .await
            .unwrap();
    }
    let described = db.describe_table().table_name("Shapes").send().await.unwrap();
    let t = described.table().unwrap();
    assert_eq!(t.item_count(), Some(3));
    assert!(t.table_size_bytes().unwrap() > 3 * 20);
    let got = db
        .get_item()
        .table_name("Shapes")
        .key("customer", s("p"))
        .key("order", n("1"))
        .projection_expression("m.x, l[2], #a")
        .expression_attribute_names("#a", "a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.item().unwrap(),
        &item(&[
            ("a", n("1")),
            ("m", AttributeValue::M(item(&[("x", s("keep"))]))),
            ("l", AttributeValue::L(vec![s("l2")])),
        ])
    );
    let got = db
        .get_item()
        .table_name("Shapes")
        .key("customer", s("p"))
        .key("order", n("1"))
        .attributes_to_get("a")
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap(), &item(&[("a", n("1"))]));

    let batch = db
        .batch_get_item()
        .request_items(
            "Shapes",
            KeysAndAttributes::builder()
                .keys(item(&[("customer", s("p")), ("order", n("2"))]))
                .keys(item(&[("customer", s("p")), ("order", n("3"))]))
                .projection_expression("#o")
                .expression_attribute_names("#o", "order")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut orders: Vec<String> = batch.responses().unwrap()["Shapes"]
        .iter()
        .map(|i| i["order"].as_n().unwrap().clone())
        .collect();
    orders.sort();
    assert_eq!(orders, ["2", "3"]);
    assert!(batch.responses().unwrap()["Shapes"].iter().all(|i| i.len() == 1));

    let scan = db
        .scan()
        .table_name("Shapes")
        .filter_expression("#o >= :two")
        .projection_expression("#o")
        .expression_attribute_names("#o", "order")
        .expression_attribute_values(":two", n("2"))
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count(), 2);
    assert_eq!(scan.scanned_count(), 3);
    assert!(scan.items().iter().all(|i| i.len() == 1));
    let err = db
        .scan()
        .table_name("Shapes")
        .select(Select::AllAttributes)
        .projection_expression("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_select_ranges_of_one_partition_in_order() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "Queries").await;
    for c in ["q1", "q2"] {
        for o in [-5, 0, 1, 2, 10, 11, 100] {
            db.put_item()
                .table_name("Queries")
                .item("customer", s(c))
                .item("order", n(&o.to_string()))
                .item("odd", AttributeValue::Bool(o % 2 != 0))
                .send()
                .await
                .unwrap();
        }
    }
    let orders_of = |items: &[HashMap<String, AttributeValue>]| -> Vec<i64> {
        items
            .iter()
            .map(|i| i["order"].as_n().unwrap().parse().unwrap())
            .collect()
    };
    for (condition, values, expected) in [
        ("customer = :c", vec![], vec![-5, 0, 1, 2, 10, 11, 100]),
        ("customer = :c AND #o < :a", vec![(":a", n("1"))], vec![-5, 0]),
        ("customer = :c AND #o <= :a", vec![(":a", n("1"))], vec![-5, 0, 1]),
        ("customer = :c AND #o > :a", vec![(":a", n("10"))], vec![11, 100]),
        ("customer = :c AND #o >= :a", vec![(":a", n("10"))], vec![10, 11, 100]),
        ("customer = :c AND #o = :a", vec![(":a", n("2"))], vec![2]),
        (
            "#o BETWEEN :a AND :b AND customer = :c",
            vec![(":a", n("0")), (":b", n("10"))],
            vec![0, 1, 2, 10],
        ),
        (":a < #o AND customer = :c", vec![(":a", n("10"))], vec![11, 100]),
    ] {
        let mut req = db
            .query()
            .table_name("Queries")
            .key_condition_expression(condition)
            .expression_attribute_values(":c", s("q1"));
        if condition.contains("#o") {
            req = req.expression_attribute_names("#o", "order");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        let out = req.send().await.unwrap_or_else(|e| panic!("{condition}: {e:?}"));
        assert_eq!(orders_of(out.items()), expected, "{condition}");
    }

    // Backwards, a page at a time, with a filter applied after each page is read.
    let mut seen = Vec::new();
    let mut scanned = 0;
    let mut start = None;
    loop {
        let out = db
            .query()
            .table_name("Queries")
            .key_condition_expression("customer = :c")
            .filter_expression("odd = :t")
            .expression_attribute_values(":c", s("q2"))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .scan_index_forward(false)
            .limit(3)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        seen.extend(orders_of(out.items()));
        scanned += out.scanned_count();
        assert!(out.count() <= out.scanned_count());
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec![11, 1, -5]);
    assert_eq!(scanned, 7);

    let count = db
        .query()
        .table_name("Queries")
        .key_condition_expression("customer = :c")
        .expression_attribute_values(":c", s("q2"))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(count.count(), 7);
    assert!(count.items().is_empty());

    // The legacy KeyConditions and QueryFilter say the same.
    let legacy = || {
        db.query()
            .table_name("Queries")
            .key_conditions("customer", legacy_condition(ComparisonOperator::Eq, s("q1")))
            .key_conditions("order", legacy_condition(ComparisonOperator::Gt, n("2")))
    };
    let refused = legacy()
        .query_filter(
            "odd",
            legacy_condition(ComparisonOperator::Eq, AttributeValue::Bool(false)),
        )
        .send()
        .await;
    // BOOL is not a valid QueryFilter EQ operand type in the legacy API.
    assert_eq!(
        refused.unwrap_err().message(),
        Some("One or more parameter values were invalid: ComparisonOperator EQ is not valid for BOOL AttributeValue type")
    );
    let legacy = legacy().send().await.unwrap();
    assert_eq!(orders_of(legacy.items()), vec![10, 11, 100]);

    for (condition, message) in [
        ("#o = :c", "Query condition missed key schema element: customer"),
        ("customer < :c", "Query key condition not supported"),
        (
            "customer = :c OR #o = :c",
            "Invalid operator used in KeyConditionExpression: OR",
        ),
        (
            "customer = :c AND attribute_exists(#o)",
            "Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        (
            "customer = :c AND #o = :c",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "customer = :c AND customer = :c",
            "KeyConditionExpressions must only contain one condition per key",
        ),
    ] {
        let err = db
            .query()
            .table_name("Queries")
            .key_condition_expression(condition)
            .set_expression_attribute_names(
                condition
                    .contains("#o")
                    .then(|| HashMap::from([("#o".to_owned(), "order".to_owned())])),
            )
            .expression_attribute_values(":c", s("q1"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.message(), Some(message), "{condition}");
    }
    for (start, message) in [
        (
            HashMap::from([("customer".to_owned(), s("q2")), ("order".to_owned(), n("1"))]),
            "The provided starting key is outside query boundaries based on provided conditions",
        ),
        (
            HashMap::from([("customer".to_owned(), s("q1")), ("order".to_owned(), n("-5"))]),
            "The provided starting key does not match the range key predicate",
        ),
        (
            HashMap::from([("customer".to_owned(), s("q1"))]),
            "The provided starting key is invalid: The provided key element does not match the schema",
        ),
    ] {
        let err = db
            .query()
            .table_name("Queries")
            .key_condition_expression("customer = :c AND #o > :z")
            .expression_attribute_names("#o", "order")
            .expression_attribute_values(":c", s("q1"))
            .expression_attribute_values(":z", n("0"))
            .set_exclusive_start_key(Some(start))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.message(), Some(message));
    }
    let err = db
        .query()
        .table_name("Queries")
        .key_condition_expression("customer = :c")
        .filter_expression("#o > :c")
        .expression_attribute_names("#o", "order")
        .expression_attribute_values(":c", s("q1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Filter Expression can only contain non-primary key attributes: Primary key attribute: order")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expression_errors_are_dynamodbs() {
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "Bad").await;
    let base = || {
        db.update_item()
            .table_name("Bad")
            .key("customer", s("x"))
            .key("order", n("1"))
    };
    for (req, message) in [
        (
            base().update_expression("SET a = :v").expression_attribute_values(":w", n("1")),
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :v",
        ),
        (
            base()
                .update_expression("SET a = :v")
                .expression_attribute_values(":v", n("1"))
                .expression_attribute_values(":w", n("1")),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}",
        ),
        (
            base()
                .update_expression("SET a = :v")
                .expression_attribute_values(":v", n("1"))
                .expression_attribute_names("#unused", "x"),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
        ),
        (
            base().update_expression("SET data = :v").expression_attribute_values(":v", n("1")),
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: data",
        ),
        (
            base().update_expression("SET a = :v SET b = :v").expression_attribute_values(":v", n("1")),
            "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;",
        ),
        (
            base().update_expression("SET a = :v, a.b = :v").expression_attribute_values(":v", n("1")),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]",
        ),
        (
            base().update_expression("SET a = :v").condition_expression("a = ").expression_attribute_values(":v", n("1")),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"= \"",
        ),
        (
            base().update_expression("SET a = :v").condition_expression("nosuch(a)").expression_attribute_values(":v", n("1")),
            "Invalid ConditionExpression: Invalid function name; function: nosuch",
        ),
        (
            base().expression_attribute_values(":v", n("1")),
            "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and ConditionExpression are null",
        ),
    ] {
        let err = req.send().await.unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{message}");
        assert_eq!(err.message(), Some(message));
    }
    // The legacy AttributeUpdates still works, alone.
    db.update_item()
        .table_name("Bad")
        .key("customer", s("x"))
        .key("order", n("1"))
        .attribute_updates(
            "hits",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Add)
                .value(n("5"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = db
        .get_item()
        .table_name("Bad")
        .key("customer", s("x"))
        .key("order", n("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["hits"], n("5"));
}

/// Which sort keys a key condition selects, in the model.
type Matcher<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// Query order and pagination against a model: for random key conditions, directions and page sizes, the
/// pages read one after another are exactly the model's matching items in sort order.
#[test]
fn query_pages_match_an_in_memory_model() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let mut model: BTreeMap<(String, String), ()> = BTreeMap::new();
    rt.block_on(async {
        create_table(
            &db,
            "Model",
            ("p", ScalarAttributeType::S),
            Some(("sk", ScalarAttributeType::S)),
        )
        .await;
        // Sort keys chosen to make byte order matter: prefixes, case, multi-byte UTF-8.
        let sorts = ["a", "ab", "abc", "b", "B", "ba", "z", "é", "ée", "0", "01", "a b", "~"];
        let mut writes = Vec::new();
        for p in ["p0", "p1", "p2"] {
            for (i, sk) in sorts.iter().enumerate() {
                if (i + p.len()) % 5 == 4 && p == "p1" {
                    continue;
                }
                model.insert((p.to_owned(), sk.to_string()), ());
                writes.push(
                    db.put_item()
                        .table_name("Model")
                        .item("p", s(p))
                        .item("sk", s(sk))
                        .item("pad", s(&"x".repeat(i * 10)))
                        .send(),
                );
            }
        }
        for w in writes {
            w.await.unwrap();
        }
    });
    let sorts: Vec<String> = model.keys().map(|(_, s)| s.clone()).collect();
    let config = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        part in 0usize..3,
        kind in 0usize..6,
        a in 0usize..64,
        b in 0usize..64,
        forward in any::<bool>(),
        page in 1i32..6,
    )| {
        let p = format!("p{part}");
        let (x, y) = (&sorts[a % sorts.len()], &sorts[b % sorts.len()]);
        let (lo, hi) = if x.as_bytes() <= y.as_bytes() { (x, y) } else { (y, x) };
        let (condition, matches): (String, Matcher) = match kind {
            0 => ("p = :p".into(), Box::new(|_: &str| true)),
            1 => ("p = :p AND sk < :x".into(), Box::new(move |k: &str| k.as_bytes() < x.as_bytes())),
            2 => ("p = :p AND sk >= :x".into(), Box::new(move |k: &str| k.as_bytes() >= x.as_bytes())),
            3 => ("p = :p AND sk BETWEEN :lo AND :hi".into(), Box::new(move |k: &str| lo.as_bytes() <= k.as_bytes() && k.as_bytes() <= hi.as_bytes())),
            4 => ("p = :p AND begins_with(sk, :x)".into(), Box::new(move |k: &str| k.starts_with(x.as_str()))),
            _ => ("p = :p AND sk = :x".into(), Box::new(move |k: &str| k == x)),
        };
        let mut expected: Vec<String> = model
            .keys()
            .filter(|(q, k)| *q == p && matches(k))
            .map(|(_, k)| k.clone())
            .collect();
        if !forward {
            expected.reverse();
        }
        let got = rt.block_on(async {
            let mut got = Vec::new();
            let mut start = None;
            loop {
                let mut req = db
                    .query()
                    .table_name("Model")
                    .key_condition_expression(condition.as_str())
                    .expression_attribute_values(":p", s(&p))
                    .scan_index_forward(forward)
                    .limit(page)
                    .set_exclusive_start_key(start);
                if condition.contains(":x") {
                    req = req.expression_attribute_values(":x", s(x));
                }
                if condition.contains(":lo") {
                    req = req.expression_attribute_values(":lo", s(lo)).expression_attribute_values(":hi", s(hi));
                }
                let out = req.send().await.unwrap();
                assert!(out.items().len() <= page as usize);
                got.extend(out.items().iter().map(|i| i["sk"].as_s().unwrap().clone()));
                start = out.last_evaluated_key().cloned();
                if start.is_none() {
                    break;
                }
            }
            got
        });
        prop_assert_eq!(got, expected);
    });
}

/// Scan pagination against a model of the table: for random page sizes, segment counts and filters, the
/// pages of every segment, read one after another, hold every item the filter keeps exactly once, in the
/// order of one whole-table Scan, and the segments split the table without overlap.
#[test]
fn scan_pages_and_segments_match_an_in_memory_model() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    let total = 300usize;
    let whole: Vec<String> = rt.block_on(async {
        create_table(&db, "ScanModel", ("id", ScalarAttributeType::S), None).await;
        for chunk in (0..total).collect::<Vec<_>>().chunks(25) {
            let writes = chunk
                .iter()
                .map(|i| {
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(
                            aws_sdk_dynamodb::types::PutRequest::builder()
                                .set_item(Some(item(&[("id", s(&format!("item-{i}"))), ("n", n(&i.to_string()))])))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .collect();
            db.batch_write_item()
                .request_items("ScanModel", writes)
                .send()
                .await
                .unwrap();
        }
        let all = db.scan().table_name("ScanModel").send().await.unwrap();
        all.items().iter().map(|i| i["id"].as_s().unwrap().clone()).collect()
    });
    assert_eq!(whole.len(), total);
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    proptest!(config, |(page in 1i32..80, segments in 1i32..6, least in 0usize..320)| {
        let mut seen: Vec<String> = Vec::new();
        for segment in 0..segments {
            let got = rt.block_on(async {
                let mut got = Vec::new();
                let mut start = None;
                loop {
                    let out = db
                        .scan()
                        .table_name("ScanModel")
                        .segment(segment)
                        .total_segments(segments)
                        .limit(page)
                        .filter_expression("#n >= :least")
                        .expression_attribute_names("#n", "n")
                        .expression_attribute_values(":least", n(&least.to_string()))
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .unwrap();
                    assert!(out.scanned_count() <= page);
                    got.extend(out.items().iter().map(|i| i["id"].as_s().unwrap().clone()));
                    start = out.last_evaluated_key().cloned();
                    if start.is_none() {
                        break;
                    }
                }
                got
            });
            // Within a segment, pages continue the whole-table order.
            let positions: Vec<usize> = got.iter().map(|id| whole.iter().position(|w| w == id).unwrap()).collect();
            prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
            seen.extend(got);
        }
        seen.sort();
        let number = |id: &str| id.trim_start_matches("item-").parse::<usize>().unwrap();
        let mut expected: Vec<String> = whole.iter().filter(|id| number(id) >= least).cloned().collect();
        expected.sort();
        prop_assert_eq!(&seen, &expected);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn transact_get_items_reads_many_tables_in_request_order() {
    use aws_sdk_dynamodb::types::{Get, ReturnConsumedCapacity, TransactGetItem};
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    orders(&db, "TxA").await;
    create_table(&db, "TxB", ("id", ScalarAttributeType::S), None).await;
    db.put_item()
        .table_name("TxA")
        .item("customer", s("c"))
        .item("order", n("1"))
        .item("amount", n("5"))
        .item("note", s("n"))
        .send()
        .await
        .unwrap();
    db.put_item()
        .table_name("TxB")
        .item("id", s("b"))
        .item("v", s("x"))
        .send()
        .await
        .unwrap();
    let get = |table: &str, key: HashMap<String, AttributeValue>| {
        TransactGetItem::builder()
            .get(Get::builder().table_name(table).set_key(Some(key)).build().unwrap())
            .build()
    };
    let out = db
        .transact_get_items()
        .transact_items(get("TxB", item(&[("id", s("b"))])))
        .transact_items(get("TxB", item(&[("id", s("missing"))])))
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("TxA")
                        .key("customer", s("c"))
                        .key("order", n("1"))
                        .projection_expression("amount")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let r = out.responses();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].item().unwrap()["v"], s("x"));
    assert!(r[1].item().is_none());
    assert_eq!(r[2].item().unwrap(), &item(&[("amount", n("5"))]));
    let units: f64 = out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum();
    assert_eq!(units, 6.0, "three transactional reads of at most 4 KB");

    let err = db
        .transact_get_items()
        .transact_items(get("TxB", item(&[("id", s("b"))])))
        .transact_items(get("TxB", item(&[("id", s("b"))])))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Transaction request cannot include multiple operations on one item")
    );
    let err = db
        .transact_get_items()
        .transact_items(get("Nope", item(&[("id", s("b"))])))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn transact_write_items_applies_all_or_nothing_with_reasons() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
    let srv = Server::start();
    let db = srv.dynamodb(srv.root());
    create_table(&db, "Accounts", ("id", ScalarAttributeType::S), None).await;
    for (id, balance) in [("a", "10"), ("b", "0"), ("gone", "1"), ("guard", "1")] {
        db.put_item()
            .table_name("Accounts")
            .item("id", s(id))
            .item("balance", n(balance))
            .send()
            .await
            .unwrap();
    }
    let key = |id: &str| item(&[("id", s(id))]);
    let transfer = |amount: &str| {
        vec![
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("Accounts")
                        .set_key(Some(key("a")))
                        .update_expression("SET balance = balance - :x")
                        .condition_expression("balance >= :x")
                        .expression_attribute_values(":x", n(amount))
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .unwrap(),
                )
                .build(),
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("Accounts")
                        .set_key(Some(key("b")))
                        .update_expression("SET balance = balance + :x")
                        .expression_attribute_values(":x", n(amount))
                        .build()
                        .unwrap(),
                )
                .build(),
        ]
    };
    let mut all = transfer("3");
    all.push(
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("Accounts")
                    .item("id", s("new"))
                    .item("balance", n("7"))
                    .condition_expression("attribute_not_exists(id)")
                    .build()
                    .unwrap(),
            )
            .build(),
    );
    all.push(
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name("Accounts")
                    .set_key(Some(key("gone")))
                    .build()
                    .unwrap(),
            )
            .build(),
    );
    all.push(
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name("Accounts")
                    .set_key(Some(key("guard")))
                    .condition_expression("balance = :one")
                    .expression_attribute_values(":one", n("1"))
                    .build()
                    .unwrap(),
            )
            .build(),
    );
    db.transact_write_items()
        .set_transact_items(Some(all))
        .send()
        .await
        .unwrap();
    let balance = |id: &'static str| {
        let db = db.clone();
        async move {
            db.get_item()
                .table_name("Accounts")
                .key("id", s(id))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item()
                .map(|i| i["balance"].as_n().unwrap().clone())
        }
    };
    assert_eq!(balance("a").await.as_deref(), Some("7"));
    assert_eq!(balance("b").await.as_deref(), Some("3"));
    assert_eq!(balance("new").await.as_deref(), Some("7"));
    assert_eq!(balance("gone").await, None);

    // A failed condition cancels everything, with a reason per action in request order.
    let err = db
        .transact_write_items()
        .set_transact_items(Some(transfer("100")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("TransactionCanceledException"));
    assert_eq!(
        err.message(),
        Some("Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]")
    );
    let TransactWriteItemsError::TransactionCanceledException(e) = err.into_service_error() else {
        panic!("not a TransactionCanceledException");
    };
    let reasons = e.cancellation_reasons();
    assert_eq!(reasons[0].code(), Some("ConditionalCheckFailed"));
    assert_eq!(reasons[0].item().unwrap()["balance"], n("7"));
    assert_eq!(reasons[1].code(), Some("None"));
    assert_eq!(
        balance("b").await.as_deref(),
        Some("3"),
        "nothing of a cancelled transaction is applied"
    );

    // Concurrent transfers and transactional reads: the total never changes, nothing is lost.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = db.clone();
        let items = transfer("1");
        tasks.push(tokio::spawn(async move {
            let (mut done, mut tries) = (0, 0);
            // A transaction that meets another on its items is cancelled as conflicting, and retried.
            while tries < 10 {
                match db
                    .transact_write_items()
                    .set_transact_items(Some(items.clone()))
                    .send()
                    .await
                {
                    Ok(_) => {
                        done += 1;
                        tries += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.code(), Some("TransactionCanceledException"));
                        if !e.message().unwrap_or_default().contains("TransactionConflict") {
                            tries += 1;
                        }
                    }
                }
            }
            done
        }));
    }
    let reader = {
        let db = db.clone();
        tokio::spawn(async move {
            use aws_sdk_dynamodb::types::{Get, TransactGetItem};
            for _ in 0..30 {
                let out = db
                    .transact_get_items()
                    .transact_items(
                        TransactGetItem::builder()
                            .get(Get::builder().table_name("Accounts").key("id", s("a")).build().unwrap())
                            .build(),
                    )
                    .transact_items(
                        TransactGetItem::builder()
                            .get(Get::builder().table_name("Accounts").key("id", s("b")).build().unwrap())
                            .build(),
                    )
                    .send()
                    .await;
                let out = match out {
                    Ok(out) => out,
                    Err(e) => {
                        assert!(e.message().unwrap_or_default().contains("TransactionConflict"), "{e:?}");
                        continue;
                    }
                };
                let sum: i64 = out
                    .responses()
                    .iter()
                    .map(|r| r.item().unwrap()["balance"].as_n().unwrap().parse::<i64>().unwrap())
                    .sum();
                assert_eq!(sum, 10, "a transfer was seen half done");
            }
        })
    };
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    reader.await.unwrap();
    assert_eq!(done, 7, "exactly the 7 left in a were transferred");
    assert_eq!(balance("a").await.as_deref(), Some("0"));
    assert_eq!(balance("b").await.as_deref(), Some("10"));

    // A retry with the same ClientRequestToken is applied once; the token with other actions is refused.
    let back = |amount: &str| {
        vec![TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name("Accounts")
                    .set_key(Some(key("b")))
                    .update_expression("SET balance = balance - :x")
                    .expression_attribute_values(":x", n(amount))
                    .build()
                    .unwrap(),
            )
            .build()]
    };
    for _ in 0..3 {
        db.transact_write_items()
            .set_transact_items(Some(back("2")))
            .client_request_token("retry-1")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(balance("b").await.as_deref(), Some("8"));
    let err = db
        .transact_write_items()
        .set_transact_items(Some(back("5")))
        .client_request_token("retry-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("IdempotentParameterMismatchException"));

    let err = db
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("Accounts")
                        .set_key(Some(key("a")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("Accounts")
                        .set_key(Some(key("a")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Transaction request cannot include multiple operations on one item")
    );
}
