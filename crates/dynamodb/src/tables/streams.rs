//! A table's streams in its engine: enabling and disabling them, the record each change adds to the
//! change's own batch, reading records in sequence order, and trimming them after a day.
//!
//! Sequence numbers are handed out under the item lock, but batches become durable in their own order, so a
//! reader could see a later record before an earlier one lands. Every number handed out is therefore
//! *in flight* until its batch is written (or fails); readers stop below the smallest number in flight,
//! so a record once skipped past can never appear behind a reader.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use storage::{Engine, WriteBatch};

use super::{now_ms, storage_error, Cause, Table, TableRecord, Tables, Written};
use crate::stream::{label_at, ChangeRecord, StreamInfo, ViewType, RETENTION_MS};
use crate::DynamoError;

#[derive(Default)]
struct Inner {
    /// The enabled stream, if any.
    current: Option<Arc<StreamInfo>>,
    /// Whether point-in-time recovery keeps a change log (see `pitr.rs`).
    pitr: bool,
    /// Every stream the table has, enabled or not.
    all: Vec<StreamInfo>,
    next_seq: u64,
    in_flight: BTreeSet<u64>,
    /// Per stream label: the first sequence number not trimmed.
    horizons: HashMap<String, u64>,
}

pub(super) struct StreamState(Mutex<Inner>);

