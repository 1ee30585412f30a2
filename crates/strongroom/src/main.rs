//! `strongroom`: a DynamoDB-compatible database and an AWS-KMS-compatible key service in one binary.

mod config;
mod lock;
mod progress;
mod remote;

/// mimalloc: the request path allocates many small, short-lived objects, where it beats glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use anyhow::Context;
use base::{RootKey, SecretString, SystemClock};
use clap::Parser;

use config::{Cli, Command, ServeArgs};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::RootCredentials(args) => root_credentials(args),
        Command::Trail(config::TrailCommand::Verify(args)) => trail_verify(args),
        Command::Inspect(config::InspectCommand::Keys(args)) => inspect_keys(args),
        Command::RestoreTable(args) => remote::restore_table(&args),
        Command::CreateIndex(args) => remote::create_index(&args),
    }
}

/// `strongroom inspect keys`: the key hierarchy of every table, as an operator may see it (ids and ARNs,
/// never key material). Which file holds which structure is sealed under each table key, so with the data
/// directory to itself it opens every table as the server would, its table key decrypted through KMS
/// (recorded in the trail like any other call); while a server runs there, it shows what the plaintext
/// headers tell and says why the rest is missing.
fn inspect_keys(args: config::DataArgs) -> anyhow::Result<()> {
    let root_key = open_root_key(&args)?;
    // Taken, not probed: a server starting meanwhile then finds the directory in use.
    let lock = lock::try_acquire(&args.data_dir)?;
    let tables = dynamodb::tables::Tables::open(
        &args.data_dir.join("dynamodb"),
        root_key.clone(),
        storage::Options::default(),
    )?;
    let reports = match &lock {
        None => tables.inspect(),
        Some(_) => {
            let clock: Arc<dyn base::Clock> = Arc::new(SystemClock);
            let iam = Arc::new(iam::Iam::open(&args.data_dir, root_key.clone(), clock.clone())?);
            let trail = Arc::new(audit::Trail::open(&args.data_dir.join("trail"), root_key.clone())?);
            let kms = Arc::new(kms::Kms::open(&args.data_dir, root_key, clock, iam, trail.clone())?);
            let owned = wire::owned_keys::OwnedKeys::new(kms.clone());
            let reports = tables.inspect_files(&wire::table_keys::ServiceKeys {
                kms: &kms,
                owned: &owned,
            });
            trail.sync()?;
            reports
        }
    };
    if reports.is_empty() {
        println!("no tables");
    }
    for r in reports {
        print_table_keys(&r);
    }
    Ok(())
}

fn print_table_keys(r: &dynamodb::tables::TableKeysReport) {
    let t = &r.record;
    println!(
        "table {} (account {}, region {}, id {})",
        t.spec.name, t.account, t.region, t.table_id
    );
    match &t.sse {
        None => println!("  KMS key: the AWS owned key (no grant)"),
        Some(sse) => {
            println!("  KMS key: {} ({:?} managed)", sse.key_arn, sse.kind);
            println!("  grant: {}", sse.grant_id);
        }
    }
    match &r.registry {
        Ok((blob, ids)) => {
            let fingerprint = dynamodb::tables::TableKeysReport::blob_fingerprint(blob);
            println!("  table key: KMS blob of {} bytes, sha256 {fingerprint}...", blob.len());
            println!("  data keys wrapped under it ({}): {}", ids.len(), joined(ids.iter()));
        }
        Err(e) => println!("  key registry unreadable: {e}"),
    }
    match &r.files {
        None => println!(
            "  files and structures: not shown while a server runs on this data directory (which file holds \
             which structure is sealed under the table key; stop the server to see them)"
        ),
        Some(Err(e)) => println!("  files and structures: the table could not be opened: {e}"),
        Some(Ok(files)) => print_files(files),
    }
}

fn joined<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// "data key 5" or "data keys 4, 7".
fn data_keys(ids: &[u64]) -> String {
    let s = if ids.len() == 1 { "" } else { "s" };
    format!("data key{s} {}", joined(ids.iter()))
}

