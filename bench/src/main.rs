//! A load generator for Strongroom over HTTP: N keep-alive connections, each request SigV4-signed the way an
//! SDK signs it, latencies recorded per request. Prints throughput and p50/p99/p99.9.

mod body;
mod conn;
mod sign;
mod workload;
mod ycsb;

use std::time::{Duration, Instant};

use clap::Parser;

use workload::Workload;

#[derive(Parser, Debug, Clone)]
#[command(about = "Load a Strongroom server over HTTP and report throughput and latency percentiles.")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measurement (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// health | list-tables | put-item | get-item | query | transact-write | ycsb-a ... ycsb-f (YCSB's core
    /// workloads) | stream-read | kms-encrypt | kms-decrypt | kms-generate-data-key | kms (the three in turn)
    #[arg(long, default_value = "list-tables")]
    workload: String,
    /// Items in the DynamoDB workloads' table (loaded first unless it is already there).
    #[arg(long, default_value_t = 100_000)]
    items: u64,
    /// The DynamoDB workloads' table.
    #[arg(long, default_value = "bench")]
    table: String,
    /// Create the table under this KMS key (`SSESpecification.KMSMasterKeyId`; `managed` for
    /// `alias/aws/dynamodb`) instead of the owned key.
    #[arg(long)]
    sse_key: Option<String>,
    /// Create the table with two global secondary indexes and one local one (on `g1`, `g2`, `lsk`).
    #[arg(long)]
    indexes: bool,
    /// Create the table with a stream (NEW_AND_OLD_IMAGES).
    #[arg(long)]
    stream: bool,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "")]
    access_key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", default_value = "")]
    secret_access_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
    /// Load generator threads (the generator signs every request, so one thread cannot saturate the server).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Offer this many requests per second in all (open loop, spread evenly over the connections) instead of
    /// sending each connection's next request as soon as its last one is answered. Latency is then counted
    /// from when a request was due, not from when it was sent, so a stalled server is charged for the
    /// requests it kept waiting (wrk2's correction for coordinated omission).
    #[arg(long)]
    rate: Option<f64>,
}

struct Outcome {
    latencies_us: Vec<u32>,
    errors: u64,
    /// Stream records read (stream-read).
    records: u64,
}

async fn connection(
    conn: u64,
    args: Args,
    wl: std::sync::Arc<Workload>,
    warmup_end: Instant,
    end: Instant,
) -> anyhow::Result<Outcome> {
    let authority = workload::authority(&args.url);
    let mut link = conn::Conn::new(&authority);
    let signer = sign::Signer::new(&args.access_key_id, &args.secret_access_key, &args.region);
    let mut out = Outcome {
        latencies_us: Vec::with_capacity(1 << 16),
        errors: 0,
        records: 0,
    };
    if let Workload::StreamRead { arn, shard } = &*wl {
        stream_reader(&mut link, &signer, &authority, arn, shard, warmup_end, end, &mut out).await?;
        return Ok(out);
    }
    let schedule = args.rate.map(|rate| Schedule::new(rate, args.connections, conn));
    let mut n = 0u64;
    loop {
        let started = match &schedule {
            Some(schedule) => {
                // Tokio's timer fires on the first millisecond tick at or after the deadline, so asking for
                // the due time itself would charge the server up to a millisecond of timer slack per
                // request. Waking one tick early and counting from whichever came first, the due time or
                // the send, never counts less than the request really took, and still charges the server
                // for any lateness of its own.
                let due = schedule.due(n);
                tokio::time::sleep_until(due.checked_sub(TIMER_TICK).unwrap_or(due).into()).await;
                due.min(Instant::now())
            }
            None => Instant::now(),
        };
        // Nothing is sent after the end, not even what fell due before it: a server that fell behind then
        // shows it in the throughput.
        if started >= end || Instant::now() >= end {
            break;
        }
        let (status, _) = link.send(|| wl.request(&signer, &authority, conn, n)).await?;
        n += 1;
        let elapsed = started.elapsed();
        if started >= warmup_end {
            out.latencies_us.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
            if !status.is_success() {
                out.errors += 1;
            }
        }
    }
    Ok(out)
}

/// The granularity of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// When each of one connection's requests is due under an offered rate: connections take turns, so that the
/// whole offered load arrives evenly rather than in one burst per interval.
struct Schedule {
    first: Instant,
    interval: Duration,
}

impl Schedule {
    fn new(rate: f64, connections: usize, conn: u64) -> Self {
        let interval = Duration::from_secs_f64(connections as f64 / rate.max(f64::MIN_POSITIVE));
        let offset = interval.mul_f64(conn as f64 / connections.max(1) as f64);
        Schedule {
            first: Instant::now() + offset,
            interval,
        }
    }

