//! The HTTP front: one port, protocol framing, SigV4, routing and error rendering. No domain logic.
//!
//! The pipeline, in one place ([`App::handle`]): request id -> body limit -> route -> SigV4 -> decode ->
//! authorize -> domain -> encode.

pub mod client;
pub mod error;
pub mod metrics;
pub mod owned_keys;
mod server;
pub mod services;
pub mod sigv4;
pub mod table_keys;
mod xml;

use std::net::SocketAddr;
use std::sync::Arc;

use audit::Trail;
use base::Clock;
use bytes::Bytes;
use dynamodb::tables::Tables;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use iam::{AuthEntry, Iam};
use kms::Kms;

pub use error::{Api, ApiError, ErrorKind};
pub use server::serve;

/// Requests larger than this are refused before they are read (DynamoDB's limit).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

pub struct App {
    pub iam: Arc<Iam>,
    pub tables: Arc<Tables>,
    /// DynamoDB's owned keys; [`App::table_keys`] adds the caller for the rest of the hierarchy.
    pub owned_keys: Arc<owned_keys::OwnedKeys>,
    pub kms: Arc<Kms>,
    pub trail: Arc<Trail>,
    pub clock: Arc<dyn Clock>,
    /// The region `GET /` names, and the default for the CLI's examples.
    pub region: String,
    signing_keys: sigv4::SigningKeyCache,
    /// TransactWriteItems' ClientRequestTokens of the last ten minutes: (account, token) -> (a digest of
    /// the request's actions, when it was first seen).
    pub transaction_tokens: std::sync::Mutex<TransactionTokens>,
    pub metrics: metrics::Metrics,
    /// Whether `GET /metrics` answers (`--metrics`).
    metrics_served: bool,
    pub limits: Limits,
}

/// The quotas the server enforces. The AWS quotas are off by default, as an emulator's users expect; the
/// connection bound protects the server itself.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; past it, new ones wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// PROVISIONED tables' read and write capacity (`ProvisionedThroughputExceededException`).
    pub enforce_provisioned_throughput: bool,
    /// KMS request quotas per account and region (`ThrottlingException`).
    pub kms_quotas: Arc<kms::quota::Quotas>,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_connection_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            enforce_provisioned_throughput: false,
            kms_quotas: Arc::default(),
            idle_connection_timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// (account, ClientRequestToken) -> (digest of the actions, first seen at, epoch ms).
pub type TransactionTokens = std::collections::HashMap<(String, String), (Vec<u8>, i64)>;

/// The authenticated caller of one request and where the request came from.
pub struct Caller {
    pub entry: Arc<AuthEntry>,
    pub region: String,
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
    /// The `Host` the request was sent to (signed, so the client chose it): where this server is reachable
    /// for that client, which is what DescribeEndpoints advertises.
    pub host: String,
}

impl Caller {
    pub fn account(&self) -> &str {
        self.entry.principal.account().unwrap_or_default()
    }
}

/// A successful answer before framing.
pub enum Reply {
    Json(serde_json::Value),
    /// An awsQuery result: the inner XML of `<ActionResult>`, or none.
    Xml {
        action: String,
        result: Option<String>,
    },
}

pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

