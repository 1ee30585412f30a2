//! Commands that drive a running server and follow what they started: `restore-table` and `create-index`.
//! They call the server's own API (SigV4-signed, as an SDK would) and poll DescribeTable, drawing the
//! progress the API reports (the restored table's ItemCount, the index's ItemCount) against the total.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use wire::client::{call, Signer};

use crate::config::{CreateIndexArgs, RemoteArgs, RestoreTableArgs};
use crate::progress::Progress;

/// How often the commands ask the server how far it got.
const POLL: Duration = Duration::from_millis(200);

struct Remote {
    authority: String,
    signer: Signer,
}

impl Remote {
    fn new(args: &RemoteArgs) -> anyhow::Result<Remote> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let key_id = var(&["AWS_ACCESS_KEY_ID", "STRONGROOM_ROOT_ACCESS_KEY_ID"])
            .context("no credentials: set AWS_ACCESS_KEY_ID (or STRONGROOM_ROOT_ACCESS_KEY_ID)")?;
        let secret = var(&["AWS_SECRET_ACCESS_KEY", "STRONGROOM_ROOT_SECRET_ACCESS_KEY"])
            .context("no credentials: set AWS_SECRET_ACCESS_KEY (or STRONGROOM_ROOT_SECRET_ACCESS_KEY)")?;
        let authority = args
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        Ok(Remote {
            authority,
            signer: Signer::new(&key_id, &secret, &args.region),
        })
    }

    async fn dynamodb(&self, op: &str, body: Value) -> anyhow::Result<Value> {
        call(&self.authority, &self.signer, &format!("DynamoDB_20120810.{op}"), &body)
            .await
            .with_context(|| format!("{op} failed"))
    }

    async fn table(&self, name: &str) -> anyhow::Result<Value> {
        Ok(self.dynamodb("DescribeTable", json!({"TableName": name})).await?["Table"].take())
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

pub fn restore_table(args: &RestoreTableArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    runtime()?.block_on(async {
        let target = &args.target_table;
        let total = match (&args.backup_arn, &args.source_table) {
            (Some(arn), _) => {
                let d = remote.dynamodb("DescribeBackup", json!({"BackupArn": arn})).await?;
                let total = d["BackupDescription"]["SourceTableDetails"]["ItemCount"].as_u64();
                remote
                    .dynamodb(
                        "RestoreTableFromBackup",
                        json!({"TargetTableName": target, "BackupArn": arn}),
                    )
                    .await?;
                total
            }
            (None, Some(source)) => {
                let total = remote.table(source).await?["ItemCount"].as_u64();
                let mut body = json!({"SourceTableName": source, "TargetTableName": target});
                match args.restore_time {
                    Some(t) => body["RestoreDateTime"] = json!(t),
                    None => body["UseLatestRestorableTime"] = json!(true),
                }
                remote.dynamodb("RestoreTableToPointInTime", body).await?;
                total
            }
            (None, None) => bail!("give --backup-arn or --source-table"),
        };
        let mut progress = Progress::new(&format!("restoring {target}"), total);
        loop {
            let t = remote.table(target).await?;
            let done = t["ItemCount"].as_u64().unwrap_or(0);
            if t["TableStatus"] == "ACTIVE" {
                progress.finish(done);
                println!("{target} restored: {done} items");
                return Ok(());
            }
            progress.update(done);
            tokio::time::sleep(POLL).await;
        }
    })
}

/// `NAME:TYPE` as an attribute name and its type.
fn key_attribute(spec: &str) -> anyhow::Result<(&str, &str)> {
    match spec.rsplit_once(':') {
        Some((name, kind @ ("S" | "N" | "B"))) if !name.is_empty() => Ok((name, kind)),
        _ => bail!("a key attribute is NAME:TYPE with TYPE one of S, N, B (got {spec})"),
    }
}

pub fn create_index(args: &CreateIndexArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let mut keys = vec![(key_attribute(&args.hash)?, "HASH")];
    if let Some(range) = &args.range {
        keys.push((key_attribute(range)?, "RANGE"));
    }
    runtime()?.block_on(async {
        let table = &args.table;
        let total = remote.table(table).await?["ItemCount"].as_u64();
        let definitions: Vec<Value> = keys
            .iter()
            .map(|((name, kind), _)| json!({"AttributeName": name, "AttributeType": kind}))
            .collect();
        let schema: Vec<Value> = keys
            .iter()
            .map(|((name, _), key_type)| json!({"AttributeName": name, "KeyType": key_type}))
            .collect();
        remote
            .dynamodb(
                "UpdateTable",
                json!({
                    "TableName": table,
                    "AttributeDefinitions": definitions,
                    "GlobalSecondaryIndexUpdates": [{"Create": {
                        "IndexName": args.index_name,
                        "KeySchema": schema,
                        "Projection": {"ProjectionType": args.projection},
                    }}],
                }),
            )
            .await?;
        let mut progress = Progress::new(&format!("indexing {table} into {}", args.index_name), total);
        loop {
            let t = remote.table(table).await?;
            let index = t["GlobalSecondaryIndexes"]
                .as_array()
                .and_then(|l| l.iter().find(|g| g["IndexName"] == args.index_name.as_str()))
                .cloned()
                .context("the index is gone")?;
            let done = index["ItemCount"].as_u64().unwrap_or(0);
            if index["IndexStatus"] == "ACTIVE" {
                progress.finish(done);
                println!("{} on {table} is ACTIVE: {done} items", args.index_name);
                return Ok(());
            }
            progress.update(done);
            tokio::time::sleep(POLL).await;
        }
    })
}
