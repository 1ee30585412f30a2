//! SigV4 signing for the load generator (what an SDK does per request; the signing key is derived once a day).

use aws_lc_rs::{digest, hmac};
use time::macros::format_description;
use time::OffsetDateTime;

pub struct Signer {
    key_id: String,
    secret: String,
    region: String,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
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
        let body_hash = hex::encode(digest::digest(&digest::SHA256, body));
        let canonical = format!(
            "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\nx-amz-target:{target}\n\ncontent-type;host;x-amz-date;x-amz-target\n{body_hash}"
        );
        let scope = format!("{date}/{}/{service}/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
        );
        let k = hmac(format!("AWS4{}", self.secret).as_bytes(), date.as_bytes());
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, service.as_bytes());
        let k = hmac(&k, b"aws4_request");
        let sig = hex::encode(hmac(&k, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}",
            self.key_id
        );
        (amz_date, auth)
    }
}
