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