/// Each file with its data key, then each structure with the data keys of the sorted files holding it.
fn print_files(files: &[storage::FileReport]) {
    use storage::FileRole;
    println!("  files, each sealed by its own data key:");
    let mut by_structure: std::collections::BTreeMap<&str, Vec<u64>> = std::collections::BTreeMap::new();
    let mut logs = Vec::new();
    for f in files {
        let what = match &f.role {
            FileRole::Manifest => "manifest".to_owned(),
            FileRole::Log => {
                logs.push(f.data_key);
                "write-ahead log".to_owned()
            }
            FileRole::Sorted { level, structures } => {
                for s in structures {
                    by_structure.entry(s).or_default().push(f.data_key);
                }
                format!("sorted table, level {level}: {}", structures.join(", "))
            }
        };
        println!("    data key {}: {} ({what})", f.data_key, f.name);
    }
    println!("  structures and the data keys of the files holding them:");
    if by_structure.is_empty() {
        println!("    none flushed to a sorted table yet");
    }
    for (s, keys) in by_structure {
        println!("    {s}: {}", data_keys(&keys));
    }
    println!(
        "    recent writes of every structure: {} (write-ahead log)",
        data_keys(&logs)
    );
}

fn init_logging(filter: &str, json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or a collector gets the plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if json {
        builder.json().with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}

fn open_root_key(args: &config::DataArgs) -> anyhow::Result<Arc<RootKey>> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let key_path = args
        .root_key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("root.key"));
    Ok(Arc::new(RootKey::load_or_create(&key_path)?))
}

fn open_identities(args: &config::DataArgs) -> anyhow::Result<Arc<iam::Iam>> {
    let root_key = open_root_key(args)?;
    Ok(Arc::new(iam::Iam::open(
        &args.data_dir,
        root_key,
        Arc::new(SystemClock),
    )?))
}

fn trail_verify(args: config::DataArgs) -> anyhow::Result<()> {
    let root_key = open_root_key(&args)?;
    match audit::Trail::verify(&args.data_dir.join("trail"), root_key) {
        Ok(report) => {
            println!("trail ok: {} records, every seal and link verified", report.records);
            Ok(())
        }
        Err(e) => {
            eprintln!("trail damaged: {e}");
            std::process::exit(2);
        }
    }
}

/// A tick every `period`; a late tick delays the next ones rather than bunching them.
fn ticker(period: std::time::Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Runs `work` every `period` until the process ends; failures are logged, never fatal. The work runs on
/// the blocking pool: it may fsync, and a request worker stalled for an fsync shows up in every tail latency.
fn run_every(
    period: std::time::Duration,
    name: &'static str,
    work: impl Fn() -> Result<(), String> + Send + Sync + 'static,
) {
    let work = std::sync::Arc::new(work);
    tokio::spawn(async move {
        let mut tick = ticker(period);
        loop {
            tick.tick().await;
            let work = work.clone();
            let outcome = tokio::task::spawn_blocking(move || work()).await;
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "background task failed"),
                Err(e) => tracing::error!(task = name, error = %e, "background task panicked"),
            }
        }
    });
}

/// Root credentials from the environment win; otherwise those stored, or a pair made now.
fn root_credentials_for(iam: &iam::Iam, account: &str) -> anyhow::Result<(String, SecretString, bool)> {
    let id = std::env::var("STRONGROOM_ROOT_ACCESS_KEY_ID").ok();
    let secret = std::env::var("STRONGROOM_ROOT_SECRET_ACCESS_KEY").ok();
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            let secret = SecretString::new(secret);
            iam.set_root_credentials(account, &id, secret.clone())?;
            Ok((id, secret, false))
        }
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("set both STRONGROOM_ROOT_ACCESS_KEY_ID and STRONGROOM_ROOT_SECRET_ACCESS_KEY, or neither")
        }
        _ => Ok(iam.ensure_root_credentials(account)?),
    }
}

