//! Primary keys: a table's key schema, the validation DynamoDB applies to key attributes (with its
//! messages), and the storage key an item is kept under.
//!
//! Storage key = partition token (8 bytes) | partition value length (u32) | partition value | sort value.
//! The token is a hash of the partition value, so partitions spread over the key space and a Scan visits
//! them in an order unrelated to their values, as DynamoDB's does; the length makes the partition prefix
//! unambiguous; the sort value comes last in an encoding whose byte order is DynamoDB's order for its type
//! (UTF-8 bytes for S, unsigned bytes for B, numeric order for N), so a Query is one range read.

use std::ops::Bound;

use aws_lc_rs::digest;

use crate::attr::{AttributeValue, Item};
use crate::number::Number;
use crate::DynamoError;

/// The types a key attribute may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "S" => Some(KeyType::S),
            "N" => Some(KeyType::N),
            "B" => Some(KeyType::B),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyAttr {
    pub name: String,
    pub kind: KeyType,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySchema {
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
}

/// Partition values are at most 2048 bytes, sort values at most 1024.
const MAX_PARTITION_BYTES: usize = 2048;
const MAX_SORT_BYTES: usize = 1024;

fn invalid(detail: String) -> DynamoError {
    DynamoError::Validation(format!("One or more parameter values were invalid: {detail}"))
}

fn schema_mismatch() -> DynamoError {
    DynamoError::Validation("The provided key element does not match the schema".into())
}

/// The bytes a key value is compared and sized by.
pub(crate) fn value_bytes(v: &AttributeValue) -> Option<Vec<u8>> {
    match v {
        AttributeValue::S(s) => Some(s.as_bytes().to_vec()),
        AttributeValue::B(b) => Some(b.clone()),
        AttributeValue::N(n) => Some(n.to_key_bytes()),
        _ => None,
    }
}

pub(crate) fn type_matches(kind: KeyType, v: &AttributeValue) -> bool {
    matches!(
        (kind, v),
        (KeyType::S, AttributeValue::S(_)) | (KeyType::N, AttributeValue::N(_)) | (KeyType::B, AttributeValue::B(_))
    )
}

/// DynamoDB's checks on one key attribute of an item being written.
fn check_item_key(attr: &KeyAttr, item: &Item, max: usize, partition: bool) -> Result<Vec<u8>, DynamoError> {
    let v = item
        .get(&attr.name)
        .ok_or_else(|| invalid(format!("Missing the key {} in the item", attr.name)))?;
    if !type_matches(attr.kind, v) {
        return Err(invalid(format!(
            "Type mismatch for key {} expected: {} actual: {}",
            attr.name,
            attr.kind.as_str(),
            v.type_name()
        )));
    }
    check_key_value(attr, v, max, partition)
}

/// "string" or "binary" for an empty S or B value, which no key may hold.
pub(crate) fn empty_kind(v: &AttributeValue) -> Option<&'static str> {
    match v {
        AttributeValue::S(s) => s.is_empty().then_some("string"),
        AttributeValue::B(b) => b.is_empty().then_some("binary"),
        _ => None,
    }
}

fn check_key_value(attr: &KeyAttr, v: &AttributeValue, max: usize, partition: bool) -> Result<Vec<u8>, DynamoError> {
    if let Some(kind) = empty_kind(v) {
        return Err(DynamoError::Validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
            attr.name
        )));
    }
    let size = match v {
        AttributeValue::N(n) => n.size_bytes(),
        other => value_bytes(other).map_or(0, |b| b.len()),
    };
    if size > max {
        return Err(invalid(if partition {
            format!("Size of hashkey has exceeded the maximum size limit of{MAX_PARTITION_BYTES} bytes")
        } else {
            format!("Aggregated size of all range keys has exceeded the size limit of {MAX_SORT_BYTES} bytes")
        }));
    }
    value_bytes(v).ok_or_else(schema_mismatch)
}

/// The 8-byte token a partition is placed by.
fn token(partition: &[u8]) -> [u8; 8] {
    let d = digest::digest(&digest::SHA256, partition);
    let mut t = [0u8; 8];
    t.copy_from_slice(&d.as_ref()[..8]);
    t
}

