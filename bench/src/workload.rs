//! What each request is, and the preparation a workload needs (a KMS key, a loaded table).
//!
//! The DynamoDB workloads use one table of `--items` items of about 1 KB: item `i` has partition key
//! `p<i / 10>` (so every partition holds ten items, one Query's worth), sort key `i % 10`, a 1,000-byte
//! payload and three small attributes that `--indexes` tables index (`g1`, `g2`, `lsk`). PutItem overwrites
//! a random item with new values of those three (so each index entry moves), GetItem reads one, Query reads
//! one partition, TransactWriteItems puts four items in one transaction.

use std::time::Instant;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{json, Value};

use crate::body::{self, partition};
use crate::conn::Conn;
use crate::sign::Signer;
use crate::ycsb::{Mix, Op, Ycsb};
use crate::Args;

const DYNAMODB_JSON: &str = "application/x-amz-json-1.0";
const KMS_JSON: &str = "application/x-amz-json-1.1";

pub enum Workload {
    Health,
    Json {
        service: &'static str,
        content_type: &'static str,
        target: String,
        body: Vec<u8>,
    },
    /// Reading a table's stream from its start, page after page (one GetRecords of up to 1,000 records a
    /// request), again and again.
    StreamRead {
        arn: String,
        shard: String,
    },
    /// A DynamoDB call whose body names a random item of the table.
    Items {
        op: ItemOp,
        table: String,
        items: u64,
    },
    /// KMS calls in turn: Encrypt, Decrypt, GenerateDataKey (the `kms` workload), as (target, body).
    KmsMix(Vec<(String, Vec<u8>)>),
    /// One of YCSB's core workloads (see [`crate::ycsb`]).
    Ycsb {
        ycsb: Ycsb,
        table: String,
    },
}

#[derive(Clone, Copy)]
pub enum ItemOp {
    Put,
    Get,
    Query,
    Transact,
}

/// SplitMix64: a different, repeatable key sequence per connection.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Item `i` as DynamoDB JSON, in its `version`th form (the indexed attributes change with it).
pub fn item(i: u64, version: u64) -> Value {
    let payload: String = std::iter::repeat_n(char::from(b'a' + (i % 26) as u8), 1000).collect();
    json!({
        "pk": {"S": partition(i)},
        "sk": {"N": (i % 10).to_string()},
        "g1": {"S": format!("g{}", (i + version) % 100)},
        "g2": {"N": (i * 1000 + version % 1000).to_string()},
        "lsk": {"N": version.to_string()},
        "payload": {"S": payload},
    })
}

