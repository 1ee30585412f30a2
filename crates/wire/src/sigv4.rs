//! SigV4 verification of the `Authorization` header, in DynamoDB's check order and with its texts
//! (spec/wire-protocol.md section 6). Authentication yields a value ([`ParsedAuth`], then the verified
//! caller), never a flag.

use std::collections::HashMap;
use std::sync::RwLock;

use aws_lc_rs::{digest, hmac};
use http::HeaderMap;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    MissingToken,
    Incomplete(String),
    Invalid(String),
    UnrecognizedClient,
    ExpiredToken,
}

#[derive(Debug, Clone)]
pub struct ParsedAuth {
    /// `access key id/date/region/service`, none of them holding a `/`: the credential without its
    /// terminator, and what a derived signing key depends on, so the key cache borrows it.
    scope: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub amz_date: String,
}

impl ParsedAuth {
    fn scope_part(&self, i: usize) -> &str {
        self.scope.split('/').nth(i).unwrap_or_default()
    }

    pub fn access_key_id(&self) -> &str {
        self.scope_part(0)
    }

    pub fn date(&self) -> &str {
        self.scope_part(1)
    }

    pub fn region(&self) -> &str {
        self.scope_part(2)
    }

    pub fn service(&self) -> &str {
        self.scope_part(3)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn fmt_basic(t: OffsetDateTime) -> String {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&f).unwrap_or_default()
}

fn parse_basic(s: &str) -> Option<OffsetDateTime> {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, &f).ok().map(|p| p.assume_utc())
}

/// A region name as AWS spells them (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|d| !d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Steps 1 to 9: everything that can be checked without the secret.
pub fn parse(
    headers: &HeaderMap,
    query: &str,
    expected_service: Option<&str>,
    now: OffsetDateTime,
) -> Result<ParsedAuth, AuthError> {
    let auth = header(headers, "authorization");
    let presigned = query.split('&').any(|kv| kv.starts_with("X-Amz-Algorithm="));
    if auth.is_some() && presigned {
        return Err(AuthError::Invalid(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.".into(),
        ));
    }
    let auth = match auth {
        Some(a) if a.starts_with("AWS4-") => a,
        _ => return Err(AuthError::MissingToken),
    };
    let (algorithm, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    // A header has three fields: a small list is cheaper than a hash map; the last of a repeated field wins.
    let mut fields: Vec<(&str, &str)> = Vec::with_capacity(3);
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            fields.push((k.trim(), v.trim()));
        }
    }
    let field = |name: &str| fields.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let amz_date = header(headers, "x-amz-date");
    let mut missing = String::new();
    for name in ["Credential", "Signature", "SignedHeaders"] {
        if field(name).is_none() {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    if amz_date.is_none() {
        missing.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    }
    if !missing.is_empty() {
        return Err(AuthError::Incomplete(format!("{missing}Authorization={auth}")));
    }
    let amz_date = amz_date.unwrap_or_default();
    let Some(when) = parse_basic(amz_date) else {
        return Err(AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    let skew = Duration::minutes(15);
    if when < now - skew {
        return Err(AuthError::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            fmt_basic(now - skew),
            fmt_basic(now)
        )));
    }
    if when > now + skew {
        return Err(AuthError::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            fmt_basic(now + skew),
            fmt_basic(now)
        )));
    }
    let signed_headers: Vec<String> = field("SignedHeaders")
        .unwrap_or_default()
        .split(';')
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Invalid(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(AuthError::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). "
        )));
    }
    let credential = field("Credential").unwrap_or_default();
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 {
        return Err(AuthError::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    }
    let (akid, date, region, service, terminator) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
    if !valid_region(region) {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        )));
    }
    if let Some(expected) = expected_service {
        if service != expected {
            return Err(AuthError::Invalid(format!(
                "Credential should be scoped to correct service: '{expected}'. "
            )));
        }
    }
    if terminator != "aws4_request" {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    if date != &amz_date[..8] {
        return Err(AuthError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
            &amz_date[..8]
        )));
    }
    Ok(ParsedAuth {
        scope: format!("{akid}/{date}/{region}/{service}"),
        signed_headers,
        signature: field("Signature").unwrap_or_default().to_owned(),
        amz_date: amz_date.to_owned(),
    })
}

fn canonical_uri(path: &str, out: &mut String) {
    if path.is_empty() || path == "/" {
        out.push('/');
        return;
    }
    // Every service but S3 encodes the (already encoded) path once more.
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(seg, UNRESERVED));
    }
}

