//! TransactWriteItems over any tables: all of it or none of it, across a crash too.
//!
//! Every item is marked as in a transaction (a second transaction or a single-item write touching it
//! meanwhile is refused with a conflict, as DynamoDB refuses it), locked in one global order (table id,
//! then lock stripe), and every condition checked. A transaction within one table is then one atomic
//! batch of its engine. Across tables it goes through the durable transaction log (design.md section 5):
//!
//! 1. each table records an *intent* — the writes it must make — in its own `txn` structure, so the
//!    intent is sealed under that table's key hierarchy like its items;
//! 2. a *commit record* naming the tables is written (sealed under the server's root key; it holds no
//!    item data): this is the moment the transaction happens;
//! 3. each table applies its writes and deletes its intent in one atomic batch;
//! 4. the commit record is removed.
//!
//! After a crash a table's engine, when it opens, applies the intents whose commit record exists and
//! drops the others; the background pass ([`Tables::finish_transactions`]) opens every table a commit
//! record names, then removes the record.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use base::SealedStore;
use serde::{Deserialize, Serialize};
use storage::{Engine, WriteBatch};

use super::{
    blocking, commit, read_item_for_update, storage_error, stripe_of, Cause, Derived, Table, Tables, TxAction, TxOp,
    Written, BASE, MAX_ITEM_BYTES,
};
use crate::attr::{decode_item, encode_item, item_size, Item};
use crate::{CancellationReason, DynamoError};

/// The structure holding a table's transaction intents.
const TXN: &str = "txn";

/// What all the items of one transaction may add up to.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// The commit record of a transaction across tables: the table ids whose intents it commits.
#[derive(Serialize, Deserialize)]
struct CommitRecord {
    tables: Vec<String>,
}

/// A test hook for crash runs: `STRONGROOM_TEST_CRASH_POINT` names a point of a multi-step change (a
/// transaction across tables, a key switch) at which the process aborts, as a power cut would stop it.
pub(super) fn crash_point(name: &str) {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    if POINT
        .get_or_init(|| std::env::var("STRONGROOM_TEST_CRASH_POINT").ok())
        .as_deref()
        == Some(name)
    {
        std::process::abort();
    }
}

/// The items every running transaction writes, per table: what makes concurrent work conflict.
#[derive(Default)]
pub(super) struct Ongoing(Mutex<HashSet<Vec<u8>>>);

impl Ongoing {
    pub(super) fn contains(&self, key: &[u8]) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }
}

/// Marks of one transaction, removed when it ends however it ends.
struct Marks<'a> {
    marked: Vec<(&'a Table, Vec<u8>)>,
}

impl Drop for Marks<'_> {
    fn drop(&mut self) {
        for (table, key) in &self.marked {
            table
                .shared
                .ongoing
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
        }
    }
}

/// Marks every item; the actions whose items another transaction holds are returned instead.
fn mark<'a>(items: &[(&'a Table, &Vec<u8>)]) -> Result<Marks<'a>, Vec<usize>> {
    let mut marks = Marks { marked: Vec::new() };
    let mut conflicts = Vec::new();
    for (i, (table, key)) in items.iter().enumerate() {
        let mut ongoing = table.shared.ongoing.0.lock().unwrap_or_else(|p| p.into_inner());
        if ongoing.insert((*key).clone()) {
            marks.marked.push((table, (*key).clone()));
        } else {
            conflicts.push(i);
        }
    }
    if conflicts.is_empty() {
        Ok(marks)
    } else {
        Err(conflicts)
    }
}

/// A cancellation with `TransactionConflict` for the actions in `conflicts` and `None` for the others.
pub(super) fn conflict(actions: usize, conflicts: &[usize]) -> DynamoError {
    DynamoError::TransactionCanceled(
        (0..actions)
            .map(|i| {
                if conflicts.contains(&i) {
                    CancellationReason {
                        code: "TransactionConflict".into(),
                        message: Some("Transaction is ongoing for the item".into()),
                        item: None,
                    }
                } else {
                    none()
                }
            })
            .collect(),
    )
}

