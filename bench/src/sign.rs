//! SigV4 signing for the load generator, as an SDK does it: the whole chain, signing key included, per request.

use aws_lc_rs::hmac;
use time::macros::format_description;
use time::OffsetDateTime;
use wire::sigv4::{sha256_hex, signing_key};

pub struct Signer {
    key_id: String,
    secret: String,
    region: String,
}

impl Signer {
    pub fn new(key_id: &str, secret: &str, region: &str) -> Self {
        Self {
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            region: region.to_owned(),
        }
    }

    /// Returns the `x-amz-date` and `authorization` header values for a POST to `/`.
    pub fn sign(&self, service: &str, host: &str, content_type: &str, target: &str, body: &[u8]) -> (String, String) {
        let now = OffsetDateTime::now_utc();
        let amz_date = now
            .format(format_description!("[year][month][day]T[hour][minute][second]Z"))
            .unwrap_or_default();
        let date = &amz_date[..8];
        let body_hash = sha256_hex(body);
        let canonical = format!(
            "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\nx-amz-target:{target}\n\ncontent-type;host;x-amz-date;x-amz-target\n{body_hash}"
        );
        let scope = format!("{date}/{}/{service}/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            &signing_key(&self.secret, date, &self.region, service),
        );
        let sig = hex::encode(hmac::sign(&key, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}",
            self.key_id
        );
        (amz_date, auth)
    }
}