impl Workload {
    pub async fn prepare(args: &Args) -> anyhow::Result<Workload> {
        let signer = Signer::new(&args.access_key_id, &args.secret_access_key, &args.region);
        let authority = authority(&args.url);
        Ok(match args.workload.as_str() {
            "health" => Workload::Health,
            "list-tables" => Workload::Json {
                service: "dynamodb",
                content_type: DYNAMODB_JSON,
                target: "DynamoDB_20120810.ListTables".into(),
                body: b"{}".to_vec(),
            },
            "put-item" | "get-item" | "query" | "transact-write" => {
                ensure_table(args, &signer, &authority).await?;
                let op = match args.workload.as_str() {
                    "put-item" => ItemOp::Put,
                    "get-item" => ItemOp::Get,
                    "transact-write" => ItemOp::Transact,
                    _ => ItemOp::Query,
                };
                Workload::Items {
                    op,
                    table: args.table.clone(),
                    items: args.items,
                }
            }
            name if Mix::parse(name).is_some() => {
                ensure_table(args, &signer, &authority).await?;
                let mix = Mix::parse(name).ok_or_else(|| anyhow::anyhow!("unknown workload {name}"))?;
                Workload::Ycsb {
                    ycsb: Ycsb::new(mix, args.items),
                    table: args.table.clone(),
                }
            }
            "stream-read" => {
                ensure_table(args, &signer, &authority).await?;
                let d = call(
                    &signer,
                    &authority,
                    "dynamodb",
                    "DynamoDB_20120810.DescribeTable",
                    json!({"TableName": args.table}),
                )
                .await?;
                let arn = d["Table"]["LatestStreamArn"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("the table has no stream (create it with --stream)"))?
                    .to_owned();
                let s = call(
                    &signer,
                    &authority,
                    "dynamodb",
                    "DynamoDBStreams_20120810.DescribeStream",
                    json!({"StreamArn": arn}),
                )
                .await?;
                let shard = s["StreamDescription"]["Shards"][0]["ShardId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                Workload::StreamRead { arn, shard }
            }
            "kms-encrypt" | "kms-decrypt" | "kms-generate-data-key" | "kms" => {
                let mut calls = kms_calls(&signer, &authority).await?;
                let op = match args.workload.as_str() {
                    "kms-encrypt" => "Encrypt",
                    "kms-decrypt" => "Decrypt",
                    "kms-generate-data-key" => "GenerateDataKey",
                    _ => return Ok(Workload::KmsMix(calls)),
                };
                let at = calls
                    .iter()
                    .position(|(target, _)| target.ends_with(op))
                    .ok_or_else(|| anyhow::anyhow!("no {op} call"))?;
                let (target, body) = calls.swap_remove(at);
                Workload::Json {
                    service: "kms",
                    content_type: KMS_JSON,
                    target,
                    body,
                }
            }
            other => anyhow::bail!("unknown workload {other}"),
        })
    }

    /// The `n`th request of connection `conn`.
    pub fn request(&self, signer: &Signer, authority: &str, conn: u64, n: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        Ok(match self {
            Workload::StreamRead { .. } => anyhow::bail!("stream-read requests depend on the answers before them"),
            Workload::Health => Request::get("/health")
                .header("host", authority)
                .body(Full::new(Bytes::new()))?,
            Workload::Json {
                service,
                content_type,
                target,
                body,
            } => signed(signer, authority, service, content_type, target, body.clone())?,
            Workload::Items { op, table, items } => {
                let i = mix(conn << 40 ^ n) % (*items).max(1);
                let (target, body) = match op {
                    ItemOp::Put => ("PutItem", body::put_item(table, i, n + 1)),
                    ItemOp::Transact => {
                        let puts: Vec<Value> = (0..4)
                            .map(|k| json!({"Put": {"TableName": table, "Item": item((i + k) % (*items).max(1), n + 1)}}))
                            .collect();
                        (
                            "TransactWriteItems",
                            serde_json::to_vec(&json!({"TransactItems": puts}))?,
                        )
                    }
                    ItemOp::Get => ("GetItem", body::get_item(table, i)),
                    ItemOp::Query => ("Query", body::query_partition(table, i)),
                };
                dynamodb_request(signer, authority, target, body)?
            }
            Workload::KmsMix(calls) => {
                let (target, body) = &calls[(n % calls.len() as u64) as usize];
                signed(signer, authority, "kms", KMS_JSON, target, body.clone())?
            }
            Workload::Ycsb { ycsb, table } => {
                let random = |n: u64, salt: u64| (mix(mix(conn << 40 ^ n) ^ salt) >> 11) as f64 / (1u64 << 53) as f64;
                let (target, body) = ycsb_request(table, ycsb.op(conn, n, random), n);
                dynamodb_request(signer, authority, target, body)?
            }
        })
    }
}

/// A new symmetric key and the KMS workloads' three calls on it, with a table's encryption context (as
/// DynamoDB's own calls carry): Encrypt of 32 bytes, Decrypt of a data key, GenerateDataKey AES_256.
async fn kms_calls(signer: &Signer, authority: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let created = call(signer, authority, "kms", "TrentService.CreateKey", json!({})).await?;
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap_or_default().to_owned();
    let context = json!({"aws:dynamodb:tableName": "bench", "aws:dynamodb:subscriberId": "000000000000"});
    let generate = json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context});
    let dk = call(
        signer,
        authority,
        "kms",
        "TrentService.GenerateDataKey",
        generate.clone(),
    )
    .await?;
    [
        (
            "Encrypt",
            json!({"KeyId": key_id, "Plaintext": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "EncryptionContext": context}),
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": dk["CiphertextBlob"], "EncryptionContext": context}),
        ),
        ("GenerateDataKey", generate),
    ]
    .into_iter()
    .map(|(op, body)| Ok((format!("TrentService.{op}"), serde_json::to_vec(&body)?)))
    .collect()
}

/// A YCSB operation as a DynamoDB call: its operation name and body. Updates replace the 1 KB payload.
fn ycsb_request(table: &str, op: Op, n: u64) -> (&'static str, Vec<u8>) {
    match op {
        Op::Read(i) => ("GetItem", body::get_item(table, i)),
        Op::Update(i) => ("UpdateItem", body::update_payload(table, i, n, None)),
        Op::ConditionalUpdate(i) => (
            "UpdateItem",
            body::update_payload(table, i, n, Some("attribute_exists(pk)")),
        ),
        Op::Insert(i) => ("PutItem", body::put_item(table, i, 0)),
        Op::Scan(i, len) => ("Query", body::query_from(table, i, len)),
    }
}

