//! Reading awsJson inputs: typed member access with AWS's SerializationException (wrong JSON type) and
//! coral ValidationException (missing required member).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::ApiError;

pub struct Input<'a>(pub &'a Value);

fn camel(name: &str) -> String {
    let mut c = name.to_owned();
    if let Some(first) = c.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    c
}

fn wrong_type(name: &str, expected: &str) -> ApiError {
    ApiError::serialization(format!("Unexpected value type for {name}: expected {expected}"))
}

pub fn missing(name: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        camel(name)
    ))
}

impl<'a> Input<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "string")),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(name, "integer")),
            Some(_) => Err(wrong_type(name, "integer")),
        }
    }

    /// An optional integer that must lie in `lo..=hi`; `path` names it in the coral message.
    pub fn opt_i64_between(&self, name: &str, path: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
        match self.opt_i64(name)? {
            Some(v) if v < lo || v > hi => {
                let bound = if v < lo {
                    format!("greater than or equal to {lo}")
                } else {
                    format!("less than or equal to {hi}")
                };
                Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{v}' at '{path}' failed to satisfy constraint: Member must have value {bound}"
                )))
            }
            v => Ok(v),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(wrong_type(name, "boolean")),
        }
    }

    /// A base64 blob member.
    pub fn opt_blob(&self, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(Some)
                .map_err(|_| ApiError::serialization(format!("Invalid base64 in {name}"))),
        }
    }

    pub fn blob(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        self.opt_blob(name)?.ok_or_else(|| missing(name))
    }

    pub fn str_map(&self, name: &str) -> Result<BTreeMap<String, String>, ApiError> {
        match self.get(name) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(wrong_type(name, "map of strings")),
                })
                .collect(),
            Some(_) => Err(wrong_type(name, "map")),
        }
    }

    pub fn str_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(wrong_type(name, "list of strings")),
                })
                .collect(),
            Some(_) => Err(wrong_type(name, "list")),
        }
    }

    /// A list of structures, each read with its own `Input`.
    pub fn list(&self, name: &str) -> Result<Vec<Input<'a>>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.iter().map(Input).collect()),
            Some(_) => Err(wrong_type(name, "list")),
        }
    }

    pub fn object(&self, name: &str) -> Result<Option<Input<'a>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(Input(v))),
            Some(_) => Err(wrong_type(name, "structure")),
        }
    }

    /// A timestamp: epoch seconds, possibly fractional. Returns milliseconds.
    pub fn opt_timestamp_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(|f| Some((f * 1000.0).round() as i64))
                .ok_or_else(|| wrong_type(name, "timestamp")),
            Some(_) => Err(wrong_type(name, "timestamp")),
        }
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Epoch seconds as AWS JSON timestamps carry them.
pub fn epoch(ms: i64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_integers_name_the_bound_they_miss() {
        let v = serde_json::json!({"Limit": 0, "Big": 101, "Ok": 5});
        let i = Input(&v);
        let message = |r: Result<Option<i64>, ApiError>| r.unwrap_err().message;
        assert_eq!(
            message(i.opt_i64_between("Limit", "limit", 1, 100)),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            message(i.opt_i64_between("Big", "limit", 1, 100)),
            "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
        );
        assert_eq!(i.opt_i64_between("Ok", "limit", 1, 100).unwrap(), Some(5));
        assert_eq!(i.opt_i64_between("Absent", "limit", 1, 100).unwrap(), None);
    }
}
