//! DynamoDB's attribute values: parsed from the wire with DynamoDB's rules and messages, written back in
//! its JSON shape, sized the way DynamoDB sizes items, and encoded compactly for storage.
//!
//! Storage encoding (self-delimiting, one tag byte per value):
//! ```text
//! S  0x01 len u32 | utf8      N  0x02 len u32 | number text   B  0x03 len u32 | bytes
//! BOOL 0x04 u8                NULL 0x05
//! M  0x06 count u32 | count x (name len u32 | name | value)
//! L  0x07 count u32 | count x value
//! SS 0x08 count u32 | count x (len u32 | utf8)   NS 0x09 (... number text)   BS 0x0A (... bytes)
//! ```

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::number::Number;
use crate::DynamoError;

/// Maps and lists nest at most this deep.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttributeValue>),
    L(Vec<AttributeValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item: attribute names to values.
pub type Item = BTreeMap<String, AttributeValue>;

fn invalid(detail: &str) -> DynamoError {
    DynamoError::Validation(format!("One or more parameter values were invalid: {detail}"))
}

fn serialization(detail: String) -> DynamoError {
    DynamoError::Serialization(detail)
}

fn string_of(v: &Value) -> Result<&str, DynamoError> {
    v.as_str()
        .ok_or_else(|| serialization(format!("Unexpected value type in payload: {v}")))
}

fn list_of(v: &Value) -> Result<&Vec<Value>, DynamoError> {
    v.as_array()
        .ok_or_else(|| serialization("Expected list or null".into()))
}

fn base64_of(v: &Value) -> Result<Vec<u8>, DynamoError> {
    let text = string_of(v)?;
    if text.len() % 4 != 0 {
        return Err(serialization(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            text.len()
        )));
    }
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| {
        serialization(format!(
            "'{text}' can not be converted to a Blob: Invalid Base64 encoding"
        ))
    })
}

/// A set's elements, each parsed by `element`; a set is never empty (duplicates are checked per type, as
/// DynamoDB words each differently).
fn set_of<T>(x: &Value, kind: &str, element: impl Fn(&Value) -> Result<T, DynamoError>) -> Result<Vec<T>, DynamoError> {
    let items = list_of(x)?.iter().map(element).collect::<Result<Vec<T>, _>>()?;
    if items.is_empty() {
        return Err(invalid(&format!("An {kind} set  may not be empty")));
    }
    Ok(items)
}

fn no_duplicates<T: std::hash::Hash + Eq>(items: &[T]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().all(|x| seen.insert(x))
}

impl AttributeValue {
    /// Parses one wire attribute value (`{"S": "x"}`) with DynamoDB's validation.
    pub fn from_json(v: &Value) -> Result<AttributeValue, DynamoError> {
        Self::parse(v, 0)
    }