fn none() -> CancellationReason {
    CancellationReason {
        code: "None".into(),
        message: None,
        item: None,
    }
}

fn reason(code: &str, message: String, item: Option<Item>) -> CancellationReason {
    CancellationReason {
        code: code.into(),
        message: Some(message),
        item,
    }
}

/// Locks the item stripes of `items` in the one global order (table id, stripe).
pub(super) async fn lock_all<'a>(items: &[(&'a Table, &[u8])]) -> Vec<tokio::sync::MutexGuard<'a, ()>> {
    let mut order: Vec<(&str, usize, &Table)> = items
        .iter()
        .map(|(t, k)| (t.record.table_id.as_str(), stripe_of(k), *t))
        .collect();
    order.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    order.dedup_by(|a, b| (a.0, a.1) == (b.0, b.1));
    let mut guards = Vec::with_capacity(order.len());
    for (_, stripe, table) in order {
        guards.push(table.shared.item_locks[stripe].lock().await);
    }
    guards
}

/// What one action does to its item, checked: the item before and after, or why the transaction stops.
fn decide(table: &Table, engine: &Engine, action: &TxAction, key: &[u8]) -> Result<Written, CancellationReason> {
    let storage = |e: DynamoError| reason("InternalError", e.to_string(), None);
    let base = Table::base(engine).map_err(storage)?;
    let old = read_item_for_update(engine, base, key).map_err(storage)?;
    if !crate::expr::eval::holds(action.condition.as_ref(), old.as_ref()) {
        let item = if action.old_on_failure { old } else { None };
        return Err(reason(
            "ConditionalCheckFailed",
            "The conditional request failed".into(),
            item,
        ));
    }
    let new = match &action.op {
        TxOp::Put(item) => Some(item.clone()),
        TxOp::Delete => None,
        TxOp::ConditionCheck => old.clone(),
        TxOp::Update(u) => Some(
            crate::expr::update::updated(u.as_ref(), old.as_ref(), &action.key)
                .map_err(|e| reason("ValidationError", e.to_string(), None))?,
        ),
    };
    if let Some(item) = &new {
        if item_size(item) > MAX_ITEM_BYTES {
            return Err(reason(
                "ValidationError",
                "Item size has exceeded the maximum allowed size".into(),
                None,
            ));
        }
        crate::index::check_all(&table.shared.indexes(), item)
            .map_err(|e| reason("ValidationError", e.to_string(), None))?;
    }
    Ok(Written { old, new })
}

/// One table's part of a transaction: its writes (storage key, item after) in request order.
struct Part<'a> {
    table: &'a Table,
    engine: Arc<Engine>,
    writes: Vec<(&'a [u8], &'a Written)>,
}

