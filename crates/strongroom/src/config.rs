//! The command line (design.md section 6): every flag also reads a `STRONGROOM_*` variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "strongroom",
    version,
    about = "A DynamoDB-compatible database and an AWS-KMS-compatible key service, encrypted at rest under a KMS key hierarchy."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (DynamoDB, KMS, IAM and STS on one port).
    Serve(ServeArgs),
    /// Print the root user's credentials for an account (generating them if there are none).
    RootCredentials(RootCredentialsArgs),
    /// Work with the audit trail.
    #[command(subcommand)]
    Trail(TrailCommand),
    /// Look at what the data directory holds, without key material.
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Restore a table on a running server from a backup or to a point in time, showing its progress.
    RestoreTable(RestoreTableArgs),
    /// Add a global secondary index to a table on a running server, showing its backfill.
    CreateIndex(CreateIndexArgs),
}

/// A running server, reached with the credentials in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or the
/// root's, from `STRONGROOM_ROOT_ACCESS_KEY_ID` / `STRONGROOM_ROOT_SECRET_ACCESS_KEY`).
#[derive(Args, Debug)]
pub struct RemoteArgs {
    /// The server's address, e.g. http://127.0.0.1:8000.
    #[arg(long, env = "STRONGROOM_ENDPOINT", default_value = "http://127.0.0.1:8000")]
    pub endpoint: String,
    /// The region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

#[derive(Args, Debug)]
pub struct RestoreTableArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The table to create.
    #[arg(long)]
    pub target_table: String,
    /// Restore this backup (RestoreTableFromBackup).
    #[arg(long, conflicts_with = "source_table")]
    pub backup_arn: Option<String>,
    /// Restore this table as it was at --restore-time, or at the latest restorable time
    /// (RestoreTableToPointInTime).
    #[arg(long)]
    pub source_table: Option<String>,
    /// Epoch seconds (with --source-table); the latest restorable time when absent.
    #[arg(long, requires = "source_table")]
    pub restore_time: Option<f64>,
}

#[derive(Args, Debug)]
pub struct CreateIndexArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[arg(long)]
    pub table: String,
    #[arg(long)]
    pub index_name: String,
    /// The partition key, as NAME:TYPE (TYPE one of S, N, B).
    #[arg(long)]
    pub hash: String,
    /// The sort key, as NAME:TYPE.
    #[arg(long)]
    pub range: Option<String>,
    /// ALL or KEYS_ONLY.
    #[arg(long, default_value = "ALL")]
    pub projection: String,
}

#[derive(Subcommand, Debug)]
pub enum InspectCommand {
    /// For each table: its KMS key, its table key's blob, and the data keys under it (ids only).
    Keys(DataArgs),
}