fn root_credentials(args: config::RootCredentialsArgs) -> anyhow::Result<()> {
    let iam = open_identities(&args.data)?;
    let (id, secret, _) = iam.ensure_root_credentials(&args.account_id)?;
    println!("AWS_ACCESS_KEY_ID={id}");
    println!("AWS_SECRET_ACCESS_KEY={}", secret.expose());
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // For the server's fault tests only: a full disk or failing fsyncs after a budget.
    if let Ok(spec) = std::env::var("STRONGROOM_TEST_FAULTS") {
        storage::fs::faults::inject(&spec).map_err(anyhow::Error::msg)?;
    }
    init_logging(&args.log, args.log_format == "json");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let root_key = open_root_key(&args.data)?;
        // Before anything is opened: a second server on this directory stops here.
        let _lock = lock::acquire(&args.data.data_dir)?;
        let clock: Arc<dyn base::Clock> = Arc::new(SystemClock);
        let iam = Arc::new(iam::Iam::open(&args.data.data_dir, root_key.clone(), clock.clone())?);
        let trail = Arc::new(audit::Trail::open(&args.data.data_dir.join("trail"), root_key.clone())?);
        let root_key_for_tables = root_key.clone();
        let kms = Arc::new(kms::Kms::open(
            &args.data.data_dir,
            root_key,
            clock.clone(),
            iam.clone(),
            trail.clone(),
        )?);
        let (id, secret, generated) = root_credentials_for(&iam, &args.account_id)?;
        if generated {
            // Printed once, to the operator's terminal; kept sealed in the data directory.
            println!(
                "Generated root credentials for account {} (kept sealed in {}):",
                args.account_id,
                args.data.data_dir.display()
            );
            println!("  export AWS_ACCESS_KEY_ID={id}");
            println!("  export AWS_SECRET_ACCESS_KEY={}", secret.expose());
            println!(
                "  (print them again with: strongroom root-credentials --data-dir {})",
                args.data.data_dir.display()
            );
        }
        tracing::info!(
            account = %args.account_id,
            table_key_cache_ttl = ?args.table_key_cache_ttl.0,
            "starting"
        );
        let tables = Arc::new(
            dynamodb::tables::Tables::open_with(
                &args.data.data_dir.join("dynamodb"),
                root_key_for_tables,
                storage::Options {
                    block_cache_bytes: args.block_cache_size,
                    row_cache_bytes: args.row_cache_size,
                    write_buffers: Some(storage::WriteBuffers::new(args.write_buffer_size)),
                    ..storage::Options::default()
                },
                args.table_key_cache_ttl.0,
            )?
            .with_ttl_change_cooldown(args.ttl_change_cooldown.0),
        );
        let owned_keys = Arc::new(wire::owned_keys::OwnedKeys::new(kms.clone()));
        let app = Arc::new(
            wire::App::new(
                iam,
                tables,
                owned_keys,
                kms.clone(),
                trail.clone(),
                clock,
                args.region.clone(),
            )
            .with_metrics(args.metrics)
            .with_limits(wire::Limits {
                max_connections: args.max_connections as usize,
                idle_connection_timeout: args.idle_connection_timeout.0,
                enforce_provisioned_throughput: args.enforce_provisioned_throughput,
                kms_quotas: Arc::new(kms::quota::Quotas::parse(&args.kms_quotas).map_err(anyhow::Error::msg)?),
            }),
        );
        app.drop_interrupted_restores();
        {
            let kms = kms.clone();
            run_every(std::time::Duration::from_secs(1), "kms-housekeeping", move || {
                kms.tick().map_err(|e| e.to_string())
            });
            let trail = trail.clone();
            run_every(std::time::Duration::from_secs(1), "trail-sync", move || {
                trail.sync().map_err(|e| e.to_string())
            });
            let health = app.clone();
            let archive_after = args.archive_after.0;
            run_every(args.key_health_interval.0, "dynamodb-key-health", move || {
                health.check_table_keys();
                let n = health.archive_inaccessible(archive_after);
                if n > 0 {
                    tracing::warn!(tables = n, "tables archived: their KMS keys stayed unusable");
                }
                Ok(())
            });
            let trimmer = app.clone();
            run_every(args.ttl_sweep_interval.0, "dynamodb-stream-trim", move || {
                trimmer.trim_streams();
                Ok(())
            });
            let sweeper = app.clone();
            let period = args.ttl_sweep_interval.0;
            tokio::spawn(async move {
                let mut tick = ticker(period);
                loop {
                    tick.tick().await;
                    let n = sweeper.sweep_expired().await;
                    if n > 0 {
                        tracing::debug!(deleted = n, "TTL sweep");
                    }
                }
            });
            let builder = app.clone();
            let pitr_interval = args.pitr_base_interval.0;
            tokio::spawn(async move {
                let mut tick = ticker(std::time::Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    let n = builder.backfill_indexes().await;
                    if n > 0 {
                        tracing::info!(indexes = n, "global secondary indexes backfilled");
                    }
                    builder.maintain_pitr(pitr_interval).await;
                    let n = builder.finish_transactions().await;
                    if n > 0 {
                        tracing::info!(transactions = n, "interrupted transactions finished");
                    }
                }
            });
        }
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("strongroom listening on http://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        wire::serve(listener, app, shutdown_signal()).await;
        if let Err(e) = trail.sync() {
            tracing::error!(error = %e, "final trail sync failed");
        }
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
