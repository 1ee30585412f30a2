use proptest::prelude::*;
use serde_json::json;

use super::ast::{Condition, Path, PathElem};
use super::eval::{evaluate, project};
use super::update::apply;
use super::*;
use crate::attr::{item_from_json, Item};

fn item(v: serde_json::Value) -> Item {
    item_from_json(&v).unwrap()
}

fn placeholders(names: serde_json::Value, values: serde_json::Value) -> Placeholders {
    Placeholders::from_json(Some(&names), Some(&values)).unwrap()
}

/// The condition `text` with the usual placeholders, or its error message.
fn cond(text: &str) -> Result<Condition, String> {
    let mut p = placeholders(
        json!({"#n": "name", "#s": "status"}),
        json!({":one": {"N": "1"}, ":ten": {"N": "10"}, ":a": {"S": "a"}, ":t": {"S": "SS"}, ":bad": {"S": "X"},
               ":l": {"L": []}}),
    );
    p.condition(Kind::Condition, text).map_err(|e| e.to_string())
}

#[test]
fn conditions_parse_with_dynamodb_precedence() {
    // AND binds tighter than OR, NOT tighter than AND.
    let c = cond("a = :one OR b = :one AND NOT c = :one").unwrap();
    assert!(
        matches!(c, Condition::Or(_, ref right) if matches!(**right, Condition::And(_, ref r) if matches!(**r, Condition::Not(_))))
    );
    // Keywords are case-insensitive; parentheses may wrap operands or conditions.
    for ok in [
        "a between :one and :ten",
        "(a) = :one",
        "(a = :one)",
        "size(a) > :one",
        "a IN (:one, :ten)",
        "attribute_exists(#n.b[3].c)",
        "NOT (a = :one or b = :one)",
        "begins_with(a, :a) and contains(b, :one)",
        "attribute_type(a, :t)",
    ] {
        cond(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn condition_errors_carry_dynamodb_messages() {
    for (text, message) in [
        ("", "Invalid ConditionExpression: The expression can not be empty;"),
        ("a =", "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""),
        ("a = :one b", "Invalid ConditionExpression: Syntax error; token: \"b\", near: \":one b\""),
        ("_a = :one", "Invalid ConditionExpression: Syntax error; token: \"_\", near: \"_a\""),
        ("name = :one", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"),
        ("#x = :one", "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"),
        ("a = :x", "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"),
        ("foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"),
        ("size(a)", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"),
        ("attribute_exists(a) = :one", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"),
        ("attribute_exists(a, b)", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
        ("attribute_exists(:one)", "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"),
        ("begins_with(a, :one)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("attribute_type(a, :bad)", "Invalid ConditionExpression: Invalid attribute type name found; type: X, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
        ("a = a", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"),
        ("a BETWEEN :ten AND :one", "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:10}, upper bound operand: AttributeValue: {N:1}"),
        ("a BETWEEN :one AND :a", "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}"),
        ("((a = :one))", "Invalid ConditionExpression: The expression has redundant parentheses;"),
        ("size(:one) > :ten", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N"),
    ] {
        assert_eq!(cond(text).unwrap_err(), message, "{text}");
    }
}

#[test]
fn conditions_evaluate_as_dynamodb_does() {
    let it = item(json!({
        "a": {"N": "5"}, "s": {"S": "apple"}, "b": {"B": "AQID"},
        "tags": {"SS": ["x", "y"]}, "l": {"L": [{"S": "q"}, {"N": "2"}]},
        "m": {"M": {"deep": {"N": "1"}, "arr": {"L": [{"N": "7"}]}}},
        "name": {"S": "n"}, "status": {"BOOL": true}
    }));
    let mut p = placeholders(
        json!({"#n": "name", "#s": "status"}),
        json!({
            ":one": {"N": "1"}, ":five": {"N": "5.0"}, ":ten": {"N": "10"}, ":ap": {"S": "ap"}, ":pl": {"S": "ppl"},
            ":x": {"S": "x"}, ":q": {"S": "q"}, ":two": {"N": "2"}, ":seven": {"N": "7"}, ":set": {"SS": ["y", "x"]},
            ":true": {"BOOL": true}, ":ss": {"S": "SS"}, ":n": {"S": "n"}, ":b12": {"B": "AQI="}
        }),
    );
    let mut check = |text: &str, expected: bool| {
        let c = p
            .condition(Kind::Condition, text)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(evaluate(&c, &it), expected, "{text}");
    };
    check("a = :five", true);
    check("a <> :one", true);
    check("a < :ten AND a >= :five", true);
    check("a > :ten", false);
    check("s > :one", false); // different types never order
    check("absent = :one", false);
    check("absent <> :one", true);
    check("a BETWEEN :one AND :ten", true);
    check("a IN (:one, :five)", true);
    check("begins_with(s, :ap)", true);
    check("begins_with(b, :b12)", true);
    check("contains(s, :pl)", true);
    check("contains(tags, :x)", true);
    check("contains(l, :q)", true);
    check("size(s) = :five", true);
    check("size(tags) = :two", true);
    check("size(a) = :one", false); // numbers have no size
    check("m.deep = :one AND m.arr[0] = :seven", true);
    check("attribute_exists(m.arr[0]) AND attribute_not_exists(m.arr[1])", true);
    check("attribute_type(tags, :ss)", true);
    check("tags = :set", true); // sets compare as sets
    check("#n = :n AND #s = :true", true);
    check("NOT a = :five OR s = :x", false);
}

fn updated(old: &Item, text: &str, values: serde_json::Value) -> Result<Item, String> {
    let mut p = placeholders(json!({"#n": "name"}), values);
    let u = p.update(text).map_err(|e| e.to_string())?;
    apply(&u, old).map_err(|e| e.to_string())
}

#[test]
fn updates_apply_every_action() {
    let old = item(json!({
        "hits": {"N": "1"}, "tags": {"SS": ["a", "b"]}, "l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]},
        "m": {"M": {"x": {"S": "y"}}}, "gone": {"S": "soon"}, "extra": {"SS": ["a", "z"]}
    }));
    let values = json!({":one": {"N": "1"}, ":b": {"SS": ["b", "c"]}, ":a": {"SS": ["a"]}, ":new": {"L": [{"S": "n"}]},
                        ":zero": {"N": "0"}, ":v": {"S": "v"}});
    let new = updated(
        &old,
        "SET hits = hits + :one, m.z = :v, l[9] = :v, fresh = if_not_exists(fresh, :zero), #n = list_append(:new, :new) \
         REMOVE gone, l[0], l[2] ADD tags :b DELETE extra :a",
        values.clone(),
    )
    .unwrap();
    assert_eq!(
        new,
        item(json!({
            "hits": {"N": "2"}, "tags": {"SS": ["a", "b", "c"]}, "extra": {"SS": ["z"]},
            "l": {"L": [{"N": "1"}, {"N": "3"}, {"S": "v"}]},
            "m": {"M": {"x": {"S": "y"}, "z": {"S": "v"}}}, "fresh": {"N": "0"},
            "name": {"L": [{"S": "n"}, {"S": "n"}]}
        }))
    );
    // Deleting every element of a set removes the attribute; ADD creates what is absent.
    let new = updated(
        &old,
        "DELETE tags :b2 ADD tally :one",
        json!({":b2": {"SS": ["a", "b"]}, ":one": {"N": "1"}}),
    )
    .unwrap();
    assert!(!new.contains_key("tags"));
    assert_eq!(new["tally"], item(json!({"x": {"N": "1"}}))["x"]);
    // Evaluation-time errors.
    for (text, vals, message) in [
        (
            "SET x = nothing + :one",
            json!({":one": {"N": "1"}}),
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        (
            "SET x = m + :one",
            json!({":one": {"N": "1"}}),
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET nothing.deeper = :one",
            json!({":one": {"N": "1"}}),
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "ADD m :one",
            json!({":one": {"N": "1"}}),
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET x = list_append(m, :l)",
            json!({":l": {"L": []}}),
            "An operand in the update expression has an incorrect data type",
        ),
    ] {
        assert_eq!(updated(&old, text, vals).unwrap_err(), message, "{text}");
    }
}

#[test]
fn update_errors_carry_dynamodb_messages() {
    let old = Item::new();
    for (text, message) in [
        ("SET a = :one SET b = :one", "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"),
        ("SET a = :one, a.b = :one", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"),
        ("SET a.b = :one REMOVE a[1]", "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"),
        ("ADD a :s", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"),
        ("DELETE a :one", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"),
        ("SET a = :one + :s", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"),
        ("SET a = foo(:one)", "Invalid UpdateExpression: Invalid function name; function: foo"),
        ("SET a = if_not_exists(:one, :one)", "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"),
        ("SET a = list_append(:one)", "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"),
        ("SET year = :one", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: year"),
        ("SET a = :one,", "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\""),
        ("a = :one", "Invalid UpdateExpression: Syntax error; token: \"a\", near: \"a =\""),
    ] {
        assert_eq!(updated(&old, text, json!({":one": {"N": "1"}, ":s": {"S": "s"}})).unwrap_err(), message, "{text}");
    }
}

#[test]
fn projections_keep_the_named_paths() {
    let it = item(json!({
        "a": {"N": "1"}, "b": {"M": {"c": {"S": "x"}, "d": {"S": "y"}}},
        "l": {"L": [{"N": "0"}, {"M": {"k": {"N": "1"}, "j": {"N": "2"}}}, {"N": "2"}]}
    }));
    let mut p = Placeholders::default();
    let paths = p.projection("a, b.c, l[2], l[1].k, absent, b.nothing").unwrap();
    assert_eq!(
        project(&it, &paths),
        item(json!({
            "a": {"N": "1"}, "b": {"M": {"c": {"S": "x"}}},
            "l": {"L": [{"M": {"k": {"N": "1"}}}, {"N": "2"}]}
        }))
    );
    assert_eq!(
        p.projection("a, a.b").unwrap_err().to_string(),
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
    );
}

#[test]
fn placeholders_must_be_defined_used_and_well_formed() {
    let mut p = placeholders(
        json!({"#a": "a", "#b": "b"}),
        json!({":v": {"N": "1"}, ":w": {"N": "2"}}),
    );
    p.condition(Kind::Condition, "#a = :v").unwrap();
    assert_eq!(
        p.finish().unwrap_err().to_string(),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    );
    p.projection("#b").unwrap();
    assert_eq!(
        p.finish().unwrap_err().to_string(),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    );
    for (names, values, message) in [
        (json!({}), json!(null), "ExpressionAttributeNames must not be empty"),
        (json!(null), json!({}), "ExpressionAttributeValues must not be empty"),
        (json!({"a": "a"}), json!(null), "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\""),
        (json!(null), json!({":v": {"S": "x", "N": "1"}}), "ExpressionAttributeValues contains invalid value: Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes for key :v"),
    ] {
        assert_eq!(
            Placeholders::from_json(Some(&names), Some(&values)).unwrap_err().to_string(),
            message
        );
    }
    assert_eq!(
        check_parameters(&[("ConditionExpression", false)], &[("Expected", false)], false, true)
            .unwrap_err()
            .to_string(),
        "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"
    );
    assert_eq!(
        check_parameters(&[("ProjectionExpression", true)], &[("AttributesToGet", true)], false, false)
            .unwrap_err()
            .to_string(),
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"
    );
}

#[test]
fn paths_render_as_dynamodb_writes_them() {
    let p = Path(vec![
        PathElem::Name("a".into()),
        PathElem::Index(3),
        PathElem::Name("b".into()),
    ]);
    assert_eq!(p.to_string(), "[a, [3], b]");
}

proptest! {
    /// Whatever the text, the parsers answer with an AST or a validation error, never a panic.
    #[test]
    fn parsers_never_panic(text in "[ a-z#:()\\[\\]0-9,.=<>+_-]{0,40}|(SET|REMOVE|ADD|DELETE|AND|OR|NOT|BETWEEN|IN|size|contains|a|:v|#n|[(),.=<>+\\[\\]0-9-]| ){0,16}") {
        let mut p = placeholders(json!({"#n": "n"}), json!({":v": {"N": "1"}}));
        let _ = p.condition(Kind::Filter, &text);
        let _ = p.update(&text);
        let _ = p.projection(&text);
    }

    /// Comparisons agree with the order of the numbers they compare.
    #[test]
    fn numeric_comparisons_follow_number_order(a in -1000i64..1000, b in -1000i64..1000) {
        let it = item(json!({"x": {"N": a.to_string()}}));
        let mut p = placeholders(json!(null), json!({":b": {"N": b.to_string()}}));
        for (op, expected) in [("<", a < b), ("<=", a <= b), ("=", a == b), ("<>", a != b), (">", a > b), (">=", a >= b)] {
            let c = p.condition(Kind::Condition, &format!("x {op} :b")).unwrap();
            prop_assert_eq!(evaluate(&c, &it), expected);
        }
    }
}
