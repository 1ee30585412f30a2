//! On-demand backups and restores.
//!
//! A backup is a checkpoint of the table's engine (`dynamodb/backups/<id>/`): its files as they are, sealed
//! under their data keys, and its key registry — so it stays under the table key, and the KMS key, the table
//! had when it was taken, whatever the table does later. Deleting the backup deletes that registry
//! (crypto-shredding). A restore opens the backup's engine (its table key decrypted as the caller: the KMS
//! key must be usable), creates the target table under its own new table key and writes the items into it,
//! index entries derived again: the data ends up under the target's hierarchy only.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use storage::{Engine, WriteBatch};

use super::{
    commit_blocking, now_ms, open_engine_in, storage_error, Cause, Derived, KeyChoice, OpenFailure, Table, TableRecord,
    Tables, Written, BASE,
};
use crate::attr::{decode_item, encode_item, Item};
use crate::table::Billing;
use crate::DynamoError;

/// A backup: where its files are, and the table as it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupRecord {
    pub arn: String,
    pub name: String,
    /// The name of its directory.
    pub backup_id: String,
    pub created_ms: i64,
    pub size_bytes: u64,
    pub item_count: u64,
    /// The table's definition when the backup was taken (its key included).
    pub table: TableRecord,
    /// Made by DynamoDB itself (an archival backup), not by a user.
    #[serde(default)]
    pub system: bool,
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct BackupDoc {
    backups: Vec<BackupRecord>,
}

/// A table being filled from a backup (or a point in time): DescribeTable's RestoreSummary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreInfo {
    pub source_backup_arn: Option<String>,
    pub source_table_arn: String,
    pub restore_ms: i64,
    pub in_progress: bool,
}

/// What fills a table being restored: the table, its engine and a progress callback (items so far).
pub(super) type Fill = Box<dyn FnOnce(&Table, &Engine, &dyn Fn(u64)) -> Result<u64, DynamoError> + Send>;

/// What RestoreTableFromBackup may change of the table it restores.
#[derive(Debug, Default)]
pub struct RestoreOverrides {
    pub billing: Option<Billing>,
    /// The global indexes to keep (by name), when given.
    pub global_indexes: Option<Vec<String>>,
    pub local_indexes: Option<Vec<String>>,
    pub key: Option<KeyChoice>,
}

/// A backup's directory name: its creation time (14 digits of epoch ms) and 8 random hex digits, as in
/// DynamoDB's backup ARNs.
fn new_backup_id(created_ms: i64) -> Result<String, DynamoError> {
    Ok(format!("{created_ms:014}-{}", super::random_hex8()?))
}

fn backup_not_found(arn: &str) -> DynamoError {
    DynamoError::Named("BackupNotFoundException", format!("Backup not found: {arn}"))
}

impl Tables {
    /// A table the backup and recovery operations name: a missing one is TableNotFoundException there.
    pub fn table_for_backup(&self, account: &str, region: &str, name: &str) -> Result<Arc<Table>, DynamoError> {
        self.get(account, region, name)
            .map_err(|_| DynamoError::Named("TableNotFoundException", format!("Table not found: {name}")))
    }

    /// Refuses a restore into a name already taken.
    pub(super) fn target_free(&self, account: &str, region: &str, target: &str) -> Result<(), DynamoError> {
        match self.get(account, region, target) {
            Ok(_) => Err(DynamoError::Named(
                "TableAlreadyExistsException",
                format!("Table already exists: {target}"),
            )),
            Err(_) => Ok(()),
        }
    }

    fn backup_dir(&self, id: &str) -> PathBuf {
        self.dir.join("backups").join(id)
    }

    fn backup_doc(&self) -> base::SealedStore<BackupDoc> {
        base::SealedStore::new(
            self.dir.join("backups.sealed"),
            "strongroom/dynamodb/backups/v1",
            self.root.clone(),
        )
    }

    fn load_backups(&self) -> Result<BackupDoc, DynamoError> {
        Ok(self
            .backup_doc()
            .load()
            .map_err(|e| DynamoError::Storage(e.to_string()))?
            .unwrap_or_default())
    }