#[derive(Subcommand, Debug)]
pub enum TrailCommand {
    /// Check every record's seal and the hash chain; exit 2 if anything was changed or removed.
    Verify(DataArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Where all state lives; nothing in it is plaintext.
    #[arg(long, env = "STRONGROOM_DATA_DIR", default_value = "./strongroom-data")]
    pub data_dir: PathBuf,
    /// The root key file (32 bytes, mode 0600). Defaults to root.key in the data directory.
    #[arg(long, env = "STRONGROOM_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "STRONGROOM_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// The default account (12 digits); the root credentials belong to it.
    #[arg(long, env = "STRONGROOM_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account)]
    pub account_id: String,
    /// How long an unused plaintext table key stays cached before KMS is asked again (e.g. 3s, 5m).
    #[arg(long, env = "STRONGROOM_TABLE_KEY_CACHE_TTL", default_value = "5m", value_parser = parse_duration)]
    pub table_key_cache_ttl: Dur,
    /// How often DynamoDB checks that each table's KMS key is still usable (its status shows the result).
    #[arg(long, env = "STRONGROOM_KEY_HEALTH_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub key_health_interval: Dur,
    /// How long a table's KMS key may stay unusable before DynamoDB archives the table (a system backup of
    /// its sealed files; the table shows ARCHIVED). DynamoDB waits seven days.
    #[arg(long, env = "STRONGROOM_ARCHIVE_AFTER", default_value = "168h", value_parser = parse_duration)]
    pub archive_after: Dur,
    /// How often the time-to-live sweeper deletes expired items (DynamoDB takes up to 48 hours).
    #[arg(long, env = "STRONGROOM_TTL_SWEEP_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub ttl_sweep_interval: Dur,
    /// How long after a change of a table's time to live another change is refused (DynamoDB: an hour).
    #[arg(long, env = "STRONGROOM_TTL_CHANGE_COOLDOWN", default_value = "1h", value_parser = parse_duration)]
    pub ttl_change_cooldown: Dur,
    /// How often point-in-time recovery takes a new base copy of each table it covers (older copies and
    /// log go once a newer copy is older than the recovery period).
    #[arg(long, env = "STRONGROOM_PITR_BASE_INTERVAL", default_value = "24h", value_parser = parse_duration)]
    pub pitr_base_interval: Dur,
    /// Memory for decrypted blocks, shared by every table (e.g. 192MiB, 1GiB, or bytes). Reads of blocks
    /// held here cost no file read and no decryption.
    #[arg(long, env = "STRONGROOM_BLOCK_CACHE_SIZE", default_value = "192MiB", value_parser = parse_size)]
    pub block_cache_size: usize,
    /// Memory for rows (a key's newest version in a table file, as a point read found it), shared by every
    /// table; 0 turns it off. A hot item read again skips the file's index and block: under skewed reads,
    /// rows hold more of what is read than the same memory of blocks (a 1 KB item costs a row about 1.1 KB,
    /// a block 4 KB), which is why the default gives rows as much as blocks.
    #[arg(long, env = "STRONGROOM_ROW_CACHE_SIZE", default_value = "192MiB", value_parser = parse_size)]
    pub row_cache_size: usize,
    /// Memory for memtables (writes not yet in a sorted file), shared by every table (e.g. 256MiB). Past
    /// it, the table holding the most flushes early, so a server with many tables written stays bounded.
    #[arg(long, env = "STRONGROOM_WRITE_BUFFER_SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub write_buffer_size: usize,
    /// Serve Prometheus metrics at GET /metrics (requests, errors and latency per operation, caches,
    /// bytes on disk). Off unless asked for.
    #[arg(long, env = "STRONGROOM_METRICS")]
    pub metrics: bool,
    /// Connections served at once; past it, new ones wait in the listen backlog until one closes.
    #[arg(long, env = "STRONGROOM_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// A keep-alive connection with no request for this long is closed (its slot of --max-connections
    /// freed); clients reconnect as they would after any server closes an idle connection.
    #[arg(long, env = "STRONGROOM_IDLE_CONNECTION_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_connection_timeout: Dur,
    /// Enforce PROVISIONED tables' read and write capacity as DynamoDB does
    /// (ProvisionedThroughputExceededException past it, with up to 300 seconds of unused capacity kept
    /// for bursts). Off by default: most users want an emulator that never throttles.
    #[arg(long, env = "STRONGROOM_ENFORCE_PROVISIONED_THROUGHPUT")]
    pub enforce_provisioned_throughput: bool,
    /// KMS request quotas per account and region, in requests a second: `cryptographic=N` for the
    /// cryptographic operations together, `OPERATION=N` for another operation (`CreateKey=5`), comma
    /// separated. Past a quota, KMS answers ThrottlingException for the rest of that second. None by
    /// default.
    #[arg(long, env = "STRONGROOM_KMS_QUOTAS", default_value = "")]
    pub kms_quotas: String,
    /// The region `GET /` reports.
    #[arg(long, env = "STRONGROOM_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "STRONGROOM_LOG", default_value = "info")]
    pub log: String,
    /// `text` for people, `json` (one object a line, with the request's id and operation) for log
    /// collectors.
    #[arg(long, env = "STRONGROOM_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Args, Debug)]
pub struct RootCredentialsArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, env = "STRONGROOM_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account)]
    pub account_id: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Dur(pub Duration);

fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err("an account id is 12 digits".to_owned())
    }
}

pub fn parse_duration(s: &str) -> Result<Dur, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 500ms, 3s, 5m or 1h"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("'{s}' is not a duration like 500ms, 3s, 5m or 1h")),
    };
    Ok(Dur(d))
}

/// A size in bytes: a number, optionally followed by KiB, MiB or GiB (K, M, G and KB, MB, GB mean the
/// same powers of two, as they do for memory).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let bad = || format!("'{s}' is not a size like 64MiB, 1GiB or 1048576");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64 KB"), Ok(64 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5TiB").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s").unwrap().0, Duration::from_secs(3));
        assert_eq!(parse_duration("5m").unwrap().0, Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap().0, Duration::from_millis(250));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
