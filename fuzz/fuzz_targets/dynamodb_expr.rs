//! DynamoDB's expression languages from arbitrary text: parsing never panics, and whatever parses
//! evaluates, projects and applies to a sample item without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

use dynamodb::attr::item_from_json;
use dynamodb::expr::eval::{evaluate, project};
use dynamodb::expr::update::apply;
use dynamodb::expr::{Kind, Placeholders};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some((&grammar, text)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(text);
    let names = json!({"#a": "a", "#b": "b", "#n": "name"});
    let values = json!({
        ":n": {"N": "1"}, ":s": {"S": "s"}, ":l": {"L": [{"N": "2"}]}, ":ss": {"SS": ["x"]},
        ":m": {"M": {"k": {"BOOL": true}}}, ":b": {"B": "AQ=="}
    });
    let Ok(mut p) = Placeholders::from_json(Some(&names), Some(&values)) else { return };
    let item = item_from_json(&json!({
        "a": {"N": "5"}, "b": {"L": [{"S": "x"}, {"M": {"c": {"NS": ["1", "2"]}}}]},
        "name": {"S": "n"}, "s": {"SS": ["x", "y"]}
    }))
    .unwrap_or_default();
    match grammar % 3 {
        0 => {
            if let Ok(c) = p.condition(Kind::Condition, &text) {
                let _ = evaluate(&c, &item);
            }
        }
        1 => {
            if let Ok(u) = p.update(&text) {
                let _ = apply(&u, &item);
            }
        }
        _ => {
            if let Ok(paths) = p.projection(&text) {
                let _ = project(&item, &paths);
            }
        }
    }
    let _ = p.finish();
});