    /// CreateBackup: a consistent copy of the table as it is now; writes go on meanwhile. The caller's use
    /// of the table's KMS key is confirmed first, whatever the table-key cache says.
    pub async fn create_backup(
        &self,
        account: &str,
        region: &str,
        name: &str,
        backup_name: &str,
        keys: &dyn super::KeyService,
    ) -> Result<BackupRecord, DynamoError> {
        let table = self.table_for_backup(account, region, name)?;
        let engine = table.engine(keys)?;
        table.confirm_key(&engine, keys)?;
        let created_ms = now_ms();
        let backup_id = new_backup_id(created_ms)?;
        let dir = self.backup_dir(&backup_id);
        let sse = table.checkpoint_under_key(&engine, &dir)?;
        let (item_count, size_bytes) = table.usage();
        let record = BackupRecord {
            arn: format!("{}/backup/{backup_id}", table.record.arn()),
            name: backup_name.to_owned(),
            backup_id,
            created_ms,
            size_bytes,
            item_count,
            table: TableRecord {
                sse,
                ..table.record.clone()
            },
            system: false,
        };
        self.add_backup(record, &dir)
    }

    fn add_backup(&self, record: BackupRecord, dir: &std::path::Path) -> Result<BackupRecord, DynamoError> {
        let _c = self.backup_changes.lock().unwrap_or_else(|p| p.into_inner());
        let mut doc = self.load_backups()?;
        doc.backups.push(record.clone());
        if let Err(e) = self.backup_doc().save(&doc) {
            let _ = std::fs::remove_dir_all(dir);
            return Err(DynamoError::Storage(e.to_string()));
        }
        Ok(record)
    }

    /// Archives every table whose KMS key has been unusable for longer than `after` (DynamoDB: seven
    /// days): its sealed files become a system backup as they are (nothing needs decrypting, nothing is
    /// decrypted), its own files go, and it shows ARCHIVED until it is restored from that backup.
    pub fn archive_inaccessible(&self, after: std::time::Duration) -> usize {
        let mut archived = 0;
        let now = now_ms();
        for t in self.all() {
            let since = match t.inaccessible_since_ms() {
                Some(s) if t.record.archived.is_none() && now - s >= after.as_millis() as i64 => s,
                _ => continue,
            };
            match self.archive(&t, now) {
                Ok(()) => archived += 1,
                Err(e) => tracing::warn!(table = %t.record.spec.name, since, error = %e, "archiving a table failed"),
            }
        }
        archived
    }

    fn archive(&self, t: &Table, now: i64) -> Result<(), DynamoError> {
        let backup_id = new_backup_id(now)?;
        let dir = self.backup_dir(&backup_id);
        // Closed first, so the files are still while they are copied.
        *t.shared.engine.lock().unwrap_or_else(|p| p.into_inner()) = None;
        copy_dir(&t.shared.dir, &dir).map_err(|e| DynamoError::Storage(e.to_string()))?;
        let (item_count, size_bytes) = t.usage();
        let record = BackupRecord {
            arn: format!("{}/backup/{backup_id}", t.record.arn()),
            name: format!("{}$ArchivalBackup", t.record.spec.name),
            backup_id,
            created_ms: now,
            size_bytes,
            item_count,
            table: t.record.clone(),
            system: true,
        };
        let backup = self.add_backup(record, &dir)?;
        let r = &t.record;
        self.update(&r.account, &r.region, &r.spec.name, |r| {
            r.archived = Some(super::ArchiveInfo {
                at_ms: now,
                backup_arn: backup.arn.clone(),
            });
            Ok(())
        })?;
        std::fs::remove_dir_all(&t.shared.dir).map_err(|e| DynamoError::Storage(e.to_string()))
    }