impl Tables {
    /// TransactWriteItems: `actions` (each with its table) in request order. Answers with the item before
    /// and after each action, or a cancellation with a reason per action.
    pub async fn transact_write(
        &self,
        actions: &[(Arc<Table>, TxAction)],
        keys: &dyn super::KeyService,
    ) -> Result<Vec<Written>, DynamoError> {
        let mut engines: BTreeMap<&str, Arc<Engine>> = BTreeMap::new();
        let mut storage_keys = Vec::with_capacity(actions.len());
        let mut bytes = 0;
        for (table, action) in actions {
            storage_keys.push(table.record.spec.schema.key_of(&action.key)?);
            if !engines.contains_key(table.record.table_id.as_str()) {
                engines.insert(&table.record.table_id, table.engine(keys)?);
            }
            bytes += match &action.op {
                TxOp::Put(item) => item_size(item),
                _ => 0,
            };
        }
        if bytes > MAX_TRANSACTION_BYTES {
            return Err(DynamoError::Validation(
                "Transaction size has exceeded the maximum allowed size of 4 MB".into(),
            ));
        }
        let items: Vec<(&Table, &Vec<u8>)> = actions.iter().map(|(t, _)| &**t).zip(&storage_keys).collect();
        let _marks = mark(&items).map_err(|conflicts| conflict(actions.len(), &conflicts))?;
        let locked: Vec<(&Table, &[u8])> = items.iter().map(|(t, k)| (*t, k.as_slice())).collect();
        let guards = lock_all(&locked).await;

        let mut reasons = Vec::with_capacity(actions.len());
        let mut written = Vec::with_capacity(actions.len());
        for ((table, action), key) in actions.iter().zip(&storage_keys) {
            let engine = &engines[table.record.table_id.as_str()];
            match decide(table, engine, action, key) {
                Ok(w) => {
                    reasons.push(none());
                    written.push(w);
                }
                Err(r) => {
                    reasons.push(r);
                    written.push(Written::default());
                }
            }
        }
        if reasons.iter().any(|r| r.code != "None") {
            return Err(DynamoError::TransactionCanceled(reasons));
        }

        let mut parts: BTreeMap<&str, Part<'_>> = BTreeMap::new();
        for (((table, action), key), w) in actions.iter().zip(&storage_keys).zip(&written) {
            if matches!(action.op, TxOp::ConditionCheck) {
                continue;
            }
            let id = table.record.table_id.as_str();
            parts
                .entry(id)
                .or_insert_with(|| Part {
                    table,
                    engine: engines[id].clone(),
                    writes: Vec::new(),
                })
                .writes
                .push((key.as_slice(), w));
        }
        let parts: Vec<Part<'_>> = parts.into_values().collect();
        match parts.as_slice() {
            [] => {}
            [one] => apply(one, None).await?,
            many => self.commit_across(many).await?,
        }
        drop(guards);
        Ok(written)
    }

    /// The durable transaction log's path for a transaction over several tables (steps 1-4 above).
    async fn commit_across(&self, parts: &[Part<'_>]) -> Result<(), DynamoError> {
        let txn_id = base::random::uuid_v4().map_err(|e| DynamoError::Storage(e.to_string()))?;
        let record = self.commit_record(&txn_id);
        self.active_txns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(txn_id.clone());
        let result = async {
            for part in parts {
                let structure = part.engine.create_structure(TXN).map_err(storage_error)?;
                let writes: Vec<(&[u8], Option<&Item>)> =
                    part.writes.iter().map(|(k, w)| (*k, w.new.as_ref())).collect();
                let mut batch = WriteBatch::new();
                batch.put(structure, txn_id.as_bytes(), &encode_intent(&writes));
                commit(&part.table.shared, &part.engine, batch, &[], Derived::default()).await?;
            }
            crash_point("after-intents");
            let tables = parts.iter().map(|p| p.table.record.table_id.clone()).collect();
            blocking(|| record.save(&CommitRecord { tables })).map_err(|e| DynamoError::Storage(e.to_string()))?;
            Ok::<(), DynamoError>(())
        }
        .await;
        if let Err(e) = result {
            // Not committed: the intents go (whatever is left is dropped when the engines next open).
            for part in parts {
                if let Some(structure) = part.engine.structure(TXN) {
                    let mut batch = WriteBatch::new();
                    batch.delete(structure, txn_id.as_bytes());
                    let _ = commit(&part.table.shared, &part.engine, batch, &[], Derived::default()).await;
                }
            }
            self.active_txns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&txn_id);
            return Err(e);
        }
        crash_point("after-commit-record");
        let mut applied = Ok(());
        for (i, part) in parts.iter().enumerate() {
            if i == 1 {
                crash_point("after-first-apply");
            }
            applied = apply(part, Some(&txn_id)).await;
            if applied.is_err() {
                break;
            }
        }
        // Once every part is applied the record goes; if one failed, the background pass finishes it.
        if applied.is_ok() {
            if let Err(e) = std::fs::remove_file(record.path()) {
                tracing::warn!(error = %e, "removing a finished transaction's commit record failed");
            }
        }
        self.active_txns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&txn_id);
        applied
    }

    fn commit_record(&self, txn_id: &str) -> SealedStore<CommitRecord> {
        SealedStore::new(
            self.dir.join("txns").join(format!("{txn_id}.sealed")),
            "strongroom/dynamodb/txn/v1",
            self.root.clone(),
        )
    }

    /// Finishes the transactions a crash or a failure left committed but not applied everywhere: every
    /// table named by a commit record is opened (which applies its intent) and the record removed.
    /// Returns how many were finished.
    pub async fn finish_transactions(&self, keys: &dyn super::KeyService) -> usize {
        let Ok(entries) = std::fs::read_dir(self.dir.join("txns")) else {
            return 0;
        };
        let mut finished = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(txn_id) = name.strip_suffix(".sealed") else {
                continue;
            };
            if self
                .active_txns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(txn_id)
            {
                continue;
            }
            let record = self.commit_record(txn_id);
            let tables = match record.load() {
                Ok(Some(r)) => r.tables,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "a transaction's commit record does not open");
                    continue;
                }
            };
            let mut done = true;
            for id in tables {
                let Some(table) = self.all().into_iter().find(|t| t.record.table_id == id) else {
                    continue; // Deleted since.
                };
                let applied = async {
                    let engine = table.engine(keys)?;
                    table.finish_intent(&engine, txn_id).await
                }
                .await;
                if let Err(e) = applied {
                    tracing::warn!(table = %table.record.spec.name, error = %e, "finishing a committed transaction failed");
                    done = false;
                }
            }
            if done && std::fs::remove_file(record.path()).is_ok() {
                finished += 1;
            }
        }
        finished
    }
}

