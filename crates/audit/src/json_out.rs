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
        // Field names are the record's own constants, none of which needs an escape.
        debug_assert!(!name.bytes().any(needs_escape), "{name}");
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
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

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any of the eight bytes of `x` needs an escape: a control character, `"` or `\\` (the
/// has-less-than and has-zero-byte tests of "Bit Twiddling Hacks", exact for any byte present).
fn chunk_needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let quote = zero_byte(x ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(x ^ (ONES * u64::from(b'\\')));
    control | quote | backslash != 0
}

/// The index of the first byte at or after `from` that needs an escape, if any. Clean runs are skipped
/// eight bytes at a time: most strings of a record (ids, ARNs, names) have nothing to escape.
fn next_escape(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(chunk) = bytes.get(from..from + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if chunk_needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        from += 8;
    }
    bytes
        .get(from..)?
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| from + i)
}

/// `s` as a JSON string literal: runs that need no escape are copied whole.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = next_escape(bytes, start) {
        // Every byte that needs an escape is ASCII, so `i` is on a character boundary.
        out.push_str(&s[start..i]);
        match bytes[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{b:04x}");
            }
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

        /// Escapes dense and sparse, at every offset within and across eight-byte chunks, beside
        /// multi-byte characters and bytes at the edges of the tests (0x1f, 0x20, 0x7f, 0x80 and up).
        #[test]
        fn strings_of_escapes_at_any_offset_are_escaped_as_serde_json_escapes_them(
            s in proptest::collection::vec(
                prop::sample::select(vec!['a', '"', '\\', '\n', '\u{1}', '\u{1f}', ' ', '\u{7f}', 'é', '€', '\u{10348}', '!', '#', '[']),
                0..40,
            ).prop_map(|cs| cs.into_iter().collect::<String>())
        ) {
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
