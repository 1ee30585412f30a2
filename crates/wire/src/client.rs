//! A small client for Strongroom's own JSON APIs, for the command line and the load generator: SigV4
//! signing as an SDK signs (the whole chain, signing key included, per request) and one signed call.

use aws_lc_rs::hmac;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::sigv4::{sha256_hex, signing_key};

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