fn request_id(api: Option<Api>) -> String {
    match api {
        Some(Api::DynamoDb | Api::Streams) | None => {
            base::random::unique_string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 52)
        }
        _ => base::random::unique_uuid(),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Which API a POST is for, and the operation name. Form-encoded requests name their API only in the
/// SigV4 scope, so they return `None` for the API until authentication has read it.
enum Route {
    Json(Api, String),
    Query,
    Unroutable,
}

fn route(headers: &HeaderMap) -> Route {
    if let Some(target) = header(headers, "x-amz-target") {
        let (prefix, op) = target.rsplit_once('.').unwrap_or((target, ""));
        let api = match prefix {
            "DynamoDB_20120810" => Api::DynamoDb,
            "DynamoDBStreams_20120810" => Api::Streams,
            "TrentService" => Api::Kms,
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101" | "CloudTrail_20131101" => Api::CloudTrail,
            _ => return Route::Unroutable,
        };
        return Route::Json(api, op.to_owned());
    }
    match header(headers, "content-type") {
        Some(ct) if ct.starts_with("application/x-www-form-urlencoded") => Route::Query,
        _ => Route::Unroutable,
    }
}

impl App {
    pub fn new(
        iam: Arc<Iam>,
        tables: Arc<Tables>,
        owned_keys: Arc<owned_keys::OwnedKeys>,
        kms: Arc<Kms>,
        trail: Arc<Trail>,
        clock: Arc<dyn Clock>,
        region: String,
    ) -> Self {
        Self {
            iam,
            tables,
            owned_keys,
            kms,
            trail,
            clock,
            region,
            signing_keys: sigv4::SigningKeyCache::default(),
            transaction_tokens: Default::default(),
            metrics: metrics::Metrics::default(),
            metrics_served: false,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves `GET /metrics` (Prometheus' text format).
    pub fn with_metrics(mut self, served: bool) -> Self {
        self.metrics_served = served;
        self
    }

    /// The metrics page: requests by operation, then the table-key and block caches and bytes on disk.
    fn metrics_page(&self) -> String {
        let caches = self.tables.cache_stats();
        let memtable = self.tables.memtable_stats().unwrap_or((0, 0));
        let one = |v: u64| vec![(String::new(), v as f64)];
        let disk = self
            .tables
            .disk_bytes()
            .into_iter()
            .map(|(part, b)| (format!("part=\"dynamodb/{part}\""), b as f64))
            .collect();
        let kms_calls = self
            .kms
            .call_counts()
            .into_iter()
            .map(|((caller, key), n)| {
                (
                    format!(
                        "caller=\"{}\",key=\"{}\"",
                        metrics::label(&caller),
                        metrics::label(&key)
                    ),
                    n as f64,
                )
            })
            .collect();
        let storage = storage::stats::counts();
        self.metrics.render(&[
            (
                "strongroom_table_key_cache_hits_total",
                "Uses of a table under a customer's KMS key that the table-key cache answered.",
                one(caches.key_hits),
            ),
            (
                "strongroom_table_key_cache_misses_total",
                "Uses of a table under a customer's KMS key that asked KMS again.",
                one(caches.key_misses),
            ),
            (
                "strongroom_block_cache_bytes",
                "Decrypted blocks held in memory.",
                one(caches.blocks.0),
            ),
            (
                "strongroom_block_cache_hits_total",
                "Block reads the cache answered.",
                one(caches.blocks.1),
            ),
            (
                "strongroom_block_cache_misses_total",
                "Block reads that decrypted a block.",
                one(caches.blocks.2),
            ),
            (
                "strongroom_row_cache_bytes",
                "Rows (a key's newest version in a table file) held in memory.",
                one(caches.rows.0),
            ),
            (
                "strongroom_row_cache_hits_total",
                "Point reads of a table file that the row cache answered.",
                one(caches.rows.1),
            ),
            (
                "strongroom_row_cache_misses_total",
                "Point reads of a table file that searched the file.",
                one(caches.rows.2),
            ),
            (
                "strongroom_memtable_bytes",
                "Writes held in memtables by all tables, not yet in sorted files.",
                one(memtable.0),
            ),
            (
                "strongroom_memtable_limit_bytes",
                "The bound on strongroom_memtable_bytes (--write-buffer-size).",
                one(memtable.1),
            ),
            ("strongroom_disk_bytes", "Bytes on disk.", disk),
            (
                "strongroom_connections_open",
                "Client connections open now.",
                one(self.metrics.connections_open()),
            ),
            (
                "strongroom_kms_calls_total",
                "KMS calls (allowed or refused, each in the trail) by caller and key.",
                kms_calls,
            ),
            (
                "strongroom_storage_flushes_total",
                "Memtables written to level-0 tables, over every table.",
                one(storage.flushes),
            ),
            (
                "strongroom_storage_compactions_total",
                "Compactions run, over every table.",
                one(storage.compactions),
            ),
            (
                "strongroom_wal_fsyncs_total",
                "Write-ahead log fsyncs (each one a group commit), over every table.",
                one(storage.wal_syncs),
            ),
        ])
    }

    /// DynamoDB's key service for one request: KMS calls on behalf of `caller`.
    pub fn table_keys<'a>(&'a self, caller: &'a Caller) -> table_keys::TableKeys<'a> {
        table_keys::TableKeys {
            kms: &self.kms,
            owned: &self.owned_keys,
            caller,
        }
    }

    /// DynamoDB's own key service, for the work it does with no caller (sweeps, backfills, recovery).
    fn service_keys(&self) -> table_keys::ServiceKeys<'_> {
        table_keys::ServiceKeys {
            kms: &self.kms,
            owned: &self.owned_keys,
        }
    }

    /// DynamoDB's background key-health check of every table under a customer's KMS key.
    pub fn check_table_keys(&self) {
        self.tables
            .check_keys(|ctx, sse, blob| table_keys::check_table_key(&self.kms, ctx, sse, blob));
    }

    /// One round of the TTL sweeper (as DynamoDB itself); returns how many expired items it deleted.
    pub async fn sweep_expired(&self) -> usize {
        let keys = self.service_keys();
        self.tables.sweep_expired(self.clock.now_millis() / 1000, &keys).await
    }

    /// One round of the index builder (as DynamoDB itself): backfills the global secondary indexes being
    /// created; returns how many became ACTIVE.
    pub async fn backfill_indexes(&self) -> usize {
        let keys = self.service_keys();
        self.tables.backfill_pending(&keys).await
    }

    /// Point-in-time recovery's upkeep: a new base copy every `interval`, old bases and log dropped.
    pub async fn maintain_pitr(&self, interval: std::time::Duration) {
        let keys = self.service_keys();
        self.tables
            .maintain_pitr(self.clock.now_millis(), interval, &keys)
            .await;
    }

    /// Archives the tables whose KMS key has been unusable for longer than `after`.
    pub fn archive_inaccessible(&self, after: std::time::Duration) -> usize {
        self.tables.archive_inaccessible(after)
    }

    /// Trims stream records older than a day and forgets streams disabled longer ago than that; returns
    /// how many records went.
    pub fn trim_streams(&self) -> usize {
        let keys = self.service_keys();
        self.tables.trim_streams(self.clock.now_millis(), &keys)
    }

    /// At start: tables whose restore a stop interrupted are removed (they hold part of their items).
    pub fn drop_interrupted_restores(&self) {
        let keys = self.service_keys();
        self.tables.drop_interrupted_restores(&keys);
    }

    /// Finishes transactions across tables that a crash or a failure left committed but not applied
    /// everywhere; returns how many.
    pub async fn finish_transactions(&self) -> usize {
        let keys = self.service_keys();
        self.tables.finish_transactions(&keys).await
    }

    pub fn forget_signing_keys(&self, access_key_id: &str) {
        self.signing_keys.forget(access_key_id);
    }

    pub async fn handle(&self, req: Incoming) -> Response<Bytes> {
        if req.method == Method::GET || req.method == Method::HEAD {
            return match req.path.as_str() {
                "/metrics" if self.metrics_served => plain(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.metrics_page(),
                    &request_id(None),
                ),
                "/health" => plain(
                    StatusCode::OK,
                    "application/json",
                    r#"{"status":"ok"}"#.into(),
                    &request_id(None),
                ),
                "/" => plain(
                    StatusCode::OK,
                    "text/plain",
                    format!("healthy: dynamodb.{}.amazonaws.com ", self.region),
                    &request_id(None),
                ),
                _ => plain(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "Not Found".into(),
                    &request_id(None),
                ),
            };
        }
        if req.method != Method::POST {
            return plain(
                StatusCode::NOT_FOUND,
                "application/xml",
                "<UnknownOperationException/>\n".into(),
                &request_id(None),
            );
        }
        match route(&req.headers) {
            Route::Json(api, op) => {
                let started = std::time::Instant::now();
                let rid = request_id(Some(api));
                // What the request logs carries its id, as the caller sees it in x-amzn-RequestId.
                let span = tracing::info_span!("request", id = %rid, op = %op);
                let result =
                    tracing::Instrument::instrument(self.json_request(api, &op, &req, &rid), span.clone()).await;
                let failed = result.is_err();
                let response = render(api, result, &rid);
                let elapsed = started.elapsed();
                self.metrics.record(api.signing_name(), &op, elapsed, failed);
                span.in_scope(|| {
                    tracing::debug!(
                        status = response.status().as_u16(),
                        micros = elapsed.as_micros() as u64,
                        "answered"
                    )
                });
                response
            }
            Route::Query => {
                // The API is named by the scope; before authentication has read it, errors speak STS.
                let started = std::time::Instant::now();
                let params = services::query::Params::parse(&req.body, &req.query);
                let (api, result) = self.query_request(&req, &params).await;
                let failed = result.is_err();
                let rid = request_id(Some(api));
                let response = render(api, result, &rid);
                let op = params.get("Action").unwrap_or("unknown");
                self.metrics.record(api.signing_name(), op, started.elapsed(), failed);
                response
            }
            Route::Unroutable => plain(
                StatusCode::NOT_FOUND,
                "application/xml",
                "<UnknownOperationException/>\n".into(),
                &request_id(None),
            ),
        }
    }

    fn authenticate(
        &self,
        req: &Incoming,
        expected_service: Option<&str>,
    ) -> Result<(sigv4::ParsedAuth, Arc<AuthEntry>), ApiError> {
        let parsed = sigv4::parse(&req.headers, &req.query, expected_service, self.clock.now())?;
        let entry = self
            .iam
            .lookup(parsed.access_key_id())
            .ok_or(sigv4::AuthError::UnrecognizedClient)?;
        let sent_token = header(&req.headers, "x-amz-security-token");
        match (&entry.session_token, sent_token) {
            (None, None) => {}
            (Some(t), Some(s)) if t.expose() == s => {}
            _ => return Err(sigv4::AuthError::UnrecognizedClient.into()),
        }
        if !entry.active {
            return Err(sigv4::AuthError::UnrecognizedClient.into());
        }
        let sts = sigv4::string_to_sign(
            &parsed,
            req.method.as_str(),
            &req.path,
            &req.query,
            &req.headers,
            &req.body,
        );
        self.signing_keys.verify(entry.secret.expose(), &parsed, &sts)?;
        if entry.expires_ms.is_some_and(|e| e <= self.clock.now_millis()) {
            return Err(sigv4::AuthError::ExpiredToken.into());
        }
        Ok((parsed, entry))
    }

    fn caller(&self, req: &Incoming, parsed: sigv4::ParsedAuth, entry: Arc<AuthEntry>, rid: &str) -> Caller {
        Caller {
            entry,
            region: parsed.region().to_owned(),
            request_id: rid.to_owned(),
            source_ip: req.peer.ip().to_string(),
            user_agent: header(&req.headers, "user-agent").unwrap_or_default().to_owned(),
            host: header(&req.headers, "host").unwrap_or_default().to_owned(),
        }
    }

    async fn json_request(&self, api: Api, op: &str, req: &Incoming, rid: &str) -> Result<Reply, ApiError> {
        let (parsed, entry) = self.authenticate(req, Some(api.signing_name()))?;
        let caller = self.caller(req, parsed, entry, rid);
        let input: serde_json::Value = if req.body.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(&req.body)
                .map_err(|_| ApiError::serialization("Start of structure or map found where not expected."))?
        };
        if !input.is_object() {
            return Err(ApiError::serialization(
                "Start of structure or map found where not expected.",
            ));
        }
        match api {
            Api::DynamoDb => services::dynamodb::dispatch(self, &caller, op, &input).await,
            Api::Kms => services::kms::dispatch(self, &caller, op, &input),
            Api::CloudTrail => services::cloudtrail::dispatch(self, &caller, op, &input),
            Api::Streams => services::dynamodb::dispatch_streams(self, &caller, op, &input).await,
            Api::Sts | Api::Iam => Err(unknown_operation(api, op)),
        }
    }

    async fn query_request(&self, req: &Incoming, params: &services::query::Params) -> (Api, Result<Reply, ApiError>) {
        let scope_api = sigv4::parse(&req.headers, &req.query, None, self.clock.now())
            .ok()
            .and_then(|p| match p.service() {
                "iam" => Some(Api::Iam),
                "sts" => Some(Api::Sts),
                _ => None,
            });
        let api = scope_api.unwrap_or(Api::Sts);
        let (parsed, entry) = match self.authenticate(req, Some(api.signing_name())) {
            Ok(v) => v,
            Err(e) => return (api, Err(e)),
        };
        let caller = self.caller(req, parsed, entry, "");
        let action = params.get("Action").unwrap_or_default();
        let result = match api {
            Api::Sts => services::sts::dispatch(self, &caller, action, params),
            _ => services::iam::dispatch(self, &caller, action, params),
        };
        (api, result)
    }
}

pub fn unknown_operation(_api: Api, _op: &str) -> ApiError {
    ApiError::new(ErrorKind::UnknownOperation, "")
}

fn plain(status: StatusCode, content_type: &str, body: String, rid: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// Frames a reply or an error as `api` does, with the request id and (DynamoDB) the CRC32 header.
pub fn render(api: Api, result: Result<Reply, ApiError>, rid: &str) -> Response<Bytes> {
    let (status, content_type, body) = match result {
        Ok(Reply::Json(v)) => (200, json_content_type(api), serde_json::to_vec(&v).unwrap_or_default()),
        Ok(Reply::Xml { action, result }) => (
            200,
            "text/xml",
            xml::response(&action, api.xml_namespace(), result, rid).into_bytes(),
        ),
        Err(e) => {
            let (code, status) = e.code_and_status(api);
            if api.is_query() {
                (
                    status,
                    "text/xml",
                    xml::error(api.xml_namespace(), &code, &e.message, status, rid).into_bytes(),
                )
            } else {
                let msg_key = if e.capital_message(api) { "Message" } else { "message" };
                let mut obj = serde_json::Map::new();
                obj.insert("__type".into(), code.into());
                if !e.message.is_empty() || msg_key == "Message" {
                    obj.insert(msg_key.into(), e.message.clone().into());
                }
                if let Some(members) = &e.members {
                    obj.extend(members.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                (
                    status,
                    json_content_type(api),
                    serde_json::to_vec(&obj).unwrap_or_default(),
                )
            }
        }
    };
    let crc = matches!(api, Api::DynamoDb | Api::Streams).then(|| crc32fast::hash(&body));
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(c) = crc {
        h.insert("x-amz-crc32", HeaderValue::from(c));
    }
    r
}

fn json_content_type(api: Api) -> &'static str {
    match api {
        Api::DynamoDb | Api::Streams => "application/x-amz-json-1.0",
        _ => "application/x-amz-json-1.1",
    }
}
