//! SigV4 header parsing on arbitrary Authorization and X-Amz-Date values: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (auth, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (date, query) = rest.split_once('\n').unwrap_or((rest, ""));
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(auth) {
        headers.insert("authorization", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(date) {
        headers.insert("x-amz-date", v);
    }
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("valid");
    if let Ok(p) = wire::sigv4::parse(&headers, query, Some("dynamodb"), now) {
        let _ = wire::sigv4::string_to_sign(&p, "POST", "/", query, &headers, data);
    }
});