    fn parse(v: &Value, depth: usize) -> Result<AttributeValue, DynamoError> {
        if depth > MAX_DEPTH {
            return Err(DynamoError::Validation(
                "Nesting Levels have exceeded supported limits".into(),
            ));
        }
        let obj = v
            .as_object()
            .ok_or_else(|| serialization("Unexpected value type in payload".into()))?;
        // Members sent as null are absent, as the SDKs and DynamoDB treat them.
        let set: Vec<(&String, &Value)> = obj.iter().filter(|(_, x)| !x.is_null()).collect();
        let (kind, x) = match set.as_slice() {
            [] => {
                return Err(DynamoError::Validation(
                    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into(),
                ))
            }
            [one] => *one,
            _ => {
                return Err(DynamoError::Validation(
                    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
                        .into(),
                ))
            }
        };
        Ok(match kind.as_str() {
            "S" => AttributeValue::S(string_of(x)?.to_owned()),
            "N" => AttributeValue::N(Number::parse(string_of(x)?)?),
            "B" => AttributeValue::B(base64_of(x)?),
            "BOOL" => AttributeValue::Bool(
                x.as_bool()
                    .ok_or_else(|| serialization(format!("'{x}' can not be converted to an Boolean")))?,
            ),
            "NULL" => match x.as_bool() {
                Some(true) => AttributeValue::Null,
                Some(false) => return Err(invalid("Null attribute value types must have the value of true")),
                None => return Err(serialization(format!("'{x}' can not be converted to an Boolean"))),
            },
            "M" => {
                let m = x
                    .as_object()
                    .ok_or_else(|| serialization("Expected map or null".into()))?;
                let mut out = BTreeMap::new();
                for (name, value) in m {
                    out.insert(name.clone(), Self::parse(value, depth + 1)?);
                }
                AttributeValue::M(out)
            }
            "L" => AttributeValue::L(
                list_of(x)?
                    .iter()
                    .map(|e| Self::parse(e, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            "SS" => {
                let items = set_of(x, "string", |e| string_of(e).map(str::to_owned))?;
                if !no_duplicates(&items) {
                    return Err(invalid(&format!(
                        "Input collection [{}] contains duplicates.",
                        items.join(", ")
                    )));
                }
                AttributeValue::Ss(items)
            }
            "NS" => {
                let items = set_of(x, "number", |e| string_of(e).and_then(Number::parse))?;
                if !no_duplicates(&items) {
                    return Err(DynamoError::Validation("Input collection contains duplicates".into()));
                }
                AttributeValue::Ns(items)
            }
            "BS" => {
                let items = set_of(x, "binary", base64_of)?;
                if !no_duplicates(&items) {
                    return Err(invalid("Input collection contains duplicates of type BS."));
                }
                AttributeValue::Bs(items)
            }
            other => {
                return Err(serialization(format!(
                    "Unrecognized field \"{other}\", not marked as ignorable"
                )))
            }
        })
    }

    /// The wire shape, numbers normalized as DynamoDB returns them.
    pub fn to_json(&self) -> Value {
        let b64 = |b: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
        match self {
            AttributeValue::S(s) => json!({ "S": s }),
            AttributeValue::N(n) => json!({ "N": n.to_text() }),
            AttributeValue::B(b) => json!({ "B": b64(b) }),
            AttributeValue::Bool(b) => json!({ "BOOL": b }),
            AttributeValue::Null => json!({ "NULL": true }),
            AttributeValue::M(m) => {
                let inner: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                json!({ "M": inner })
            }
            AttributeValue::L(l) => json!({ "L": l.iter().map(AttributeValue::to_json).collect::<Vec<_>>() }),
            AttributeValue::Ss(s) => json!({ "SS": s }),
            AttributeValue::Ns(n) => json!({ "NS": n.iter().map(Number::to_text).collect::<Vec<_>>() }),
            AttributeValue::Bs(b) => json!({ "BS": b.iter().map(|x| b64(x)).collect::<Vec<_>>() }),
        }
    }

    /// The type's name in DynamoDB's messages and `attribute_type` (`S`, `N`, `BOOL`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// The value's share of an item's size, as DynamoDB counts it (spec/dynamodb-api.md section 4): strings
    /// and binaries by their bytes, numbers by about one byte per two significant digits plus one, BOOL and
    /// NULL one byte, maps and lists three bytes plus one per element plus their elements (map elements
    /// also count their names).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.size_bytes(),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
            AttributeValue::Ns(n) => n.iter().map(Number::size_bytes).sum(),
            AttributeValue::Bs(b) => b.iter().map(Vec::len).sum(),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        };
        let count = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u32).to_be_bytes());
        match self {
            AttributeValue::S(s) => {
                out.push(0x01);
                bytes(out, s.as_bytes());
            }
            AttributeValue::N(n) => {
                out.push(0x02);
                bytes(out, n.to_text().as_bytes());
            }
            AttributeValue::B(b) => {
                out.push(0x03);
                bytes(out, b);
            }
            AttributeValue::Bool(b) => out.extend_from_slice(&[0x04, u8::from(*b)]),
            AttributeValue::Null => out.push(0x05),
            AttributeValue::M(m) => {
                out.push(0x06);
                count(out, m.len());
                for (k, v) in m {
                    bytes(out, k.as_bytes());
                    v.encode_into(out);
                }
            }
            AttributeValue::L(l) => {
                out.push(0x07);
                count(out, l.len());
                for v in l {
                    v.encode_into(out);
                }
            }
            AttributeValue::Ss(s) => {
                out.push(0x08);
                count(out, s.len());
                for x in s {
                    bytes(out, x.as_bytes());
                }
            }
            AttributeValue::Ns(n) => {
                out.push(0x09);
                count(out, n.len());
                for x in n {
                    bytes(out, x.to_text().as_bytes());
                }
            }
            AttributeValue::Bs(b) => {
                out.push(0x0A);
                count(out, b.len());
                for x in b {
                    bytes(out, x);
                }
            }
        }
    }
}

/// An item's size as DynamoDB counts it: every attribute's name and value.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Parses a wire item (`{"name": {"S": "x"}, ...}`).
pub fn item_from_json(v: &Value) -> Result<Item, DynamoError> {
    let obj = v
        .as_object()
        .ok_or_else(|| serialization("Expected map or null".into()))?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), AttributeValue::from_json(v)?)))
        .collect()
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// The storage encoding of an item.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(item_size(item) + 8 * item.len() + 4);
    out.extend_from_slice(&(item.len() as u32).to_be_bytes());
    for (k, v) in item {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        v.encode_into(&mut out);
    }
    out
}

