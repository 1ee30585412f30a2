//! A small client for Strongroom's own JSON APIs, for the command line and the load generator: SigV4
//! signing as an SDK signs (a canonical request, string to sign and signature per request; the derived
//! signing key, which changes only with the date and service, kept as the AWS SDK for Java keeps it) and
//! one signed call.

use std::sync::Mutex;

use aws_lc_rs::hmac;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::sigv4::{sha256_hex, signing_hmac_key};

pub struct Signer {
    key_id: String,
    secret: String,
    region: String,
    /// The last derived signing key, with the date and service it was derived for: a load generator signs
    /// tens of thousands of requests a second, and four HMACs of each went into a key that changes daily.
    derived: Mutex<Option<Derived>>,
}

struct Derived {
    date: String,
    service: String,
    key: hmac::Key,
}

impl Signer {
    pub fn new(key_id: &str, secret: &str, region: &str) -> Self {
        Self {
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            region: region.to_owned(),
            derived: Mutex::new(None),
        }
    }

    /// The signature of `to_sign` under the signing key of `date` and `service`.
    fn signature(&self, date: &str, service: &str, to_sign: &str) -> String {
        let mut derived = self.derived.lock().unwrap_or_else(|p| p.into_inner());
        if !derived.as_ref().is_some_and(|d| d.date == date && d.service == service) {
            *derived = None;
        }
        let d = derived.get_or_insert_with(|| Derived {
            date: date.to_owned(),
            service: service.to_owned(),
            key: signing_hmac_key(&self.secret, date, &self.region, service),
        });
        hex::encode(hmac::sign(&d.key, to_sign.as_bytes()))
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
        let sig = self.signature(date, service, &to_sign);
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}",
            self.key_id
        );
        (amz_date, auth)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Connection(String),
    /// The server answered with an error: its `__type` and message.
    #[error("{code}: {message}")]
    Api { code: String, message: String },
}

/// One signed JSON call (`target` = `X-Amz-Target`) to the server at `authority` (`host:port`), on a
/// connection of its own; the answer's JSON.
pub async fn call(
    authority: &str,
    signer: &Signer,
    target: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, ClientError> {
    let (service, content_type) = if target.starts_with("TrentService") {
        ("kms", "application/x-amz-json-1.1")
    } else {
        ("dynamodb", "application/x-amz-json-1.0")
    };
    let body = serde_json::to_vec(body).map_err(|e| ClientError::Connection(e.to_string()))?;
    let (date, auth) = signer.sign(service, authority, content_type, target, &body);
    let request = http::Request::post("/")
        .header("host", authority)
        .header("content-type", content_type)
        .header("x-amz-target", target)
        .header("x-amz-date", date)
        .header("authorization", auth)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ClientError::Connection(e.to_string()))?;
    let connection = |e: &dyn std::fmt::Display| ClientError::Connection(format!("{authority}: {e}"));
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| connection(&e))?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| connection(&e))?;
    tokio::spawn(driver);
    let response = sender.send_request(request).await.map_err(|e| connection(&e))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| connection(&e))?
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let code = value["__type"].as_str().unwrap_or("Error");
        let code = code.rsplit('#').next().unwrap_or(code).to_owned();
        let message = value["message"]
            .as_str()
            .or(value["Message"].as_str())
            .unwrap_or_default()
            .to_owned();
        return Err(ClientError::Api { code, message });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signature made with the kept key is the one a fresh derivation gives, for every date and service
    /// the signer moves between.
    #[test]
    fn a_kept_signing_key_signs_as_a_fresh_one_and_follows_the_date_and_service() {
        let kept = Signer::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1");
        let fresh = |date: &str, service: &str| {
            Signer::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1")
                .signature(date, service, "to sign")
        };
        for (date, service) in [
            ("20261207", "dynamodb"),
            ("20261207", "dynamodb"),
            ("20261207", "kms"),
            ("20261208", "kms"),
            ("20261208", "dynamodb"),
        ] {
            assert_eq!(
                kept.signature(date, service, "to sign"),
                fresh(date, service),
                "{date} {service}"
            );
        }
        assert_ne!(fresh("20261207", "kms"), fresh("20261208", "kms"));
        assert_ne!(fresh("20261207", "kms"), fresh("20261207", "dynamodb"));
    }
}