    /// The backups of an account and region, oldest first.
    pub fn backups(&self, account: &str, region: &str) -> Result<Vec<BackupRecord>, DynamoError> {
        let mut list: Vec<BackupRecord> = self
            .load_backups()?
            .backups
            .into_iter()
            .filter(|b| b.table.account == account && b.table.region == region)
            .collect();
        list.sort_by(|a, b| (a.created_ms, &a.arn).cmp(&(b.created_ms, &b.arn)));
        Ok(list)
    }

    pub fn backup(&self, account: &str, region: &str, arn: &str) -> Result<BackupRecord, DynamoError> {
        self.backups(account, region)?
            .into_iter()
            .find(|b| b.arn == arn)
            .ok_or_else(|| backup_not_found(arn))
    }

    /// DeleteBackup: the record and the files go, the backup's key registry with them.
    pub fn delete_backup(&self, account: &str, region: &str, arn: &str) -> Result<BackupRecord, DynamoError> {
        let _c = self.backup_changes.lock().unwrap_or_else(|p| p.into_inner());
        let mut doc = self.load_backups()?;
        let at = doc
            .backups
            .iter()
            .position(|b| b.arn == arn && b.table.account == account && b.table.region == region)
            .ok_or_else(|| backup_not_found(arn))?;
        let gone = doc.backups.remove(at);
        self.backup_doc()
            .save(&doc)
            .map_err(|e| DynamoError::Storage(e.to_string()))?;
        std::fs::remove_dir_all(self.backup_dir(&gone.backup_id)).map_err(|e| DynamoError::Storage(e.to_string()))?;
        Ok(gone)
    }

    /// RestoreTableFromBackup: the target table is created (CREATING, restore in progress) and filled in
    /// the background; `progress` hears how many items are in so far.
    pub fn restore_from_backup(
        self: &Arc<Self>,
        target: &str,
        backup: &BackupRecord,
        overrides: RestoreOverrides,
        keys: &dyn super::KeyService,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<TableRecord, DynamoError> {
        let source = &backup.table;
        self.target_free(&source.account, &source.region, target)?;
        // The backup's table key, decrypted as the caller under the key the table had then.
        let from = open_engine_in(
            &self.backup_dir(&backup.backup_id),
            source,
            source.sse.as_ref(),
            keys,
            self.options.clone(),
        )
        .map_err(OpenFailure::into_error)?;
        let restore = RestoreInfo {
            source_backup_arn: Some(backup.arn.clone()),
            source_table_arn: source.arn(),
            restore_ms: backup.created_ms,
            in_progress: true,
        };
        let fill: Fill = Box::new(move |table: &Table, engine: &Engine, progress: &dyn Fn(u64)| {
            table.load_from(engine, &from, progress)
        });
        self.restore_into(target, source, overrides, restore, keys, fill, progress)
    }

    /// Creates `target` from `source`'s definition (with `overrides`) and has `fill` write its items in
    /// the background.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn restore_into(
        self: &Arc<Self>,
        target: &str,
        source: &TableRecord,
        overrides: RestoreOverrides,
        restore: RestoreInfo,
        keys: &dyn super::KeyService,
        fill: Fill,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<TableRecord, DynamoError> {
        let mut spec = source.spec.clone();
        spec.name = target.to_owned();
        spec.table_class = "STANDARD".into();
        if let Some(b) = overrides.billing {
            spec.billing = b;
        }
        for (kept, indexes) in [
            (&overrides.global_indexes, &mut spec.global_indexes),
            (&overrides.local_indexes, &mut spec.local_indexes),
        ] {
            if let Some(names) = kept {
                if let Some(unknown) = names.iter().find(|n| !indexes.iter().any(|i| &i.name == *n)) {
                    return Err(DynamoError::Validation(format!(
                        "Invalid Request: Index {unknown} does not match a secondary index that existed in the source table and cannot be created during the restore operation"
                    )));
                }
                indexes.retain(|i| names.contains(&i.name));
            }
        }
        for g in &mut spec.global_indexes {
            g.backfilling = false;
            if spec.billing == Billing::PayPerRequest {
                g.throughput = None;
            }
        }
        let choice = overrides.key.unwrap_or_else(|| match &source.sse {
            None => KeyChoice::Owned,
            Some(s) if s.kind == super::SseKind::Managed => KeyChoice::Managed,
            Some(s) => KeyChoice::Customer(s.key_arn.clone()),
        });
        let table_id = base::random::uuid_v4().map_err(|e| DynamoError::Storage(e.to_string()))?;
        let created = self.create(&source.account, &source.region, spec, table_id, now_ms(), &choice, keys)?;
        let record = self.update(&source.account, &source.region, target, |r| {
            r.restore = Some(restore);
            Ok(())
        })?;
        let table = self.get(&source.account, &source.region, target)?;
        let engine = created.engine_if_open()?;
        let tables = self.clone();
        let (account, region, name) = (source.account.clone(), source.region.clone(), target.to_owned());
        let spawned = std::thread::Builder::new()
            .name("dynamodb-restore".into())
            .spawn(move || {
                let copied = fill(&table, &engine, &*progress);
                let finished = tables.update(&account, &region, &name, |r| {
                    if let Some(info) = r.restore.as_mut() {
                        info.in_progress = false;
                    }
                    Ok(())
                });
                if let Err(e) = copied.and(finished.map(|_| ())) {
                    tracing::error!(table = %name, error = %e, "restoring a table failed");
                }
            });
        spawned.map_err(|e| DynamoError::Storage(e.to_string()))?;
        Ok(record)
    }

    /// Tables whose restore a stop interrupted hold part of their items: they are removed at start.
    pub fn drop_interrupted_restores(&self, keys: &dyn super::KeyService) {
        for t in self.all() {
            if t.record.restore.as_ref().is_some_and(|r| r.in_progress) {
                tracing::warn!(table = %t.record.spec.name, "a restore was interrupted; the partial table is removed");
                let r = &t.record;
                if let Err(e) = self.delete(&r.account, &r.region, &r.spec.name, keys) {
                    tracing::warn!(error = %e, "removing an interrupted restore failed");
                }
            }
        }
    }
}

impl Table {
    /// The engine of a table just created (open, no key service needed).
    fn engine_if_open(&self) -> Result<Arc<Engine>, DynamoError> {
        self.shared
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| DynamoError::Storage("the table's engine is not open".into()))
    }