/// The storage prefix every item of one partition shares.
pub fn partition_prefix(partition: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + partition.len());
    out.extend_from_slice(&token(partition));
    out.extend_from_slice(&(partition.len() as u32).to_be_bytes());
    out.extend_from_slice(partition);
    out
}

fn storage_key(partition: &[u8], sort: Option<&[u8]>) -> Vec<u8> {
    let mut out = partition_prefix(partition);
    if let Some(s) = sort {
        out.extend_from_slice(s);
    }
    out
}

impl KeySchema {
    /// The storage key of an item being written (PutItem), with DynamoDB's checks and messages.
    pub fn item_key(&self, item: &Item) -> Result<Vec<u8>, DynamoError> {
        let p = check_item_key(&self.partition, item, MAX_PARTITION_BYTES, true)?;
        let s = match &self.sort {
            Some(attr) => Some(check_item_key(attr, item, MAX_SORT_BYTES, false)?),
            None => None,
        };
        Ok(storage_key(&p, s.as_deref()))
    }

    /// The storage key named by a `Key` parameter (GetItem, DeleteItem, UpdateItem): exactly the key
    /// attributes, of the schema's types.
    pub fn key_of(&self, key: &Item) -> Result<Vec<u8>, DynamoError> {
        let expected = 1 + usize::from(self.sort.is_some());
        if key.len() != expected {
            return Err(schema_mismatch());
        }
        let part = |attr: &KeyAttr, max: usize, partition: bool| -> Result<Vec<u8>, DynamoError> {
            let v = key.get(&attr.name).ok_or_else(schema_mismatch)?;
            if !type_matches(attr.kind, v) {
                return Err(schema_mismatch());
            }
            check_key_value(attr, v, max, partition)
        };
        let p = part(&self.partition, MAX_PARTITION_BYTES, true)?;
        let s = match &self.sort {
            Some(attr) => Some(part(attr, MAX_SORT_BYTES, false)?),
            None => None,
        };
        Ok(storage_key(&p, s.as_deref()))
    }

    /// Whether `name` is one of the key's attributes.
    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.partition.name == name || self.sort.as_ref().is_some_and(|s| s.name == name)
    }

    /// The key attributes of an item (for `LastEvaluatedKey`, stream records, ALL_OLD on a missing item).
    pub fn key_attributes(&self, item: &Item) -> Item {
        std::iter::once(&self.partition)
            .chain(self.sort.as_ref())
            .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
            .collect()
    }
}

/// The sort-key part of a Query's key condition.
#[derive(Debug, Clone, PartialEq)]
pub enum SortCondition {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

/// A range of storage keys: lower and upper bound.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A Query's key condition: one partition, and optionally a range of its sort keys.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCondition {
    pub partition: AttributeValue,
    pub sort: Option<SortCondition>,
}

/// The smallest byte string greater than every string that starts with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

fn mismatched_condition() -> DynamoError {
    invalid("Condition parameter type does not match schema type".into())
}

/// Appends `bytes` so that the result sorts as `bytes` do and no encoding is a prefix of another: every
/// zero byte becomes `00 FF` and `00 00` ends the value. Index keys need this because the table's primary
/// key follows the index's sort value in them.
pub(crate) fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    push_escaped_body(out, bytes);
    out.extend_from_slice(&[0, 0]);
}

