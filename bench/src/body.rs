//! The bodies of the requests the load generator sends over and over, written straight into bytes.
//!
//! Building each one as a `serde_json::Value` (a map per attribute, a 1,000-character payload collected
//! character by character) and serializing it took about a fifth of the generator's CPU, which on a
//! two-core machine is CPU the server under test does not get. The bytes are the JSON those values
//! serialize to (the tests hold each writer to its `json!` form); key order aside, a server sees the same
//! requests.

use std::io::Write;

/// `"p<i / 10>"`: item `i`'s partition key (ten items to a partition, one Query's worth).
pub fn partition(i: u64) -> String {
    format!("p{:08}", i / 10)
}

/// The payload of item `i` (or of an update numbered `i`): 1,000 copies of one letter.
fn write_payload(out: &mut Vec<u8>, i: u64) {
    out.resize(out.len() + 1000, b'a' + (i % 26) as u8);
}

/// A table name as a JSON string (table names need no escaping, but one from `--table` is not checked).
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_key(out: &mut Vec<u8>, i: u64) {
    let _ = write!(out, r#"{{"pk":{{"S":"p{:08}"}},"sk":{{"N":"{}"}}}}"#, i / 10, i % 10);
}

/// Item `i` in its `version`th form: see [`crate::workload::item`].
fn write_item(out: &mut Vec<u8>, i: u64, version: u64) {
    let _ = write!(
        out,
        r#"{{"pk":{{"S":"p{:08}"}},"sk":{{"N":"{}"}},"g1":{{"S":"g{}"}},"g2":{{"N":"{}"}},"lsk":{{"N":"{}"}},"payload":{{"S":""#,
        i / 10,
        i % 10,
        (i + version) % 100,
        i * 1000 + version % 1000,
        version
    );
    write_payload(out, i);
    out.extend_from_slice(br#""}}"#);
}

fn with_table(table: &str, capacity: usize, rest: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(br#"{"TableName":"#);
    write_str(&mut out, table);
    rest(&mut out);
    out.push(b'}');
    out
}

/// PutItem of item `i` in its `version`th form.
pub fn put_item(table: &str, i: u64, version: u64) -> Vec<u8> {
    with_table(table, 1200, |out| {
        out.extend_from_slice(br#","Item":"#);
        write_item(out, i, version);
    })
}

/// GetItem of item `i`.
pub fn get_item(table: &str, i: u64) -> Vec<u8> {
    with_table(table, 96, |out| {
        out.extend_from_slice(br#","Key":"#);
        write_key(out, i);
    })
}

/// UpdateItem of item `i` that replaces its payload with update `n`'s, under `condition` if given.
pub fn update_payload(table: &str, i: u64, n: u64, condition: Option<&str>) -> Vec<u8> {
    with_table(table, 1200, |out| {
        out.extend_from_slice(br#","Key":"#);
        write_key(out, i);
        out.extend_from_slice(
            br##","UpdateExpression":"SET #p = :v","ExpressionAttributeNames":{"#p":"payload"},"ExpressionAttributeValues":{":v":{"S":""##,
        );
        write_payload(out, n);
        out.extend_from_slice(br#""}}"#);
        if let Some(c) = condition {
            out.extend_from_slice(br#","ConditionExpression":"#);
            write_str(out, c);
        }
    })
}

/// Query of item `i`'s whole partition.
pub fn query_partition(table: &str, i: u64) -> Vec<u8> {
    with_table(table, 160, |out| {
        let _ = write!(
            out,
            r#","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{{":p":{{"S":"p{:08}"}}}}"#,
            i / 10
        );
    })
}

/// Query of up to `len` items of item `i`'s partition, from item `i` on (YCSB E's short range).
pub fn query_from(table: &str, i: u64, len: u64) -> Vec<u8> {
    with_table(table, 200, |out| {
        let _ = write!(
            out,
            r#","KeyConditionExpression":"pk = :p AND sk >= :s","Limit":{len},"ExpressionAttributeValues":{{":p":{{"S":"p{:08}"}},":s":{{"N":"{}"}}}}"#,
            i / 10,
            i % 10
        );
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::workload::item;

    fn parsed(body: Vec<u8>) -> Value {
        serde_json::from_slice(&body).expect("the body is JSON")
    }

    fn key(i: u64) -> Value {
        json!({"pk": {"S": partition(i)}, "sk": {"N": (i % 10).to_string()}})
    }

    fn payload(n: u64) -> String {
        std::iter::repeat_n(char::from(b'a' + (n % 26) as u8), 1000).collect()
    }

    #[test]
    fn bodies_are_the_json_of_their_requests() {
        for (i, n) in [
            (0, 0),
            (7, 1),
            (123_456, 99_999),
            (9_999_999, 1_000_001),
            (u64::MAX / 1000, 25),
        ] {
            assert_eq!(
                parsed(put_item("bench", i, n)),
                json!({"TableName": "bench", "Item": item(i, n)})
            );
            assert_eq!(
                parsed(get_item("bench", i)),
                json!({"TableName": "bench", "Key": key(i)})
            );
            let update = json!({"TableName": "bench", "Key": key(i), "UpdateExpression": "SET #p = :v",
                "ExpressionAttributeNames": {"#p": "payload"}, "ExpressionAttributeValues": {":v": {"S": payload(n)}}});
            assert_eq!(parsed(update_payload("bench", i, n, None)), update);
            let mut conditional = update.clone();
            conditional["ConditionExpression"] = json!("attribute_exists(pk)");
            assert_eq!(
                parsed(update_payload("bench", i, n, Some("attribute_exists(pk)"))),
                conditional
            );
            assert_eq!(
                parsed(query_partition("bench", i)),
                json!({"TableName": "bench", "KeyConditionExpression": "pk = :p",
                       "ExpressionAttributeValues": {":p": {"S": partition(i)}}})
            );
            assert_eq!(
                parsed(query_from("bench", i, 1 + n % 100)),
                json!({"TableName": "bench", "KeyConditionExpression": "pk = :p AND sk >= :s", "Limit": 1 + n % 100,
                       "ExpressionAttributeValues": {":p": {"S": partition(i)}, ":s": {"N": (i % 10).to_string()}}})
            );
        }
    }

    #[test]
    fn a_table_name_is_written_as_a_json_string() {
        assert_eq!(parsed(get_item("a\"b\\c", 1))["TableName"], json!("a\"b\\c"));
    }
}
