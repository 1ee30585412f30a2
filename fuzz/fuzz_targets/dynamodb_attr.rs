//! DynamoDB attribute values from arbitrary request JSON, and stored items from arbitrary bytes: never a
//! panic; whatever parses encodes, decodes and serializes back to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;

use dynamodb::attr::{decode_item, encode_item, item_from_json, item_to_json};

fuzz_target!(|data: &[u8]| {
    let _ = decode_item(data);
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(item) = item_from_json(&json) else { return };
    assert_eq!(decode_item(&encode_item(&item)).ok().as_ref(), Some(&item));
    assert_eq!(item_from_json(&item_to_json(&item)).ok().as_ref(), Some(&item));
});