fn push_escaped_body(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

impl KeyCondition {
    /// The storage-key range the condition selects, with DynamoDB's checks on the values' types.
    pub fn storage_bounds(&self, schema: &KeySchema) -> Result<KeyRange, DynamoError> {
        self.bounds(schema, false)
    }

    /// The same range in a secondary index, whose keys hold the sort value escaped and then the table's
    /// primary key (see [`push_escaped`]).
    pub fn index_bounds(&self, schema: &KeySchema) -> Result<KeyRange, DynamoError> {
        self.bounds(schema, true)
    }

    fn bounds(&self, schema: &KeySchema, escaped: bool) -> Result<KeyRange, DynamoError> {
        if !type_matches(schema.partition.kind, &self.partition) {
            return Err(mismatched_condition());
        }
        let partition = check_key_value(&schema.partition, &self.partition, MAX_PARTITION_BYTES, true)?;
        let prefix = partition_prefix(&partition);
        let whole = (
            Bound::Included(prefix.clone()),
            prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded),
        );
        let (Some(sort), Some(attr)) = (&self.sort, &schema.sort) else {
            return Ok(whole);
        };
        let at = |v: &AttributeValue| -> Result<Vec<u8>, DynamoError> {
            if !type_matches(attr.kind, v) {
                return Err(mismatched_condition());
            }
            let bytes = value_bytes(v).ok_or_else(mismatched_condition)?;
            let mut k = prefix.clone();
            if escaped {
                push_escaped(&mut k, &bytes);
            } else {
                k.extend_from_slice(&bytes);
            }
            Ok(k)
        };
        // In an index, the keys of one sort value `v` are `at(v)` followed by a primary key.
        let through = |k: Vec<u8>| -> Bound<Vec<u8>> {
            if escaped {
                prefix_end(&k).map_or(Bound::Unbounded, Bound::Excluded)
            } else {
                Bound::Included(k)
            }
        };
        let beyond = |k: Vec<u8>| -> Bound<Vec<u8>> {
            if escaped {
                prefix_end(&k).map_or(Bound::Excluded(k), Bound::Included)
            } else {
                Bound::Excluded(k)
            }
        };
        Ok(match sort {
            SortCondition::Eq(v) => (Bound::Included(at(v)?), through(at(v)?)),
            SortCondition::Lt(v) => (whole.0, Bound::Excluded(at(v)?)),
            SortCondition::Le(v) => (whole.0, through(at(v)?)),
            SortCondition::Gt(v) => (beyond(at(v)?), whole.1),
            SortCondition::Ge(v) => (Bound::Included(at(v)?), whole.1),
            SortCondition::Between(lo, hi) => (Bound::Included(at(lo)?), through(at(hi)?)),
            SortCondition::BeginsWith(p) => {
                if attr.kind == KeyType::N || !type_matches(attr.kind, p) {
                    return Err(mismatched_condition());
                }
                let mut start = prefix.clone();
                let bytes = value_bytes(p).ok_or_else(mismatched_condition)?;
                if escaped {
                    push_escaped_body(&mut start, &bytes);
                } else {
                    start.extend_from_slice(&bytes);
                }
                let end = prefix_end(&start).map_or(whole.1, Bound::Excluded);
                (Bound::Included(start), end)
            }
        })
    }
}

