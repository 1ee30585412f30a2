//! The harness every integration test shares: a real `strongroom` process on an ephemeral loopback port
//! with its own temporary data directory, and clients pointed at it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_types::region::Region;

pub const ROOT_KEY_ID: &str = "AKIAROOTTESTKEY00001";
pub const ROOT_SECRET: &str = "root-secret-for-tests-only-0123456789abc";
pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-west-2";

pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where the server's standard error goes, if not to the test's.
    log_file: Option<PathBuf>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        Self::start_logging(extra, None)
    }

    /// Starts the server with its standard error written to `log_file` (if given).
    pub fn start_logging(extra: &[&str], log_file: Option<&Path>) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url) = spawn(&dir, &extra, &[], log_file);
        Server {
            child,
            url,
            data_dir: dir,
            _tmp: Some(tmp),
            extra_args: extra,
            env: Vec::new(),
            log_file: log_file.map(Path::to_path_buf),
        }
    }

    /// Restarts the server (as [`Server::restart`]) with these environment variables set, or none.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.restart();
    }

    /// Sends SIGTERM and waits for the process to stop; its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for the server")
    }

    /// Starts the server again on the same data after it stopped by itself.
    pub fn start_again(&mut self) {
        let (child, url) = spawn(&self.data_dir, &self.extra_args, &self.env, self.log_file.as_deref());
        self.child = child;
        self.url = url;
    }

    /// Whether the server process has exited (it may abort itself at a test crash point).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Stops the process (SIGKILL: nothing gets a chance to tidy up) and starts it again on the same data.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, url) = spawn(&self.data_dir, &self.extra_args, &self.env, self.log_file.as_deref());
        self.child = child;
        self.url = url;
    }

    pub fn host_port(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    pub fn root(&self) -> Credentials {
        creds(ROOT_KEY_ID, ROOT_SECRET, None)
    }

    pub fn sts(&self, c: Credentials) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(c)
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    pub fn iam(&self, c: Credentials) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(c)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    pub fn kms(&self, c: Credentials) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(c)
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    pub fn cloudtrail(&self, c: Credentials) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::Config::builder()
            .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(c)
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    }

    /// A new IAM user with an access key and, if given, one inline policy. Returns its credentials.
    pub async fn user(&self, name: &str, policy: Option<&str>) -> Credentials {
        let iam = self.iam(self.root());
        iam.create_user().user_name(name).send().await.expect("CreateUser");
        if let Some(doc) = policy {
            iam.put_user_policy()
                .user_name(name)
                .policy_name("inline")
                .policy_document(doc)
                .send()
                .await
                .expect("PutUserPolicy");
        }
        let k = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("CreateAccessKey");
        let k = k.access_key().expect("key");
        creds(k.access_key_id(), k.secret_access_key(), None)
    }

    pub fn dynamodb(&self, c: Credentials) -> aws_sdk_dynamodb::Client {
        self.dynamodb_in(c, REGION)
    }

    pub fn dynamodb_in(&self, c: Credentials, region: &str) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(c)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    pub fn streams(&self, c: Credentials) -> aws_sdk_dynamodbstreams::Client {
        let conf = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(Region::new(REGION.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(c)
            .retry_config(aws_sdk_dynamodbstreams::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_dynamodbstreams::Client::from_conf(conf)
    }

    /// Every file under the data directory, for at-rest checks.
    pub fn data_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.data_dir, &mut out);
        out
    }

    /// Panics if any file of the data directory contains `marker`.
    pub fn assert_not_at_rest(&self, marker: &str) {
        for f in self.data_files() {
            let bytes = std::fs::read(&f).unwrap_or_default();
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker:?} found in plaintext in {}",
                f.display()
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn spawn(dir: &Path, extra: &[String], env: &[(String, String)], log_file: Option<&Path>) -> (Child, String) {
    let stderr = match log_file {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("the server's log file")),
        None => Stdio::inherit(),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir)
        .arg("--account-id")
        .arg(ACCOUNT)
        .arg("--region")
        .arg(REGION)
        .args(extra)
        .env("STRONGROOM_ROOT_ACCESS_KEY_ID", ROOT_KEY_ID)
        .env("STRONGROOM_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("STRONGROOM_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start strongroom");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(url) = line.strip_prefix("strongroom listening on ") {
                    let _ = tx.send(url.to_owned());
                    sent = true;
                }
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not report its address");
    (child, url)
}

pub fn creds(id: &str, secret: &str, token: Option<String>) -> Credentials {
    Credentials::new(id, secret, token, None, "strongroom-tests")
}

/// Runs the aws CLI against `s` as the root user, isolated from any local AWS configuration.
pub fn aws_cli(s: &Server, args: &[&str]) -> std::process::Output {
    Command::new("aws")
        .arg("--endpoint-url")
        .arg(&s.url)
        .arg("--output")
        .arg("json")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the aws CLI must be installed (.ci/run installs it)")
}

/// A request signed by the SDK's own SigV4 signer with whatever scope, time and secret a test wants.
pub struct Signed {
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
    pub region: String,
    pub service: String,
    pub time: SystemTime,
}

impl Signed {
    pub fn root() -> Signed {
        Signed {
            key_id: ROOT_KEY_ID.into(),
            secret: ROOT_SECRET.into(),
            token: None,
            region: REGION.into(),
            service: "dynamodb".into(),
            time: SystemTime::now(),
        }
    }

    /// Signs and sends a POST; returns status, headers and body.
    pub async fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, http::HeaderMap, Vec<u8>) {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;
        let identity = creds(&self.key_id, &self.secret, self.token.clone()).into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.time)
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let host = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("host", &host));
        let signable = SignableRequest::new(
            "POST",
            format!("{url}/"),
            all.iter().copied(),
            SignableBody::Bytes(body),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("{url}/"))
            .body(body.to_vec())
            .expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("header"),
            );
        }
        instructions.apply_to_request_http1x(&mut req);
        send(req).await
    }
}