    fn due(&self, n: u64) -> Instant {
        self.first + self.interval.mul_f64(n as f64)
    }
}

/// stream-read: from the stream's start to its end, then again, until `end`.
#[allow(clippy::too_many_arguments)]
async fn stream_reader(
    link: &mut conn::Conn,
    signer: &sign::Signer,
    authority: &str,
    arn: &str,
    shard: &str,
    warmup_end: Instant,
    end: Instant,
    out: &mut Outcome,
) -> anyhow::Result<()> {
    use serde_json::json;
    let target = |op: &str| format!("DynamoDBStreams_20120810.{op}");
    let mut iterator: Option<String> = None;
    while Instant::now() < end {
        let started = Instant::now();
        let (status, records) = match &iterator {
            None => {
                let (status, body) = workload::call_on(
                    link,
                    signer,
                    authority,
                    &target("GetShardIterator"),
                    &json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await?;
                iterator = body["ShardIterator"].as_str().map(str::to_owned);
                (status, 0)
            }
            Some(it) => {
                let (status, body) = workload::call_on(
                    link,
                    signer,
                    authority,
                    &target("GetRecords"),
                    &json!({"ShardIterator": it, "Limit": 1000}),
                )
                .await?;
                let n = body["Records"].as_array().map_or(0, Vec::len);
                // Read to the end: start over.
                iterator = (n > 0)
                    .then(|| body["NextShardIterator"].as_str().map(str::to_owned))
                    .flatten();
                (status, n)
            }
        };
        if started >= warmup_end {
            out.latencies_us
                .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
            out.records += records as u64;
            if !status.is_success() {
                out.errors += 1;
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let wl = std::sync::Arc::new(Workload::prepare(&args).await?);
        let warmup_end = Instant::now() + Duration::from_secs(1);
        let end = warmup_end + Duration::from_secs(args.seconds);
        let mut tasks = Vec::new();
        for conn in 0..args.connections {
            tasks.push(tokio::spawn(connection(
                conn as u64,
                args.clone(),
                wl.clone(),
                warmup_end,
                end,
            )));
        }
        let mut all = Vec::new();
        let (mut errors, mut records) = (0, 0);
        for t in tasks {
            let o = t.await??;
            all.extend(o.latencies_us);
            errors += o.errors;
            records += o.records;
        }
        let records_per_s = records as f64 / args.seconds as f64;
        all.sort_unstable();
        let rps = all.len() as f64 / args.seconds as f64;
        let (p50, p99, p999) = (percentile(&all, 0.50), percentile(&all, 0.99), percentile(&all, 0.999));
        if args.json {
            println!(
                "{}",
                serde_json::json!({"workload": args.workload, "connections": args.connections, "seconds": args.seconds,
                    "requests": all.len(), "errors": errors, "rps": rps, "offered_rps": args.rate, "p50_ms": p50, "p99_ms": p99, "p999_ms": p999,
                    "records_per_s": records_per_s})
            );
        } else {
            println!(
                "{:<24} conns={:<3} requests={:<9} errors={:<5} rps={:>10.0}  p50={:.2}ms p99={:.2}ms p99.9={:.2}ms",
                args.workload,
                args.connections,
                all.len(),
                errors,
                rps,
                p50,
                p99,
                p999
            );
            if let Some(rate) = args.rate {
                // An open-loop run only means something if the server kept up with what was offered.
                let kept_up = if rps >= rate * 0.98 { "kept up" } else { "fell behind" };
                println!("{:<24} offered {rate:.0} req/s: {kept_up}", "");
            }
            if records > 0 {
                println!("{:<24} stream records read: {records} ({records_per_s:.0}/s)", "");
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offered_rate_is_spread_evenly_over_the_connections() {
        // 4 connections at 1,000 req/s: each sends every 4 ms, and they take turns a millisecond apart.
        let schedules: Vec<Schedule> = (0..4).map(|c| Schedule::new(1000.0, 4, c)).collect();
        let start = schedules[0].first;
        let mut due: Vec<Duration> = schedules
            .iter()
            .flat_map(|s| (0..3).map(move |n| s.due(n)))
            .map(|t| t - start)
            .collect();
        due.sort();
        for (i, d) in due.iter().enumerate() {
            let expected = Duration::from_millis(i as u64);
            let off = d.abs_diff(expected);
            assert!(
                off < Duration::from_micros(200),
                "request {i} due at {d:?}, expected {expected:?}"
            );
        }
    }
}
