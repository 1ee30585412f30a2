//! Point-in-time recovery, built from encrypted pieces only.
//!
//! Enabling it starts a change log (`pitr/log`, a structure of the table's engine: every change's new
//! image, or its keys for a removal, keyed by sequence number and written in the change's own batch) and
//! then takes a base copy of the table (an engine checkpoint in `dynamodb/pitr/<id>/`, under the table
//! key of that moment). A restore to time T copies the newest base taken no later than T into the new
//! table, then replays, in sequence order, every logged change from that base's first sequence number on
//! made no later than T. Changes are whole images, so a change already in the base is replayed harmlessly.
//!
//! The window stays bounded: a new base is taken every `--pitr-base-interval`, and once a newer base is
//! older than the recovery period, the older base and the log before the newer one go.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage::{Engine, WriteBatch};

use super::backup::{Fill, RestoreInfo, RestoreOverrides};
use super::{
    commit_blocking, now_ms, open_engine_in, read_item_for_update, storage_error, Cause, OpenFailure, SseKey, Table,
    TableRecord, Tables, Written,
};
use crate::attr::{encode_item, Item};
use crate::stream::ChangeRecord;
use crate::DynamoError;

/// The structure holding the change log.
pub(super) const LOG: &str = "pitr/log";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PitrSpec {
    pub period_days: u32,
    /// The base copies, oldest first.
    pub bases: Vec<PitrBase>,
}

/// A copy of the table from which the log is replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PitrBase {
    /// Its directory (under `dynamodb/pitr/`).
    pub id: String,
    /// When it was complete: the earliest time a restore from it can reach.
    pub taken_ms: i64,
    /// It holds every change numbered below this; the log is replayed from here.
    pub first_seq: u64,
    /// The table's KMS key when it was taken (its table key is under it).
    pub sse: Option<SseKey>,
}

impl PitrSpec {
    fn period_ms(&self) -> i64 {
        i64::from(self.period_days) * 86_400_000
    }

    /// The first base a restore within the window can still need: the newest one taken before the window
    /// starts (0 when none before it can go).
    fn keep_from(&self, now_ms: i64) -> usize {
        let start = now_ms - self.period_ms();
        self.bases.iter().rposition(|b| b.taken_ms <= start).unwrap_or(0)
    }
}

fn unavailable(name: &str) -> DynamoError {
    DynamoError::Named(
        "PointInTimeRecoveryUnavailableException",
        format!("Point in time recovery is not enabled for table '{name}'"),
    )
}

impl Tables {
    fn pitr_dir(&self, id: &str) -> std::path::PathBuf {
        self.dir.join("pitr").join(id)
    }

    /// UpdateContinuousBackups: enables point-in-time recovery (log first, then the base copy), changes its
    /// period, or disables it (log and base copy deleted, keys with them).
    pub async fn update_pitr(
        &self,
        account: &str,
        region: &str,
        name: &str,
        enable: bool,
        period_days: Option<u32>,
        keys: &dyn super::KeyService,
    ) -> Result<TableRecord, DynamoError> {
        let table = self.table_for_backup(account, region, name)?;
        let engine = table.engine(keys)?;
        match (enable, &table.record.pitr) {
            (true, Some(_)) => self.update(account, region, name, |r| {
                if let (Some(p), Some(days)) = (r.pitr.as_mut(), period_days) {
                    p.period_days = days;
                }
                Ok(())
            }),
            (true, None) => {
                engine.create_structure(LOG).map_err(storage_error)?;
                self.update(account, region, name, |r| {
                    r.pitr = Some(PitrSpec {
                        period_days: period_days.unwrap_or(35),
                        bases: Vec::new(),
                    });
                    Ok(())
                })?;
                self.take_base(&table, &engine).await
            }
            (false, None) => Ok(table.record.clone()),
            (false, Some(p)) => {
                let bases = p.bases.clone();
                let record = self.update(account, region, name, |r| {
                    r.pitr = None;
                    Ok(())
                })?;
                table.shared.drain_writes().await;
                if engine.structure(LOG).is_some() {
                    engine.drop_structure(LOG).map_err(storage_error)?;
                }
                for b in bases {
                    let _ = std::fs::remove_dir_all(self.pitr_dir(&b.id));
                }
                Ok(record)
            }
        }
    }