pub async fn send(req: http::Request<Vec<u8>>) -> (u16, http::HeaderMap, Vec<u8>) {
    let client = reqwest::Client::new();
    let (parts, body) = req.into_parts();
    let mut rb = client.request(parts.method, parts.uri.to_string()).body(body);
    for (k, v) in parts.headers.iter() {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

/// The `__type` and message of a JSON error body.
pub fn json_error(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json error body");
    let msg = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    (v["__type"].as_str().unwrap_or_default().to_owned(), msg.to_owned())
}

pub const DDB_JSON: (&str, &str) = ("content-type", "application/x-amz-json-1.0");
pub const LIST_TABLES: (&str, &str) = ("x-amz-target", "DynamoDB_20120810.ListTables");

/// A PAY_PER_REQUEST table keyed by `hash` and, if given, `range` (name and type each).
pub async fn create_table(
    db: &aws_sdk_dynamodb::Client,
    name: &str,
    hash: (&str, aws_sdk_dynamodb::types::ScalarAttributeType),
    range: Option<(&str, aws_sdk_dynamodb::types::ScalarAttributeType)>,
) -> aws_sdk_dynamodb::operation::create_table::CreateTableOutput {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType};
    let mut req = db
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, kind, key_type) in
        std::iter::once((hash.0, hash.1, KeyType::Hash)).chain(range.map(|(a, t)| (a, t, KeyType::Range)))
    {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(kind)
                    .build()
                    .expect("attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(key_type)
                    .build()
                    .expect("key schema element"),
            );
    }
    req.send().await.expect("CreateTable")
}

/// A new symmetric KMS key; its ARN.
pub async fn new_key_arn(kms: &aws_sdk_kms::Client) -> String {
    let key = kms.create_key().send().await.expect("CreateKey");
    key.key_metadata()
        .and_then(|m| m.arn())
        .expect("the key's ARN")
        .to_owned()
}

/// SSESpecification for a table under the customer managed key `key`.
pub fn kms_sse(key: &str) -> aws_sdk_dynamodb::types::SseSpecification {
    aws_sdk_dynamodb::types::SseSpecification::builder()
        .enabled(true)
        .sse_type(aws_sdk_dynamodb::types::SseType::Kms)
        .kms_master_key_id(key)
        .build()
}

/// An S attribute definition (for key schemas).
pub fn string_def(name: &str) -> aws_sdk_dynamodb::types::AttributeDefinition {
    aws_sdk_dynamodb::types::AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
        .build()
        .expect("attribute definition")
}

/// A HASH key schema element.
pub fn hash_key(name: &str) -> aws_sdk_dynamodb::types::KeySchemaElement {
    aws_sdk_dynamodb::types::KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
        .build()
        .expect("key schema element")
}

/// Writes `count` items with BatchWriteItem, 25 a request; `item(i)` is the i-th item's attributes.
pub async fn batch_put(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    count: usize,
    item: impl Fn(usize) -> Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in (0..count).collect::<Vec<_>>().chunks(25) {
        let writes = chunk
            .iter()
            .map(|i| {
                let put = PutRequest::builder()
                    .set_item(Some(item(*i).into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
                    .build()
                    .expect("put request");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        db.batch_write_item()
            .request_items(table, writes)
            .send()
            .await
            .expect("BatchWriteItem");
    }
}

pub fn s(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())
}

pub fn n(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_owned())
}

/// Runs one of `tests/python`'s scripts with the root's credentials, every AWS endpoint pointed at `s`.
pub fn python(s: &Server, script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script))
        .args(args)
        .env("AWS_ENDPOINT_URL_KMS", &s.url)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &s.url)
        .env("AWS_ACCESS_KEY_ID", ROOT_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python3 with the libraries .ci/run installs")
}
