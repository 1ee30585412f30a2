//! Condition operators and the request's condition keys.

use std::collections::HashMap;
use std::net::IpAddr;

use super::document::PolicyError;
use super::wildcard;

/// The condition keys of one request. Key names are case-insensitive, so they are kept lower-cased.
/// A key may carry several values (`kms:EncryptionContextKeys`, `kms:GrantOperations`).
#[derive(Debug, Clone, Default)]
pub struct ConditionKeys(HashMap<String, Vec<String>>);

impl ConditionKeys {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    pub fn set_many(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.0.insert(key.to_ascii_lowercase(), values);
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0.get(&key.to_ascii_lowercase()).map(|v| v.as_slice())
    }

    pub fn set_if_missing(&mut self, key: &str, value: impl FnOnce() -> String) -> &mut Self {
        self.0.entry(key.to_ascii_lowercase()).or_insert_with(|| vec![value()]);
        self
    }

    /// Moves in every key of `other` that `self` does not have yet.
    pub fn extend_missing(&mut self, other: ConditionKeys) {
        for (k, v) in other.0 {
            self.0.entry(k).or_insert(v);
        }
    }

    pub fn extend(&mut self, other: &ConditionKeys) {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), v.clone());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    base: Base,
    negated: bool,
    if_exists: bool,
    set: SetQualifier,
}

