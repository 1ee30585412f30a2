//! A JSON object written field by field into a `String`, for records written often enough that building
//! `serde_json::Value`s first shows in profiles. Strings are escaped as serde_json escapes them.

use serde_json::Value;

/// An open `{`: fields are appended in the order they are given; [`JsonObject::finish`] closes it.
pub(crate) struct JsonObject {
    pub(crate) out: String,
    first: bool,
}

impl JsonObject {
    pub(crate) fn new(mut out: String) -> JsonObject {
        out.push('{');
        JsonObject { out, first: true }
    }

    /// Writes `"name":` (after a comma unless it is the first field); the caller writes the value.
    pub(crate) fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(&mut self.out, name);
        self.out.push(':');
    }

    pub(crate) fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        push_str(&mut self.out, value);
    }

    /// A value that is already JSON text (`true`, a number).
    pub(crate) fn raw(&mut self, name: &str, json: &str) {
        self.key(name);
        self.out.push_str(json);
    }

    /// A nested object, its fields written by `f`.
    pub(crate) fn object(&mut self, name: &str, f: impl FnOnce(&mut JsonObject)) {
        self.key(name);
        write_object(&mut self.out, f);
    }

    pub(crate) fn value(&mut self, name: &str, value: &Value) {
        self.key(name);
        // A `Value` always serializes, and its text is UTF-8.
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        self.out.push_str(&text);
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// An object appended to `out` (after whatever the caller wrote before it: a key, `[` or `,`), its fields
/// written by `f`.
pub(crate) fn write_object(out: &mut String, f: impl FnOnce(&mut JsonObject)) {
    let mut o = JsonObject::new(std::mem::take(out));
    f(&mut o);
    *out = o.finish();
}

/// `s` as a JSON string literal: runs that need no escape are copied whole.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is on a character boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(s in any::<String>()) {
            let mut out = String::new();
            push_str(&mut out, &s);
            prop_assert_eq!(&out, &serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn objects_keep_their_field_order() {
        let mut o = JsonObject::new(String::new());
        o.str("z", "a\u{1}\"b");
        o.raw("a", "true");
        o.value("m", &serde_json::json!({"k": [1, null]}));
        o.object("n", |n| n.str("x", "y"));
        assert_eq!(
            o.finish(),
            r#"{"z":"a\u0001\"b","a":true,"m":{"k":[1,null]},"n":{"x":"y"}}"#
        );
        assert_eq!(JsonObject::new(String::new()).finish(), "{}");
    }
}