fn canonical_query(query: &str, out: &mut String) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', "%20"))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (
                utf8_percent_encode(&dec(k), UNRESERVED).to_string(),
                utf8_percent_encode(&dec(v), UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// A header's values joined by commas, each trimmed and with runs of whitespace folded to one space.
fn canonical_header_value(headers: &HeaderMap, name: &str, out: &mut String) {
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let s = String::from_utf8_lossy(v.as_bytes());
        for (j, word) in s.split_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
}

/// Lower-case hex of `bytes`, appended to `out` without an intermediate string.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// The canonical request and the string to sign, for a parsed header and the request as received.
pub fn string_to_sign(
    p: &ParsedAuth,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> String {
    let mut canonical = String::with_capacity(512);
    canonical.push_str(method);
    canonical.push('\n');
    canonical_uri(path, &mut canonical);
    canonical.push('\n');
    canonical_query(query, &mut canonical);
    canonical.push('\n');
    for h in &p.signed_headers {
        canonical.push_str(h);
        canonical.push(':');
        canonical_header_value(headers, h, &mut canonical);
        canonical.push('\n');
    }
    canonical.push('\n');
    for (i, h) in p.signed_headers.iter().enumerate() {
        if i > 0 {
            canonical.push(';');
        }
        canonical.push_str(h);
    }
    canonical.push('\n');
    match header(headers, "x-amz-content-sha256") {
        Some(v) if v == "UNSIGNED-PAYLOAD" => canonical.push_str(v),
        _ => push_hex(&mut canonical, digest::digest(&digest::SHA256, body).as_ref()),
    }
    let mut sts = String::with_capacity(160);
    sts.push_str("AWS4-HMAC-SHA256\n");
    sts.push_str(&p.amz_date);
    sts.push('\n');
    // The credential scope: the parsed scope without the access key id, then the terminator.
    sts.push_str(p.scope.split_once('/').map_or("", |(_, rest)| rest));
    sts.push_str("/aws4_request\n");
    push_hex(&mut sts, digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
    sts
}

fn hmac_sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sign(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sign(&k_date, region.as_bytes());
    let k_service = hmac_sign(&k_region, service.as_bytes());
    hmac_sign(&k_service, b"aws4_request")
}

/// [`signing_key`] as an HMAC key, the derived bytes wiped once the key holds them.
pub fn signing_hmac_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut raw = signing_key(secret, date, region, service);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
    zeroize::Zeroize::zeroize(&mut raw);
    key
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Derived signing keys per (access key, date, region, service): a request then costs one HMAC.
#[derive(Default)]
pub struct SigningKeyCache {
    /// Keyed by [`ParsedAuth::scope`], so a lookup borrows and allocates nothing.
    keys: RwLock<HashMap<String, hmac::Key>>,
}

impl SigningKeyCache {
    const MAX: usize = 4096;

    fn key(&self, secret: &str, p: &ParsedAuth) -> hmac::Key {
        if let Some(k) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(&p.scope) {
            return k.clone();
        }
        let mut map = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        let k = signing_hmac_key(secret, p.date(), p.region(), p.service());
        map.insert(p.scope.clone(), k.clone());
        k
    }

    /// Forgets the keys of one access key (it was deleted or its secret replaced).
    pub fn forget(&self, access_key_id: &str) {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|scope, _| scope.split('/').next() != Some(access_key_id));
    }

    /// Step 11: the signature must be the one the secret gives.
    pub fn verify(&self, secret: &str, p: &ParsedAuth, string_to_sign: &str) -> Result<(), AuthError> {
        let key = self.key(secret, p);
        let mut expected = String::with_capacity(64);
        push_hex(&mut expected, hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
        if constant_time_eq(expected.as_bytes(), p.signature.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::Invalid(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example (IAM ListUsers, "Create a signed AWS API request").
    #[test]
    fn known_answer_from_aws_docs() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(&key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap(),
        );
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let p = ParsedAuth {
            scope: "AKIDEXAMPLE/20150830/us-east-1/iam".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into()],
            signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7".into(),
            amz_date: "20150830T123600Z".into(),
        };
        let sts = string_to_sign(&p, "GET", "/", "Action=ListUsers&Version=2010-05-08", &headers, b"");
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let cache = SigningKeyCache::default();
        cache
            .verify("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &p, &sts)
            .unwrap();
        assert!(cache
            .verify(
                "wrong",
                &ParsedAuth {
                    scope: "other/20150830/us-east-1/iam".into(),
                    ..p.clone()
                },
                &sts
            )
            .is_err());
    }

    fn at(s: &str) -> OffsetDateTime {
        parse_basic(s).unwrap()
    }

    fn headers(auth: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", auth.parse().unwrap());
        h.insert("x-amz-date", date.parse().unwrap());
        h
    }

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";

    #[test]
    fn parse_checks_in_order_with_aws_texts() {
        let now = at("20261201T120000Z");
        let ok = parse(&headers(GOOD, "20261201T120000Z"), "", Some("dynamodb"), now).unwrap();
        assert_eq!(
            (ok.access_key_id(), ok.date(), ok.region(), ok.service()),
            ("AKID", "20261201", "us-east-1", "dynamodb")
        );
        assert_eq!(ok.signature, "abc");
        assert_eq!(
            parse(&HeaderMap::new(), "", None, now).unwrap_err(),
            AuthError::MissingToken
        );
        assert_eq!(
            parse(&headers(GOOD, "20261201T120000Z"), "X-Amz-Algorithm=x", None, now).unwrap_err(),
            AuthError::Invalid(
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.".into()
            )
        );
        match parse(&headers("AWS4-HMAC-SHA256 SignedHeaders=host", "20261201T120000Z"), "", None, now).unwrap_err() {
            AuthError::Incomplete(m) => assert!(m.starts_with("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter.")),
            e => panic!("{e:?}"),
        }
        match parse(&headers(GOOD, "2026-12-01"), "", None, now).unwrap_err() {
            AuthError::Incomplete(m) => {
                assert!(m.starts_with("Date must be in ISO-8601 'basic format'. Got '2026-12-01'."))
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            parse(&headers(GOOD, "20261201T114000Z"), "", None, now).unwrap_err(),
            AuthError::Invalid(
                "Signature expired: 20261201T114000Z is now earlier than 20261201T114500Z (20261201T120000Z - 15 min.)"
                    .into()
            )
        );
        assert!(
            matches!(parse(&headers(GOOD, "20261201T122000Z"), "", None, now), Err(AuthError::Invalid(m)) if m.starts_with("Signature not yet current"))
        );
        let no_host = GOOD.replace("host;", "");
        assert!(
            matches!(parse(&headers(&no_host, "20261201T120000Z"), "", None, now), Err(AuthError::Invalid(m)) if m.contains("'Host' must be"))
        );
        let four = GOOD.replace("/aws4_request", "");
        assert!(
            matches!(parse(&headers(&four, "20261201T120000Z"), "", None, now), Err(AuthError::Incomplete(m)) if m.contains("exactly 5"))
        );
        let region = GOOD.replace("us-east-1", "moon");
        assert_eq!(
            parse(&headers(&region, "20261201T120000Z"), "", None, now).unwrap_err(),
            AuthError::Invalid("Credential should be scoped to a valid region, not 'moon'. ".into())
        );
        assert_eq!(
            parse(&headers(GOOD, "20261201T120000Z"), "", Some("kms"), now).unwrap_err(),
            AuthError::Invalid("Credential should be scoped to correct service: 'kms'. ".into())
        );
        let bad_date = GOOD.replace("20261201/", "20261130/");
        assert!(
            matches!(parse(&headers(&bad_date, "20261201T120000Z"), "", None, now), Err(AuthError::Invalid(m)) if m.starts_with("Date in Credential scope"))
        );
    }

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-10"] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in ["local", "us-east", "US-east-1", "us--1", "useast1", ""] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    fn written(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(written(|o| canonical_uri("/", o)), "/");
        assert_eq!(written(|o| canonical_uri("", o)), "/");
        assert_eq!(written(|o| canonical_uri("/a b/%2F", o)), "/a%20b/%252F");
        assert_eq!(written(|o| canonical_query("b=2&a=1&a=0", o)), "a=0&a=1&b=2");
        assert_eq!(written(|o| canonical_query("k=a%20b", o)), "k=a%20b");
        assert_eq!(written(|o| canonical_query("", o)), "");
        let mut headers = HeaderMap::new();
        headers.append("x-a", "  one   two ".parse().unwrap());
        headers.append("x-a", "three".parse().unwrap());
        assert_eq!(written(|o| canonical_header_value(&headers, "x-a", o)), "one two,three");
        assert_eq!(written(|o| push_hex(o, &[0x00, 0x9f, 0xff])), "009fff");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn forgetting_an_access_key_drops_only_its_signing_keys() {
        let cache = SigningKeyCache::default();
        let parsed = |akid: &str| ParsedAuth {
            scope: format!("{akid}/20150830/us-east-1/iam"),
            signed_headers: vec!["host".into()],
            signature: String::new(),
            amz_date: "20150830T123600Z".into(),
        };
        cache.key("secret", &parsed("AKIDA"));
        cache.key("secret", &parsed("AKIDAB"));
        cache.forget("AKIDA");
        let keys = cache.keys.read().unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["AKIDAB/20150830/us-east-1/iam"]);
    }
}