    /// Takes a base copy of a table whose change log is on. Every change numbered below the base's first
    /// sequence number is in it: the writes holding such numbers hold item locks until they are written,
    /// and the copy is taken after they all let go.
    async fn take_base(&self, table: &Table, engine: &Engine) -> Result<TableRecord, DynamoError> {
        let first_seq = table.shared.streams.next_seq();
        table.shared.drain_writes().await;
        let started = now_ms();
        let id = format!("{}-{started}", table.record.table_id);
        let dir = self.pitr_dir(&id);
        std::fs::create_dir_all(self.dir.join("pitr")).map_err(|e| DynamoError::Storage(e.to_string()))?;
        let sse = table.checkpoint_under_key(engine, &dir)?;
        let base = PitrBase {
            id,
            taken_ms: now_ms(),
            first_seq,
            sse,
        };
        let r = &table.record;
        let added = self.update(&r.account, &r.region, &r.spec.name, |r| match r.pitr.as_mut() {
            Some(p) => {
                p.bases.push(base);
                Ok(())
            }
            None => Err(DynamoError::Validation(
                "point-in-time recovery was disabled meanwhile".into(),
            )),
        });
        if added.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        added
    }

    /// The point-in-time-recovery upkeep of every open table: a new base copy once the newest is
    /// `interval` old, and the bases (and log) no restore in the window needs any more removed.
    pub async fn maintain_pitr(&self, now_ms: i64, interval: std::time::Duration, keys: &dyn super::KeyService) {
        for table in self.all() {
            let Some(p) = table.record.pitr.clone() else {
                continue;
            };
            let newest = p.bases.last().map_or(i64::MIN, |b| b.taken_ms);
            let base_due = now_ms - newest >= interval.as_millis() as i64;
            let keep_from = p.keep_from(now_ms);
            // The table's key is only needed when there is work: this runs four times a second.
            if !base_due && keep_from == 0 {
                continue;
            }
            if !table.in_use() {
                continue;
            }
            let Ok(engine) = table.engine(keys) else {
                continue;
            };
            if base_due {
                if let Err(e) = self.take_base(&table, &engine).await {
                    tracing::warn!(table = %table.record.spec.name, error = %e, "taking a recovery base failed");
                }
                continue;
            }
            if let Err(e) = self.prune_pitr(&table, &engine, &p, keep_from) {
                tracing::warn!(table = %table.record.spec.name, error = %e, "pruning recovery data failed");
            }
        }
    }

    /// Drops the bases before `keep_from` and the log before the first one kept.
    fn prune_pitr(&self, table: &Table, engine: &Engine, p: &PitrSpec, keep_from: usize) -> Result<(), DynamoError> {
        let dropped: Vec<PitrBase> = p.bases[..keep_from].to_vec();
        let first_needed = p.bases[keep_from].first_seq;
        let r = &table.record;
        self.update(&r.account, &r.region, &r.spec.name, |r| {
            if let Some(p) = r.pitr.as_mut() {
                p.bases.retain(|b| !dropped.contains(b));
            }
            Ok(())
        })?;
        for b in &dropped {
            let _ = std::fs::remove_dir_all(self.pitr_dir(&b.id));
        }
        if let Some(log) = engine.structure(LOG) {
            loop {
                let range = storage::Range {
                    start: std::ops::Bound::Unbounded,
                    end: std::ops::Bound::Excluded(&first_needed.to_be_bytes()[..]),
                    reverse: false,
                    limit: 1024,
                };
                let page = engine.range(log, &range, None).map_err(storage_error)?;
                if page.is_empty() {
                    break;
                }
                let mut batch = WriteBatch::new();
                for (k, _) in &page {
                    batch.delete(log, k);
                }
                engine.write(batch).map_err(storage_error)?;
            }
        }
        Ok(())
    }

    /// The earliest and latest times (epoch ms) a table can be restored to.
    pub fn pitr_window(&self, record: &TableRecord) -> Option<(i64, i64)> {
        let p = record.pitr.as_ref()?;
        let now = now_ms();
        let earliest = p.bases.first()?.taken_ms.max(now - p.period_ms());
        Some((earliest, now))
    }