impl StreamState {
    pub(super) fn new(record: &TableRecord) -> StreamState {
        let state = StreamState(Mutex::new(Inner {
            next_seq: 1,
            ..Inner::default()
        }));
        state.follow(record);
        state
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the table's stream definitions from a new version of its record.
    pub(super) fn follow(&self, record: &TableRecord) {
        let mut inner = self.inner();
        inner.current = record.streams.last().filter(|s| s.enabled()).cloned().map(Arc::new);
        inner.all = record.streams.clone();
        inner.pitr = record.pitr.is_some();
    }

    /// When the engine opens: numbering continues after the last record of any stream.
    pub(super) fn open(&self, engine: &Engine) -> Result<(), DynamoError> {
        let mut inner = self.inner();
        let mut next = inner.next_seq;
        let mut horizons = HashMap::new();
        for s in &inner.all {
            next = next.max(s.starting_seq).max(s.ending_seq.map_or(0, |e| e + 1));
            let Some(structure) = engine.structure(&s.structure()) else {
                continue;
            };
            let edge = |reverse: bool| -> Result<Option<u64>, DynamoError> {
                let range = storage::Range {
                    reverse,
                    limit: 1,
                    ..storage::Range::all()
                };
                let found = engine.range(structure, &range, None).map_err(storage_error)?;
                Ok(found.first().and_then(|(k, _)| seq_of(k)))
            };
            if let Some(last) = edge(true)? {
                next = next.max(last + 1);
            }
            horizons.insert(
                s.label.clone(),
                edge(false)?.unwrap_or(s.starting_seq).max(s.starting_seq),
            );
        }
        inner.next_seq = next;
        inner.horizons = horizons;
        Ok(())
    }

    fn current(&self) -> (Option<Arc<StreamInfo>>, bool) {
        let inner = self.inner();
        (inner.current.clone(), inner.pitr)
    }

    pub(super) fn assign(&self) -> u64 {
        let mut inner = self.inner();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.in_flight.insert(seq);
        seq
    }

    /// The batch holding these sequence numbers is written (or failed): readers may pass them.
    pub(super) fn settled(&self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        let mut inner = self.inner();
        for s in seqs {
            inner.in_flight.remove(s);
        }
    }

    /// Every record below this number is where it will stay.
    pub(super) fn watermark(&self) -> u64 {
        let inner = self.inner();
        inner.in_flight.first().copied().unwrap_or(inner.next_seq)
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.inner().next_seq
    }

    fn horizon(&self, stream: &StreamInfo) -> u64 {
        self.inner()
            .horizons
            .get(&stream.label)
            .copied()
            .unwrap_or(stream.starting_seq)
    }
}

/// One past the last sequence number a shard holds: a closed shard's own end, or `open_end` while it is
/// open.
fn shard_end(stream: &StreamInfo, open_end: u64) -> u64 {
    match stream.ending_seq {
        Some(end) => end + 1,
        None if !stream.enabled() => stream.starting_seq,
        None => open_end,
    }
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// A page of one stream's records, from a position.
pub struct StreamPage {
    pub records: Vec<(u64, ChangeRecord)>,
    /// Where the next read starts.
    pub next: u64,
    /// Whether the shard is closed and read to its end (no next iterator).
    pub finished: bool,
}

/// Where a shard iterator points, from its type (`GetShardIterator`).
pub enum IteratorStart {
    TrimHorizon,
    Latest,
    At(u64),
    After(u64),
}

impl Table {
    /// Adds the records of an item's change to `batch`: in the enabled stream, if any, and in the
    /// point-in-time-recovery log, if kept (nothing when the item did not change). Returns their sequence
    /// numbers (in flight until the batch is written).
    pub(super) fn change_records(
        &self,
        engine: &Engine,
        batch: &mut WriteBatch,
        written: &Written,
        cause: Cause,
    ) -> Result<Vec<u64>, DynamoError> {
        let (stream, pitr) = self.shared.streams.current();
        let mut seqs = Vec::new();
        let Some(item) = written.new.as_ref().or(written.old.as_ref()) else {
            return Ok(seqs);
        };
        let targets = stream
            .map(|s| (s.structure(), s.view))
            .into_iter()
            .chain(pitr.then(|| (super::pitr::LOG.to_owned(), ViewType::NewImage)));
        for (name, view) in targets {
            let keys = self.record.spec.schema.key_attributes(item);
            let mut event_id = [0u8; 16];
            base::random::fill(&mut event_id).map_err(|e| DynamoError::Storage(e.to_string()))?;
            let Some(record) = ChangeRecord::of(
                view,
                keys,
                written.old.as_ref(),
                written.new.as_ref(),
                now_ms(),
                event_id,
                cause == Cause::Expiry,
            ) else {
                return Ok(seqs);
            };
            let structure = engine
                .structure(&name)
                .ok_or_else(|| DynamoError::Storage(format!("{name} has no structure")))?;
            let seq = self.shared.streams.assign();
            batch.put(structure, &seq.to_be_bytes(), &record.encode());
            seqs.push(seq);
        }
        Ok(seqs)
    }

    /// The stream called `label`, if the table has it.
    pub fn stream(&self, label: &str) -> Option<&StreamInfo> {
        self.record.streams.iter().find(|s| s.label == label)
    }

    /// Where an iterator of the given type starts; `TrimmedDataAccess` for a position already trimmed.
    pub fn stream_position(&self, stream: &StreamInfo, start: IteratorStart) -> Result<u64, DynamoError> {
        let at = match start {
            IteratorStart::TrimHorizon => return Ok(self.shared.streams.horizon(stream)),
            IteratorStart::Latest => return Ok(shard_end(stream, self.shared.streams.next_seq())),
            IteratorStart::At(s) => s,
            IteratorStart::After(s) => s.saturating_add(1),
        };
        self.untrimmed(stream, at)
    }

    /// `at`, unless the records there are trimmed already.
    fn untrimmed(&self, stream: &StreamInfo, at: u64) -> Result<u64, DynamoError> {
        if at < self.shared.streams.horizon(stream) {
            return Err(DynamoError::TrimmedDataAccess(
                "The operation attempted to read past the oldest stream record in a shard.".into(),
            ));
        }
        Ok(at)
    }

    /// Up to `limit` records (and about 1 MB) of a stream from position `from`.
    pub fn read_stream(
        &self,
        stream: &StreamInfo,
        from: u64,
        limit: usize,
        keys: &dyn super::KeyService,
    ) -> Result<StreamPage, DynamoError> {
        const PAGE_BYTES: u64 = 1024 * 1024;
        let from = self.untrimmed(stream, from)?;
        let engine = self.engine(keys)?;
        let end = shard_end(stream, self.shared.streams.watermark());
        let mut page = StreamPage {
            records: Vec::new(),
            next: from,
            finished: false,
        };
        if let (Some(structure), true) = (engine.structure(&stream.structure()), from < end) {
            let range = storage::Range {
                start: Bound::Included(&from.to_be_bytes()[..]),
                end: Bound::Excluded(&end.to_be_bytes()[..]),
                reverse: false,
                limit,
            };
            let mut bytes = 0;
            for (k, raw) in engine.range(structure, &range, None).map_err(storage_error)? {
                let Some(seq) = seq_of(&k) else {
                    continue;
                };
                let record = ChangeRecord::decode(&raw)?;
                bytes += record.size_bytes;
                page.next = seq + 1;
                page.records.push((seq, record));
                if bytes >= PAGE_BYTES {
                    break;
                }
            }
        }
        page.finished = !stream.enabled() && page.next >= end && page.records.len() < limit;
        Ok(page)
    }

    /// Deletes the records older than the retention from every stream; returns how many.
    fn trim_streams(&self, now_ms: i64, keys: &dyn super::KeyService) -> Result<usize, DynamoError> {
        let engine = self.engine(keys)?;
        let mut trimmed = 0;
        for stream in &self.record.streams {
            let Some(structure) = engine.structure(&stream.structure()) else {
                continue;
            };
            loop {
                let range = storage::Range {
                    limit: 256,
                    ..storage::Range::all()
                };
                let page = engine.range(structure, &range, None).map_err(storage_error)?;
                let mut batch = WriteBatch::new();
                let mut horizon = None;
                let mut done = page.len() < 256;
                for (k, raw) in &page {
                    if ChangeRecord::decode(raw)?.created_ms >= now_ms - RETENTION_MS {
                        done = true;
                        break;
                    }
                    batch.delete(structure, k);
                    horizon = seq_of(k).map(|s| s + 1);
                    trimmed += 1;
                }
                if let Some(h) = horizon {
                    engine.write(batch).map_err(storage_error)?;
                    let mut inner = self.shared.streams.inner();
                    let entry = inner.horizons.entry(stream.label.clone()).or_insert(h);
                    *entry = (*entry).max(h);
                }
                if done {
                    break;
                }
            }
        }
        Ok(trimmed)
    }
}

impl Tables {
    /// StreamSpecification with `StreamEnabled: true`: a new stream (new label, one open shard).
    pub fn enable_stream(
        &self,
        account: &str,
        region: &str,
        name: &str,
        view: ViewType,
        keys: &dyn super::KeyService,
    ) -> Result<TableRecord, DynamoError> {
        let table = self.get(account, region, name)?;
        if table.record.streams.last().is_some_and(StreamInfo::enabled) {
            return Err(DynamoError::Validation(format!(
                "Table already has an enabled stream: TableName: {name}"
            )));
        }
        let engine = table.engine(keys)?;
        let now = now_ms();
        let stream = StreamInfo {
            label: label_at(now),
            view,
            created_ms: now,
            shard_id: format!("shardId-{now:020}-{}", super::random_hex8()?),
            starting_seq: table.shared.streams.next_seq(),
            disabled_ms: None,
            ending_seq: None,
        };
        engine.create_structure(&stream.structure()).map_err(storage_error)?;
        self.update(account, region, name, |r| {
            r.streams.push(stream);
            Ok(())
        })
    }

    /// StreamSpecification with `StreamEnabled: false`: the stream's shard closes after every write that
    /// may still add to it is written; its records stay readable for a day.
    pub async fn disable_stream(&self, account: &str, region: &str, name: &str) -> Result<TableRecord, DynamoError> {
        let table = self.get(account, region, name)?;
        if !table.record.streams.last().is_some_and(StreamInfo::enabled) {
            return Err(DynamoError::Validation(format!(
                "Table has no stream to disable: TableName: {name}"
            )));
        }
        let now = now_ms();
        self.update(account, region, name, |r| {
            if let Some(s) = r.streams.last_mut() {
                s.disabled_ms = Some(now);
            }
            Ok(())
        })?;
        // Every write that read the stream as enabled holds an item lock until its batch is written.
        table.shared.drain_writes().await;
        let last = table.shared.streams.next_seq() - 1;
        self.update(account, region, name, |r| {
            if let Some(s) = r.streams.last_mut() {
                s.ending_seq = (last >= s.starting_seq).then_some(last);
            }
            Ok(())
        })
    }

    /// Trims every open table's streams to the retention and forgets streams disabled longer ago than
    /// that (their structures, records and data keys go). Returns how many records were trimmed.
    pub fn trim_streams(&self, now_ms: i64, keys: &dyn super::KeyService) -> usize {
        let mut trimmed = 0;
        for t in self.all() {
            if t.record.streams.is_empty() || !t.in_use() {
                continue;
            }
            match t.trim_streams(now_ms, keys) {
                Ok(n) => trimmed += n,
                Err(e) => tracing::warn!(table = %t.record.spec.name, error = %e, "trimming a stream failed"),
            }
            let expired: Vec<StreamInfo> = t
                .record
                .streams
                .iter()
                .filter(|s| s.disabled_ms.is_some_and(|d| d < now_ms - RETENTION_MS))
                .cloned()
                .collect();
            if expired.is_empty() {
                continue;
            }
            let r = &t.record;
            let dropped = self.update(&r.account, &r.region, &r.spec.name, |r| {
                r.streams.retain(|s| !expired.contains(s));
                Ok(())
            });
            if dropped.is_ok() {
                if let Ok(engine) = t.engine(keys) {
                    for s in &expired {
                        if let Err(e) = engine.drop_structure(&s.structure()) {
                            tracing::warn!(error = %e, "dropping an expired stream failed");
                        }
                    }
                }
            }
        }
        trimmed
    }
}