/// Makes one table's part durable: its writes, their index entries and (across tables) the removal of
/// its intent, in one batch.
async fn apply(part: &Part<'_>, txn_id: Option<&str>) -> Result<(), DynamoError> {
    let table = part.table;
    let base = Table::base(&part.engine)?;
    let mut batch = WriteBatch::new();
    let mut derived = Derived::default();
    for (key, w) in &part.writes {
        match &w.new {
            Some(item) => batch.put(base, key, &encode_item(item)),
            None => batch.delete(base, key),
        };
        derived.extend(table.derive(&part.engine, &mut batch, key, w, Cause::Request)?);
    }
    if let (Some(id), Some(structure)) = (txn_id, part.engine.structure(TXN)) {
        batch.delete(structure, id.as_bytes());
    }
    let written: Vec<&Written> = part.writes.iter().map(|(_, w)| *w).collect();
    commit(&table.shared, &part.engine, batch, &written, derived).await
}

impl Table {
    /// At engine open, before anyone else can use it: applies the intents whose transaction committed
    /// and drops the others. (What it applies is counted by the usage count that follows the open.)
    pub(super) fn recover_intents(&self, engine: &Engine, txn_dir: &std::path::Path) -> Result<(), DynamoError> {
        let Some(structure) = engine.structure(TXN) else {
            return Ok(());
        };
        let intents = engine
            .range(structure, &storage::Range::all(), None)
            .map_err(storage_error)?;
        for (id, raw) in intents {
            let committed = std::str::from_utf8(&id)
                .map(|id| txn_dir.join(format!("{id}.sealed")).exists())
                .unwrap_or(false);
            let mut batch = WriteBatch::new();
            let derived = if committed {
                self.replay(engine, &raw, &mut batch)?
            } else {
                Derived::default()
            };
            batch.delete(structure, &id);
            let written = engine.write(batch).map_err(storage_error);
            self.shared.streams.settled(&derived.seqs);
            written?;
        }
        Ok(())
    }