/// Reads what [`encode_item`] wrote. Storage hands back only authenticated bytes, so a failure here is a
/// bug or a format mismatch, reported as corruption rather than trusted.
pub fn decode_item(raw: &[u8]) -> Result<Item, DynamoError> {
    let mut r = Reader { raw, pos: 0 };
    let n = r.u32()?;
    let mut item = Item::new();
    for _ in 0..n {
        let name = r.string()?;
        item.insert(name, r.value(0)?);
    }
    if r.pos != raw.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(item)
}

/// [`item_size`] of the item [`encode_item`] wrote, read off its bytes without building the item: counting
/// a table's items and size at open reads every item it holds, and building each one only to measure it
/// was most of that count's work.
pub fn encoded_item_size(raw: &[u8]) -> Result<usize, DynamoError> {
    let mut r = Reader { raw, pos: 0 };
    let n = r.u32()?;
    let mut size = 0;
    for _ in 0..n {
        size += r.skip_bytes()? + r.value_size(0)?;
    }
    if r.pos != raw.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(size)
}

fn corrupt(detail: &str) -> DynamoError {
    DynamoError::Corrupt(format!("stored item does not decode: {detail}"))
}

struct Reader<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DynamoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.raw.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let out = &self.raw[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<usize, DynamoError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DynamoError> {
        let n = self.u32()?;
        Ok(self.take(n)?.to_vec())
    }

    /// Steps over a length-prefixed byte string; returns its length.
    fn skip_bytes(&mut self) -> Result<usize, DynamoError> {
        let n = self.u32()?;
        Ok(self.take(n)?.len())
    }

    fn number_size(&mut self) -> Result<usize, DynamoError> {
        let n = self.u32()?;
        let text = std::str::from_utf8(self.take(n)?).map_err(|_| corrupt("text is not UTF-8"))?;
        Ok(Number::parse(text).map_err(|_| corrupt("bad number"))?.size_bytes())
    }

    /// [`AttributeValue::size`] of the value [`Reader::value`] would read.
    fn value_size(&mut self, depth: usize) -> Result<usize, DynamoError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deep"));
        }
        let tag = self.take(1)?[0];
        let mut sum = |per: &mut dyn FnMut(&mut Self) -> Result<usize, DynamoError>| {
            let n = self.count()?;
            (0..n).try_fold(0, |acc, _| Ok::<_, DynamoError>(acc + per(self)?))
        };
        Ok(match tag {
            0x01 | 0x03 => self.skip_bytes()?,
            0x02 => self.number_size()?,
            0x04 => {
                self.take(1)?;
                1
            }
            0x05 => 1,
            0x06 => 3 + sum(&mut |r| Ok(r.skip_bytes()? + r.value_size(depth + 1)? + 1))?,
            0x07 => 3 + sum(&mut |r| Ok(r.value_size(depth + 1)? + 1))?,
            0x08 | 0x0A => sum(&mut |r| r.skip_bytes())?,
            0x09 => sum(&mut |r| r.number_size())?,
            _ => return Err(corrupt("unknown type tag")),
        })
    }

    fn string(&mut self) -> Result<String, DynamoError> {
        String::from_utf8(self.bytes()?).map_err(|_| corrupt("text is not UTF-8"))
    }

    fn number(&mut self) -> Result<Number, DynamoError> {
        Number::parse(&self.string()?).map_err(|_| corrupt("bad number"))
    }

    /// A count of elements, each at least one byte: never more than the bytes left.
    fn count(&mut self) -> Result<usize, DynamoError> {
        let n = self.u32()?;
        if n > self.raw.len() - self.pos {
            return Err(corrupt("count larger than the data"));
        }
        Ok(n)
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, DynamoError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deep"));
        }
        let tag = self.take(1)?[0];
        Ok(match tag {
            0x01 => AttributeValue::S(self.string()?),
            0x02 => AttributeValue::N(self.number()?),
            0x03 => AttributeValue::B(self.bytes()?),
            0x04 => AttributeValue::Bool(self.take(1)?[0] != 0),
            0x05 => AttributeValue::Null,
            0x06 => {
                let n = self.count()?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = self.string()?;
                    m.insert(k, self.value(depth + 1)?);
                }
                AttributeValue::M(m)
            }
            0x07 => {
                let n = self.count()?;
                AttributeValue::L((0..n).map(|_| self.value(depth + 1)).collect::<Result<_, _>>()?)
            }
            0x08 => {
                let n = self.count()?;
                AttributeValue::Ss((0..n).map(|_| self.string()).collect::<Result<_, _>>()?)
            }
            0x09 => {
                let n = self.count()?;
                AttributeValue::Ns((0..n).map(|_| self.number()).collect::<Result<_, _>>()?)
            }
            0x0A => {
                let n = self.count()?;
                AttributeValue::Bs((0..n).map(|_| self.bytes()).collect::<Result<_, _>>()?)
            }
            _ => return Err(corrupt("unknown type tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(v: Value) -> Result<AttributeValue, String> {
        AttributeValue::from_json(&v).map_err(|e| e.to_string())
    }

    #[test]
    fn every_type_round_trips_through_the_wire_shape() {
        let v = json!({"M": {
            "s": {"S": "x"}, "n": {"N": "0012.50"}, "b": {"B": "AAEC"}, "t": {"BOOL": true}, "z": {"NULL": true},
            "l": {"L": [{"S": ""}, {"N": "-1e2"}]}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.0"]},
            "bs": {"BS": ["AA==", "AQ=="]}
        }});
        let a = parse(v).unwrap();
        let back = a.to_json();
        assert_eq!(back["M"]["n"], json!({"N": "12.5"}), "numbers normalized");
        assert_eq!(back["M"]["l"]["L"][1], json!({"N": "-100"}));
        assert_eq!(parse(back).unwrap(), a);
    }

    #[test]
    fn bad_values_get_dynamodb_messages() {
        let cases = [
            (json!({}), "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
            (
                json!({"S": "a", "N": "1"}),
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ),
            (json!({"SS": []}), "One or more parameter values were invalid: An string set  may not be empty"),
            (
                json!({"SS": ["a", "a"]}),
                "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
            ),
            (json!({"NS": ["1", "1.0"]}), "Input collection contains duplicates"),
            (
                json!({"NULL": false}),
                "One or more parameter values were invalid: Null attribute value types must have the value of true",
            ),
            (json!({"N": "abc"}), "The parameter cannot be converted to a numeric value: abc"),
        ];
        for (v, msg) in cases {
            assert_eq!(parse(v.clone()).unwrap_err(), msg, "{v}");
        }
        let mut deep = json!({"S": "x"});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"L": [deep]});
        }
        assert_eq!(
            parse(deep).unwrap_err(),
            "Nesting Levels have exceeded supported limits"
        );
        assert!(matches!(
            AttributeValue::from_json(&json!({"B": "abc"})),
            Err(DynamoError::Serialization(_))
        ));
    }

    #[test]
    fn sizes_follow_dynamodb() {
        let item = item_from_json(&json!({
            "id": {"S": "abc"}, "flag": {"BOOL": true}, "list": {"L": [{"S": "xy"}, {"NULL": true}]}
        }))
        .unwrap();
        // id: 2 + 3; flag: 4 + 1; list: 4 + 3 + (2 + 1) + (1 + 1)
        assert_eq!(item_size(&item), 5 + 5 + 12);
    }

    fn arb_value() -> impl Strategy<Value = AttributeValue> {
        let number = (any::<i64>(), -20i32..20).prop_map(|(m, e)| Number::parse(&format!("{m}e{e}")).unwrap());
        let leaf = prop_oneof![
            ".{0,12}".prop_map(AttributeValue::S),
            number.clone().prop_map(AttributeValue::N),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(AttributeValue::B),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null),
            proptest::collection::btree_set(".{0,6}", 1..4).prop_map(|s| AttributeValue::Ss(s.into_iter().collect())),
            proptest::collection::btree_set(any::<i32>(), 1..4).prop_map(|s| AttributeValue::Ns(
                s.into_iter().map(|x| Number::parse(&x.to_string()).unwrap()).collect()
            )),
            proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..6), 1..4)
                .prop_map(|s| AttributeValue::Bs(s.into_iter().collect())),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
                proptest::collection::btree_map(".{0,6}", inner, 0..4).prop_map(AttributeValue::M),
            ]
        })
    }

    proptest! {
        #[test]
        fn storage_encoding_round_trips(item in proptest::collection::btree_map(".{1,8}", arb_value(), 0..6)) {
            prop_assert_eq!(decode_item(&encode_item(&item)).unwrap(), item.clone());
            prop_assert_eq!(encoded_item_size(&encode_item(&item)).unwrap(), item_size(&item));
            prop_assert_eq!(item_from_json(&item_to_json(&item)).unwrap(), item);
        }

        #[test]
        fn decoding_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_item(&raw);
            let _ = encoded_item_size(&raw);
        }
    }
}
