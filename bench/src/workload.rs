//! What each request is.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::sign::Signer;
use crate::Args;

pub enum Workload {
    Health,
    Json {
        service: &'static str,
        content_type: &'static str,
        target: String,
        body: Vec<u8>,
    },
}

impl Workload {
    pub async fn prepare(args: &Args) -> anyhow::Result<Workload> {
        Ok(match args.workload.as_str() {
            "health" => Workload::Health,
            "list-tables" => Workload::Json {
                service: "dynamodb",
                content_type: "application/x-amz-json-1.0",
                target: "DynamoDB_20120810.ListTables".into(),
                body: b"{}".to_vec(),
            },
            "kms-encrypt" | "kms-decrypt" | "kms-generate-data-key" => {
                let signer = Signer::new(&args.access_key_id, &args.secret_access_key, &args.region);
                let authority = args.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
                let created = kms_call(&signer, &authority, "CreateKey", serde_json::json!({})).await?;
                let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap_or_default().to_owned();
                let context =
                    serde_json::json!({"aws:dynamodb:tableName": "bench", "aws:dynamodb:subscriberId": "000000000000"});
                let (op, body) = match args.workload.as_str() {
                    "kms-encrypt" => (
                        "Encrypt",
                        serde_json::json!({"KeyId": key_id, "Plaintext": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "EncryptionContext": context}),
                    ),
                    "kms-generate-data-key" => (
                        "GenerateDataKey",
                        serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}),
                    ),
                    _ => {
                        let dk = kms_call(
                            &signer,
                            &authority,
                            "GenerateDataKey",
                            serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}),
                        )
                        .await?;
                        (
                            "Decrypt",
                            serde_json::json!({"CiphertextBlob": dk["CiphertextBlob"], "EncryptionContext": context}),
                        )
                    }
                };
                Workload::Json {
                    service: "kms",
                    content_type: "application/x-amz-json-1.1",
                    target: format!("TrentService.{op}"),
                    body: serde_json::to_vec(&body)?,
                }
            }
            other => anyhow::bail!("unknown workload {other}"),
        })
    }

    pub fn request(&self, signer: &Signer, authority: &str, _n: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        Ok(match self {
            Workload::Health => Request::get("/health")
                .header("host", authority)
                .body(Full::new(Bytes::new()))?,
            Workload::Json {
                service,
                content_type,
                target,
                body,
            } => {
                let (date, auth) = signer.sign(service, authority, content_type, target, body);
                Request::post("/")
                    .header("host", authority)
                    .header("content-type", *content_type)
                    .header("x-amz-target", target.as_str())
                    .header("x-amz-date", date)
                    .header("authorization", auth)
                    .body(Full::new(Bytes::from(body.clone())))?
            }
        })
    }
}

/// One signed KMS call on its own connection, for preparing a workload.
async fn kms_call(
    signer: &Signer,
    authority: &str,
    op: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let wl = Workload::Json {
        service: "kms",
        content_type: "application/x-amz-json-1.1",
        target: format!("TrentService.{op}"),
        body: serde_json::to_vec(&body)?,
    };
    let resp = sender.send_request(wl.request(signer, authority, 0)?).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        anyhow::bail!("{op} failed: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}