    /// RestoreTableToPointInTime: `target` made as `name` was at `at_ms`, filled in the background.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_to_point(
        self: &Arc<Self>,
        account: &str,
        region: &str,
        name: &str,
        target: &str,
        at_ms: Option<i64>,
        overrides: RestoreOverrides,
        keys: &dyn super::KeyService,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<TableRecord, DynamoError> {
        let source = self.table_for_backup(account, region, name)?;
        let pitr = source.record.pitr.clone().ok_or_else(|| unavailable(name))?;
        let (earliest, latest) = self.pitr_window(&source.record).ok_or_else(|| unavailable(name))?;
        let at = at_ms.unwrap_or(latest);
        if at < earliest || at > latest {
            return Err(DynamoError::Named(
                "InvalidRestoreTimeException",
                "RestoreDateTime must be between EarliestRestorableDateTime and LatestRestorableDateTime".into(),
            ));
        }
        self.target_free(account, region, target)?;
        let chosen = pitr
            .bases
            .iter()
            .rev()
            .find(|b| b.taken_ms <= at)
            .cloned()
            .ok_or_else(|| unavailable(name))?;
        // The source's key now (its log) and the base's key then, both as the caller.
        let live = source.engine(keys)?;
        source.confirm_key(&live, keys)?;
        let base = open_engine_in(
            &self.pitr_dir(&chosen.id),
            &source.record,
            chosen.sse.as_ref(),
            keys,
            self.options.clone(),
        )
        .map_err(OpenFailure::into_error)?;
        // Changes made before now are all in the log once the numbers handed out so far have landed.
        let handed_out = source.shared.streams.next_seq();
        let restore = RestoreInfo {
            source_backup_arn: None,
            source_table_arn: source.record.arn(),
            restore_ms: at,
            in_progress: true,
        };
        let log_of = source.clone();
        let fill: Fill = Box::new(move |table: &Table, engine: &Engine, progress: &dyn Fn(u64)| {
            let copied = table.load_from(engine, &base, progress)?;
            while log_of.shared.streams.watermark() < handed_out {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let replayed = table.replay_log(engine, &live, chosen.first_seq, at)?;
            Ok(copied + replayed)
        });
        let record = source.record.clone();
        self.restore_into(target, &record, overrides, restore, keys, fill, progress)
    }
}

impl Table {
    /// Applies to this table (being restored) the changes `source`'s log holds from `first_seq` on made no
    /// later than `at_ms`, in order; returns how many.
    fn replay_log(&self, engine: &Engine, source: &Engine, first_seq: u64, at_ms: i64) -> Result<u64, DynamoError> {
        const CHUNK: usize = 512;
        let Some(log) = source.structure(LOG) else {
            return Ok(0);
        };
        let base = Table::base(engine)?;
        let schema = &self.record.spec.schema;
        let mut from = first_seq.to_be_bytes().to_vec();
        let mut inclusive = true;
        let mut replayed = 0;
        loop {
            let range = storage::Range {
                start: if inclusive {
                    std::ops::Bound::Included(from.as_slice())
                } else {
                    std::ops::Bound::Excluded(from.as_slice())
                },
                end: std::ops::Bound::Unbounded,
                reverse: false,
                limit: CHUNK,
            };
            let page = source.range(log, &range, None).map_err(storage_error)?;
            let exhausted = page.len() < CHUNK;
            let mut batch = WriteBatch::new();
            // Items this batch already changes, as they will be once it is written.
            let mut pending: HashMap<Vec<u8>, Option<Item>> = HashMap::new();
            let mut finished = exhausted;
            let mut derived = super::Derived::default();
            let mut written = Vec::new();
            for (k, raw) in &page {
                let record = ChangeRecord::decode(raw)?;
                if record.created_ms > at_ms {
                    finished = true;
                    break;
                }
                let key = schema.key_of(&record.keys)?;
                let old = match pending.get(&key) {
                    Some(item) => item.clone(),
                    None => read_item_for_update(engine, base, &key)?,
                };
                let new = record.new;
                match &new {
                    Some(item) => batch.put(base, &key, &encode_item(item)),
                    None => batch.delete(base, &key),
                };
                let w = Written { old, new };
                derived.extend(self.derive(engine, &mut batch, &key, &w, Cause::Request)?);
                pending.insert(key, w.new.clone());
                written.push(w);
                replayed += 1;
                from = k.clone();
                inclusive = false;
            }
            let written: Vec<&Written> = written.iter().collect();
            commit_blocking(&self.shared, engine, batch, &written, &derived)?;
            if finished {
                return Ok(replayed);
            }
        }
    }
}