    /// Writes every item of `from`'s table into this (new, not yet readable) table, with their index
    /// entries, in batches.
    pub(super) fn load_from(&self, engine: &Engine, from: &Engine, progress: &dyn Fn(u64)) -> Result<u64, DynamoError> {
        const CHUNK: usize = 512;
        let Some(source) = from.structure(BASE) else {
            return Ok(0);
        };
        let base = Table::base(engine)?;
        let schema = &self.record.spec.schema;
        let mut after: Option<Vec<u8>> = None;
        let mut loaded = 0u64;
        loop {
            let range = storage::Range {
                start: after
                    .as_deref()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
                end: std::ops::Bound::Unbounded,
                reverse: false,
                limit: CHUNK,
            };
            let page = from.range(source, &range, None).map_err(storage_error)?;
            let done = page.len() < CHUNK;
            let mut batch = WriteBatch::new();
            let mut derived = Derived::default();
            let mut written = Vec::with_capacity(page.len());
            for (_, raw) in &page {
                let item: Item = decode_item(raw)?;
                let key = schema.item_key(&item)?;
                batch.put(base, &key, &encode_item(&item));
                let w = Written {
                    old: None,
                    new: Some(item),
                };
                derived.extend(self.derive(engine, &mut batch, &key, &w, Cause::Request)?);
                written.push(w);
            }
            let written: Vec<&Written> = written.iter().collect();
            commit_blocking(&self.shared, engine, batch, &written, &derived)?;
            loaded += page.len() as u64;
            progress(loaded);
            after = page.last().map(|(k, _)| k.clone());
            if done {
                return Ok(loaded);
            }
        }
    }
}

/// Copies a directory tree (files as they are).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    std::fs::File::open(to)?.sync_all()
}