impl Operator {
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        use Base::*;
        let (base, negated) = match rest {
            "StringEquals" => (StringEquals, false),
            "StringNotEquals" => (StringEquals, true),
            "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
            "StringLike" => (StringLike, false),
            "StringNotLike" => (StringLike, true),
            "NumericEquals" => (NumericEquals, false),
            "NumericNotEquals" => (NumericEquals, true),
            "NumericLessThan" => (NumericLessThan, false),
            "NumericLessThanEquals" => (NumericLessThanEquals, false),
            "NumericGreaterThan" => (NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
            "DateEquals" => (DateEquals, false),
            "DateNotEquals" => (DateEquals, true),
            "DateLessThan" => (DateLessThan, false),
            "DateLessThanEquals" => (DateLessThanEquals, false),
            "DateGreaterThan" => (DateGreaterThan, false),
            "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
            "Bool" => (Bool, false),
            "BinaryEquals" => (BinaryEquals, false),
            "IpAddress" => (IpAddress, false),
            "NotIpAddress" => (IpAddress, true),
            "ArnEquals" | "ArnLike" => (ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
            "Null" if !if_exists && set == SetQualifier::None => (Null, false),
            _ => return None,
        };
        Some(Operator {
            base,
            negated,
            if_exists,
            set,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Condition {
    op: Operator,
    key: String,
    values: Vec<String>,
}

impl Condition {
    pub(crate) fn new(op: Operator, key: &str, values: Vec<String>) -> Result<Condition, PolicyError> {
        if values.is_empty() {
            return Err(PolicyError(format!(
                "Syntax errors in policy. Condition key {key} has no values."
            )));
        }
        if op.base == Base::Null && !values.iter().all(|v| v == "true" || v == "false") {
            return Err(PolicyError(format!(
                "Syntax errors in policy. Null condition on {key} takes true or false."
            )));
        }
        Ok(Condition {
            op,
            key: key.to_owned(),
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn uses_for_all_values(&self) -> bool {
        self.op.set == SetQualifier::ForAllValues
    }

    pub fn holds(&self, keys: &ConditionKeys) -> bool {
        let present = keys.get(&self.key).filter(|v| !v.is_empty());
        if self.op.base == Base::Null {
            let want_absent = self.values.iter().any(|v| v == "true");
            return want_absent == present.is_none();
        }
        let one = |v: &str| self.values.iter().any(|p| base_matches(self.op.base, v, p));
        match (self.op.set, present) {
            (SetQualifier::ForAllValues, None) => true,
            (SetQualifier::ForAnyValue, None) => self.op.if_exists,
            (SetQualifier::None, None) => self.op.if_exists || self.op.negated,
            (SetQualifier::ForAllValues, Some(vs)) => vs.iter().all(|v| one(v) != self.op.negated),
            (SetQualifier::ForAnyValue, Some(vs)) => vs.iter().any(|v| one(v) != self.op.negated),
            (SetQualifier::None, Some(vs)) => vs.iter().any(|v| one(v)) != self.op.negated,
        }
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Dates are ISO 8601 or epoch seconds.
fn parse_date(s: &str) -> Option<i128> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return Some(secs as i128 * 1_000_000_000);
    }
    if let Some(t) = base::timefmt::parse_rfc3339(s) {
        return Some(t.unix_timestamp_nanos());
    }
    // `2026-01-01` alone means midnight UTC.
    base::timefmt::parse_rfc3339(&format!("{s}T00:00:00Z")).map(|t| t.unix_timestamp_nanos())
}

fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let Ok(addr) = ip.parse::<IpAddr>() else { return false };
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            (u32::from(n) & mask) == (u32::from(a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            (u128::from(n) & mask) == (u128::from(a) & mask)
        }
        _ => false,
    }
}

/// ARNs compare segment by segment (six colon-separated parts), each with wildcards.
fn arn_like(value: &str, pattern: &str) -> bool {
    let v: Vec<&str> = value.splitn(6, ':').collect();
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    if p.len() == 1 && p[0] == "*" {
        return true;
    }
    v.len() == 6 && p.len() == 6 && v.iter().zip(&p).all(|(v, p)| wildcard::matches(p, v))
}

fn base_matches(base: Base, value: &str, policy: &str) -> bool {
    use Base::*;
    let num = |f: fn(f64, f64) -> bool| match (parse_number(value), parse_number(policy)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    };
    let date = |f: fn(i128, i128) -> bool| match (parse_date(value), parse_date(policy)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    };
    match base {
        StringEquals => value == policy,
        StringEqualsIgnoreCase => value.eq_ignore_ascii_case(policy) || value.to_lowercase() == policy.to_lowercase(),
        StringLike => wildcard::matches(policy, value),
        NumericEquals => num(|a, b| a == b),
        NumericLessThan => num(|a, b| a < b),
        NumericLessThanEquals => num(|a, b| a <= b),
        NumericGreaterThan => num(|a, b| a > b),
        NumericGreaterThanEquals => num(|a, b| a >= b),
        DateEquals => date(|a, b| a == b),
        DateLessThan => date(|a, b| a < b),
        DateLessThanEquals => date(|a, b| a <= b),
        DateGreaterThan => date(|a, b| a > b),
        DateGreaterThanEquals => date(|a, b| a >= b),
        Bool => value.eq_ignore_ascii_case(policy),
        BinaryEquals => value == policy,
        IpAddress => cidr_contains(policy, value),
        ArnLike => arn_like(value, policy),
        Null => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition::new(
            Operator::parse(op).unwrap(),
            key,
            values.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    fn keys(pairs: &[(&str, &[&str])]) -> ConditionKeys {
        let mut k = ConditionKeys::new();
        for (name, vals) in pairs {
            k.set_many(name, vals.iter().map(|s| s.to_string()).collect());
        }
        k
    }

    /// (operator, policy values, request values (None = key absent), expected)
    type Case<'a> = (&'a str, &'a [&'a str], Option<&'a [&'a str]>, bool);

    #[test]
    fn operator_table() {
        let table: &[Case] = &[
            ("StringEquals", &["a"], Some(&["a"]), true),
            ("StringEquals", &["a"], Some(&["A"]), false),
            ("StringEquals", &["a", "b"], Some(&["b"]), true),
            ("StringEquals", &["a"], None, false),
            ("StringNotEquals", &["a"], Some(&["b"]), true),
            ("StringNotEquals", &["a"], Some(&["a"]), false),
            ("StringNotEquals", &["a"], None, true),
            ("StringEqualsIgnoreCase", &["abc"], Some(&["ABC"]), true),
            ("StringNotEqualsIgnoreCase", &["abc"], Some(&["ABC"]), false),
            (
                "StringLike",
                &["dynamodb.*.amazonaws.com"],
                Some(&["dynamodb.eu-west-1.amazonaws.com"]),
                true,
            ),
            ("StringLike", &["a?c"], Some(&["abbc"]), false),
            ("StringNotLike", &["a*"], Some(&["ba"]), true),
            ("StringEqualsIfExists", &["a"], None, true),
            ("StringEqualsIfExists", &["a"], Some(&["b"]), false),
            ("NumericLessThan", &["10"], Some(&["9.5"]), true),
            ("NumericLessThan", &["10"], Some(&["10"]), false),
            ("NumericLessThanEquals", &["10"], Some(&["10"]), true),
            ("NumericGreaterThan", &["10"], Some(&["11"]), true),
            ("NumericGreaterThanEquals", &["10"], Some(&["9"]), false),
            ("NumericEquals", &["10"], Some(&["10.0"]), true),
            ("NumericNotEquals", &["10"], Some(&["11"]), true),
            ("NumericEquals", &["10"], Some(&["ten"]), false),
            (
                "DateLessThan",
                &["2026-01-01T00:00:00Z"],
                Some(&["2025-12-31T23:59:59Z"]),
                true,
            ),
            (
                "DateGreaterThan",
                &["2026-01-01T00:00:00Z"],
                Some(&["1767225601"]),
                true,
            ),
            ("DateEquals", &["2026-01-01"], Some(&["2026-01-01T00:00:00Z"]), true),
            ("DateNotEquals", &["2026-01-01"], Some(&["2026-01-02T00:00:00Z"]), true),
            (
                "DateLessThanEquals",
                &["2026-01-01T00:00:00Z"],
                Some(&["2026-01-01T00:00:00Z"]),
                true,
            ),
            (
                "DateGreaterThanEquals",
                &["2026-01-01T00:00:00Z"],
                Some(&["2025-01-01T00:00:00Z"]),
                false,
            ),
            ("Bool", &["true"], Some(&["true"]), true),
            ("Bool", &["true"], Some(&["false"]), false),
            ("BoolIfExists", &["true"], None, true),
            ("Null", &["true"], None, true),
            ("Null", &["true"], Some(&["x"]), false),
            ("Null", &["false"], Some(&["x"]), true),
            ("IpAddress", &["10.0.0.0/8"], Some(&["10.1.2.3"]), true),
            ("IpAddress", &["10.0.0.0/8"], Some(&["11.1.2.3"]), false),
            ("IpAddress", &["::1/128"], Some(&["::1"]), true),
            ("NotIpAddress", &["127.0.0.0/8"], Some(&["127.0.0.1"]), false),
            (
                "ArnLike",
                &["arn:aws:iam::*:role/admin-*"],
                Some(&["arn:aws:iam::123456789012:role/admin-x"]),
                true,
            ),
            (
                "ArnEquals",
                &["arn:aws:iam::123456789012:role/a"],
                Some(&["arn:aws:iam::123456789012:role/b"]),
                false,
            ),
            (
                "ArnNotLike",
                &["arn:aws:iam::*:role/a"],
                Some(&["arn:aws:iam::1:role/b"]),
                true,
            ),
            ("BinaryEquals", &["QUJD"], Some(&["QUJD"]), true),
            ("ForAnyValue:StringEquals", &["a", "b"], Some(&["x", "b"]), true),
            ("ForAnyValue:StringEquals", &["a"], Some(&["x", "y"]), false),
            ("ForAnyValue:StringEquals", &["a"], None, false),
            ("ForAllValues:StringEquals", &["a", "b"], Some(&["a", "b"]), true),
            ("ForAllValues:StringEquals", &["a"], Some(&["a", "b"]), false),
            ("ForAllValues:StringEquals", &["a"], None, true),
            (
                "ForAllValues:StringLike",
                &["aws:dynamodb:*"],
                Some(&["aws:dynamodb:tableName", "aws:dynamodb:subscriberId"]),
                true,
            ),
            ("ForAnyValue:StringNotEquals", &["a"], Some(&["a", "b"]), true),
            ("ForAllValues:StringNotEquals", &["a"], Some(&["a", "b"]), false),
        ];
        for (op, policy, request, want) in table {
            let c = cond(op, "test:key", policy);
            let k = match request {
                Some(vals) => keys(&[("test:key", vals)]),
                None => ConditionKeys::new(),
            };
            assert_eq!(c.holds(&k), *want, "{op} {policy:?} against {request:?}");
        }
    }

    #[test]
    fn key_names_are_case_insensitive() {
        let c = cond("StringEquals", "KMS:ViaService", &["dynamodb.us-east-1.amazonaws.com"]);
        assert!(c.holds(&keys(&[("kms:viaservice", &["dynamodb.us-east-1.amazonaws.com"])])));
    }

    #[test]
    fn unknown_operators_and_bad_null_values_are_refused() {
        assert!(Operator::parse("StringSortOf").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Condition::new(Operator::parse("Null").unwrap(), "k", vec!["maybe".into()]).is_err());
    }
}