pub fn authority(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// A signed DynamoDB call of operation `op`.
fn dynamodb_request(signer: &Signer, authority: &str, op: &str, body: Vec<u8>) -> anyhow::Result<Request<Full<Bytes>>> {
    signed(
        signer,
        authority,
        "dynamodb",
        DYNAMODB_JSON,
        &format!("DynamoDB_20120810.{op}"),
        body,
    )
}

fn signed(
    signer: &Signer,
    authority: &str,
    service: &str,
    content_type: &'static str,
    target: &str,
    body: Vec<u8>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let (date, auth) = signer.sign(service, authority, content_type, target, &body);
    Ok(Request::post("/")
        .header("host", authority)
        .header("content-type", content_type)
        .header("x-amz-target", target)
        .header("x-amz-date", date)
        .header("authorization", auth)
        .body(Full::new(Bytes::from(body)))?)
}

/// One signed JSON call on `link`; the answer's status and JSON body.
pub async fn call_on(
    link: &mut Conn,
    signer: &Signer,
    authority: &str,
    target: &str,
    body: &Value,
) -> anyhow::Result<(http::StatusCode, Value)> {
    let body = serde_json::to_vec(body)?;
    let (status, bytes) = link
        .send(|| signed(signer, authority, "dynamodb", DYNAMODB_JSON, target, body.clone()))
        .await?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// One signed JSON call on its own connection, for preparing a workload; `target` names the operation.
pub async fn call(signer: &Signer, authority: &str, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
    let content_type = if service == "kms" { KMS_JSON } else { DYNAMODB_JSON };
    let body = serde_json::to_vec(&body)?;
    let (status, bytes) = Conn::new(authority)
        .send(|| signed(signer, authority, service, content_type, target, body.clone()))
        .await?;
    if !status.is_success() {
        anyhow::bail!("{target} failed: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// Creates and fills the workload's table unless it already holds `--items` items (by DescribeTable's
/// ItemCount, or a marker item for servers that count lazily): BatchWriteItem, 25 items a request, on
/// `--connections` connections.
async fn ensure_table(args: &Args, signer: &Signer, authority: &str) -> anyhow::Result<()> {
    let table = &args.table;
    let last = args.items.saturating_sub(1);
    let marker = call(
        signer,
        authority,
        "dynamodb",
        "DynamoDB_20120810.GetItem",
        json!({"TableName": table, "Key": {"pk": {"S": partition(last)}, "sk": {"N": (last % 10).to_string()}}}),
    )
    .await;
    if marker.as_ref().is_ok_and(|v| v.get("Item").is_some()) {
        return Ok(());
    }
    if marker.is_err() {
        call(
            signer,
            authority,
            "dynamodb",
            "DynamoDB_20120810.CreateTable",
            {
                let mut create = json!({
                    "TableName": table, "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                });
                if args.stream {
                    create["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"});
                }
                if args.indexes {
                    let defs = create["AttributeDefinitions"].as_array_mut().expect("an array");
                    defs.push(json!({"AttributeName": "g1", "AttributeType": "S"}));
                    defs.push(json!({"AttributeName": "g2", "AttributeType": "N"}));
                    defs.push(json!({"AttributeName": "lsk", "AttributeType": "N"}));
                    create["LocalSecondaryIndexes"] = json!([{"IndexName": "by_lsk",
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "lsk", "KeyType": "RANGE"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"}}]);
                    create["GlobalSecondaryIndexes"] = json!([
                        {"IndexName": "by_g1", "KeySchema": [{"AttributeName": "g1", "KeyType": "HASH"}],
                         "Projection": {"ProjectionType": "KEYS_ONLY"}},
                        {"IndexName": "by_g2", "KeySchema": [{"AttributeName": "g2", "KeyType": "HASH"}],
                         "Projection": {"ProjectionType": "ALL"}},
                    ]);
                }
                match args.sse_key.as_deref() {
                    None => {}
                    Some("managed") => create["SSESpecification"] = json!({"Enabled": true}),
                    Some(key) => {
                        create["SSESpecification"] = json!({"Enabled": true, "SSEType": "KMS", "KMSMasterKeyId": key})
                    }
                }
                create
            },
        )
        .await?;
        // Some servers keep a new table CREATING for a while.
        for _ in 0..200 {
            let d = call(
                signer,
                authority,
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": table}),
            )
            .await?;
            if d["Table"]["TableStatus"] == "ACTIVE" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.connections.min(32) {
        let (next, authority, table, items) = (next.clone(), authority.to_owned(), table.clone(), args.items);
        let signer = Signer::new(&args.access_key_id, &args.secret_access_key, &args.region);
        tasks.push(tokio::spawn(async move {
            let mut link = Conn::new(&authority);
            loop {
                let from = next.fetch_add(25, std::sync::atomic::Ordering::Relaxed);
                if from >= items {
                    return anyhow::Ok(());
                }
                let mut pending: Vec<Value> = (from..(from + 25).min(items))
                    .map(|i| json!({"PutRequest": {"Item": item(i, 0)}}))
                    .collect();
                while !pending.is_empty() {
                    let body = serde_json::to_vec(&json!({"RequestItems": {table.as_str(): pending}}))?;
                    let (status, bytes) = link
                        .send(|| {
                            signed(
                                &signer,
                                &authority,
                                "dynamodb",
                                DYNAMODB_JSON,
                                "DynamoDB_20120810.BatchWriteItem",
                                body.clone(),
                            )
                        })
                        .await?;
                    if !status.is_success() {
                        anyhow::bail!("BatchWriteItem failed: {}", String::from_utf8_lossy(&bytes));
                    }
                    let v: Value = serde_json::from_slice(&bytes)?;
                    pending = v["UnprocessedItems"][table.as_str()]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!(
        "# loaded {} items into {table} in {:.1}s",
        args.items,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