/// The sort value back from the bytes after a partition prefix (for ranges that resume mid-partition).
pub fn decode_sort(kind: KeyType, bytes: &[u8]) -> Option<AttributeValue> {
    Some(match kind {
        KeyType::S => AttributeValue::S(String::from_utf8(bytes.to_vec()).ok()?),
        KeyType::B => AttributeValue::B(bytes.to_vec()),
        KeyType::N => AttributeValue::N(Number::from_key_bytes(bytes)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::item_from_json;
    use proptest::prelude::*;
    use serde_json::json;

    fn schema(sort: Option<KeyType>) -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                kind: KeyType::S,
            },
            sort: sort.map(|kind| KeyAttr {
                name: "sk".into(),
                kind,
            }),
        }
    }

    fn item(v: serde_json::Value) -> Item {
        item_from_json(&v).unwrap()
    }

    fn err(r: Result<Vec<u8>, DynamoError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn item_keys_are_checked_with_dynamodb_messages() {
        let s = schema(Some(KeyType::N));
        assert_eq!(
            err(s.item_key(&item(json!({"sk": {"N": "1"}})))),
            "One or more parameter values were invalid: Missing the key pk in the item"
        );
        assert_eq!(
            err(s.item_key(&item(json!({"pk": {"S": "a"}, "sk": {"S": "1"}})))),
            "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S"
        );
        assert_eq!(
            err(s.item_key(&item(json!({"pk": {"S": ""}, "sk": {"N": "1"}})))),
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"
        );
        let big = "x".repeat(2049);
        assert_eq!(
            err(s.item_key(&item(json!({"pk": {"S": big}, "sk": {"N": "1"}})))),
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
        );
        let s = schema(Some(KeyType::S));
        let big = "x".repeat(1025);
        assert_eq!(
            err(s.item_key(&item(json!({"pk": {"S": "a"}, "sk": {"S": big}})))),
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
        );
        // Other attributes may be anything, and empty.
        assert!(s
            .item_key(&item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"S": ""}})))
            .is_ok());
    }

    #[test]
    fn key_parameters_must_match_the_schema_exactly() {
        let s = schema(Some(KeyType::S));
        let mismatch = "The provided key element does not match the schema";
        assert_eq!(err(s.key_of(&item(json!({"pk": {"S": "a"}})))), mismatch);
        assert_eq!(
            err(s.key_of(&item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"S": "c"}})))),
            mismatch
        );
        assert_eq!(
            err(s.key_of(&item(json!({"pk": {"S": "a"}, "sk": {"N": "1"}})))),
            mismatch
        );
        let whole = item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "x": {"S": "c"}}));
        assert_eq!(
            s.key_of(&s.key_attributes(&whole)).unwrap(),
            s.item_key(&whole).unwrap(),
            "an item and its key name the same storage key"
        );
    }

    fn key_with(sort: AttributeValue, kind: KeyType) -> Vec<u8> {
        let s = schema(Some(kind));
        let mut it = Item::new();
        it.insert("pk".into(), AttributeValue::S("p".into()));
        it.insert("sk".into(), sort);
        s.item_key(&it).unwrap()
    }

    proptest! {
        /// Within a partition, storage keys sort as DynamoDB sorts sort keys, for every key type.
        #[test]
        fn sort_keys_order_as_dynamodb_orders_them(
            a in "[a-zA-Z0-9é€]{1,8}", b in "[a-zA-Z0-9é€]{1,8}",
            x in any::<i64>(), y in any::<i64>(), ex in -5i32..5, ey in -5i32..5,
            c in proptest::collection::vec(any::<u8>(), 1..8), d in proptest::collection::vec(any::<u8>(), 1..8),
        ) {
            let ka = key_with(AttributeValue::S(a.clone()), KeyType::S);
            let kb = key_with(AttributeValue::S(b.clone()), KeyType::S);
            prop_assert_eq!(ka.cmp(&kb), a.as_bytes().cmp(b.as_bytes()));
            let nx = Number::parse(&format!("{x}e{ex}")).unwrap();
            let ny = Number::parse(&format!("{y}e{ey}")).unwrap();
            let fx = format!("{x}e{ex}").parse::<f64>().unwrap();
            let fy = format!("{y}e{ey}").parse::<f64>().unwrap();
            let (kx, ky) = (key_with(AttributeValue::N(nx.clone()), KeyType::N), key_with(AttributeValue::N(ny), KeyType::N));
            if fx != fy {
                prop_assert_eq!(kx.cmp(&ky), fx.partial_cmp(&fy).unwrap());
            }
            let prefix = partition_prefix(b"p");
            prop_assert_eq!(decode_sort(KeyType::N, &kx[prefix.len()..]), Some(AttributeValue::N(nx)));
            let (kc, kd) = (key_with(AttributeValue::B(c.clone()), KeyType::B), key_with(AttributeValue::B(d.clone()), KeyType::B));
            prop_assert_eq!(kc.cmp(&kd), c.cmp(&d));
        }

        /// One partition's keys all start with its prefix, and no other partition's do.
        #[test]
        fn partitions_never_share_a_prefix(p in "[a-z]{1,6}", q in "[a-z]{1,6}", s in "[a-z]{1,6}") {
            let sch = schema(Some(KeyType::S));
            let mut it = Item::new();
            it.insert("pk".into(), AttributeValue::S(p.clone()));
            it.insert("sk".into(), AttributeValue::S(s));
            let k = sch.item_key(&it).unwrap();
            prop_assert!(k.starts_with(&partition_prefix(p.as_bytes())));
            if p != q {
                prop_assert!(!k.starts_with(&partition_prefix(q.as_bytes())));
            }
        }
    }
}
