//! The JSON members of DynamoDB item requests that the domain decodes: expression placeholders, the
//! legacy condition maps and AttributeUpdates. Never a panic; whatever decodes can be evaluated.
#![no_main]
use libfuzzer_sys::fuzz_target;

use dynamodb::attr::Item;
use dynamodb::expr::eval::evaluate;
use dynamodb::expr::update::apply;
use dynamodb::expr::Placeholders;
use dynamodb::legacy::{attribute_updates, conditions, Use};

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = Placeholders::from_json(json.get("ExpressionAttributeNames"), json.get("ExpressionAttributeValues"));
    let operator = json.get("ConditionalOperator").and_then(|v| v.as_str());
    let empty = Item::new();
    for (member, use_) in [
        ("Expected", Use::Expected),
        ("QueryFilter", Use::Filter),
        ("KeyConditions", Use::KeyConditions),
    ] {
        if let Some(v) = json.get(member) {
            if let Ok(Some(c)) = conditions(v, operator, use_) {
                let _ = evaluate(&c, &empty);
            }
        }
    }
    if let Some(v) = json.get("AttributeUpdates") {
        if let Ok(u) = attribute_updates(v) {
            let _ = apply(&u, &empty);
        }
    }
});