    /// Applies the intent of transaction `txn_id` if this table still holds it (its engine was open when
    /// the transaction failed to finish), under the locks of its items.
    async fn finish_intent(&self, engine: &Engine, txn_id: &str) -> Result<(), DynamoError> {
        let Some(structure) = engine.structure(TXN) else {
            return Ok(());
        };
        let Some(raw) = engine.get(structure, txn_id.as_bytes(), None).map_err(storage_error)? else {
            return Ok(());
        };
        let writes = decode_intent(&raw)?;
        let locked: Vec<(&Table, &[u8])> = writes.iter().map(|(k, _)| (self, k.as_slice())).collect();
        let _guards = lock_all(&locked).await;
        let mut batch = WriteBatch::new();
        let derived = self.replay(engine, &raw, &mut batch)?;
        batch.delete(structure, txn_id.as_bytes());
        commit(&self.shared, engine, batch, &[], derived).await
    }

    /// Adds an intent's writes, with their index entries and stream records, to `batch`.
    fn replay(&self, engine: &Engine, raw: &[u8], batch: &mut WriteBatch) -> Result<Derived, DynamoError> {
        let base = engine
            .structure(BASE)
            .ok_or_else(|| DynamoError::Storage("the table has no base structure".into()))?;
        let mut derived = Derived::default();
        for (key, new) in decode_intent(raw)? {
            let old = read_item_for_update(engine, base, &key)?;
            match &new {
                Some(item) => batch.put(base, &key, &encode_item(item)),
                None => batch.delete(base, &key),
            };
            derived.extend(self.derive(engine, batch, &key, &Written { old, new }, Cause::Request)?);
        }
        Ok(derived)
    }
}

/// An intent: for each write, the storage key's length (u32, big-endian) and bytes, then 0 (delete) or 1
/// and the encoded item's length and bytes.
fn encode_intent(writes: &[(&[u8], Option<&Item>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, item) in writes {
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        match item {
            None => out.push(0),
            Some(item) => {
                let encoded = encode_item(item);
                out.push(1);
                out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
                out.extend_from_slice(&encoded);
            }
        }
    }
    out
}

/// A write an intent holds: the storage key and the item after (none: deleted).
type IntentWrite = (Vec<u8>, Option<Item>);

fn decode_intent(mut bytes: &[u8]) -> Result<Vec<IntentWrite>, DynamoError> {
    let corrupt = || DynamoError::Corrupt("a transaction intent does not decode".into());
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Some(head)
    }
    fn length(bytes: &mut &[u8]) -> Option<usize> {
        let b = take(bytes, 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let n = length(&mut bytes).ok_or_else(corrupt)?;
        let key = take(&mut bytes, n).ok_or_else(corrupt)?.to_vec();
        let item = match take(&mut bytes, 1).ok_or_else(corrupt)? {
            [0] => None,
            [1] => {
                let n = length(&mut bytes).ok_or_else(corrupt)?;
                Some(decode_item(take(&mut bytes, n).ok_or_else(corrupt)?)?)
            }
            _ => return Err(corrupt()),
        };
        out.push((key, item));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::AttributeValue;
    use proptest::prelude::*;

    proptest! {
        /// Intents decode to what was encoded, and no byte string makes the decoder panic.
        #[test]
        fn intents_round_trip(writes in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..20), proptest::option::of("[a-z]{0,8}")), 0..6), junk in proptest::collection::vec(any::<u8>(), 0..64)) {
            let items: Vec<IntentWrite> = writes
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(|v| Item::from([("a".to_string(), AttributeValue::S(v.clone()))]))))
                .collect();
            let refs: Vec<(&[u8], Option<&Item>)> = items.iter().map(|(k, i)| (k.as_slice(), i.as_ref())).collect();
            prop_assert_eq!(decode_intent(&encode_intent(&refs)).unwrap(), items);
            let _ = decode_intent(&junk);
        }
    }
}
