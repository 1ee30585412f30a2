//! The tables of every account and region: their definitions (one document sealed under the server's root
//! key) and, per table, an encrypted storage engine whose table key comes from the [`KeyService`].
//!
//! Layout under the DynamoDB directory: `tables.sealed` (the definitions) and `tables/<table id>/` (one
//! engine each). Deleting a table deletes its directory, key registry included: crypto-shredding.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use base::{RootKey, SealedStore, SecretBytes};
use serde::{Deserialize, Serialize};
use storage::{Engine, Options, TableKeyProvider, WriteBatch};

use crate::attr::{decode_item, encode_item, item_size, Item};
use crate::key::KeyCondition;
use crate::table::TableSpec;
use crate::DynamoError;

/// The item size limit: 400 KB.
pub const MAX_ITEM_BYTES: usize = 409_600;

/// Whose table a key is for: the encryption context DynamoDB binds the table key to.
#[derive(Debug, Clone, Copy)]
pub struct TableKeyContext<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub table_name: &'a str,
}

/// How DynamoDB reaches KMS (design.md section 2): the server implements it over its own KMS, with the
/// service identity and the caller's authorization; tests may use a fake.
pub trait KeyService: Send + Sync {
    /// A new table key: its KMS ciphertext blob and its plaintext.
    fn generate_table_key(&self, ctx: TableKeyContext<'_>) -> Result<(Vec<u8>, SecretBytes), DynamoError>;
    /// The plaintext of a table key from its blob.
    fn decrypt_table_key(&self, ctx: TableKeyContext<'_>, blob: &[u8]) -> Result<SecretBytes, DynamoError>;
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableRecord {
    pub account: String,
    pub region: String,
    pub spec: TableSpec,
    /// A UUID; also the name of the table's directory.
    pub table_id: String,
    pub created_ms: i64,
    /// Resource tags, by key.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl TableRecord {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            self.region, self.account, self.spec.name
        )
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Doc {
    tables: Vec<TableRecord>,
}

type TableId = (String, String, String);

/// An open table: its definition and, once first used, its engine.
pub struct Table {
    pub record: TableRecord,
    /// Shared by every version of the table's definition (an UpdateTable makes a new `Table`).
    shared: Arc<Shared>,
}

/// Read-modify-write of one item holds one of these stripes, chosen by the item's storage key, so a
/// conditional write or an update sees no other write to its item between its read and its write.
const ITEM_LOCK_STRIPES: usize = 256;

struct Shared {
    engine: Mutex<Option<Arc<Engine>>>,
    dir: PathBuf,
    options: Options,
    item_locks: Vec<tokio::sync::Mutex<()>>,
    usage: Usage,
}

/// The table's item count and size (DescribeTable's ItemCount and TableSizeBytes). Kept in memory: every
/// write adds its difference, and when the engine opens a background count of what it already holds (at
/// the snapshot it opened with) is added once, so the sum is exact once that count is done.
#[derive(Default)]
struct Usage {
    items: AtomicI64,
    bytes: AtomicI64,
}

impl Usage {
    fn add(&self, items: i64, bytes: i64) {
        self.items.fetch_add(items, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Counts what the base structure holds at `snapshot`, adding it to the table's usage.
fn count_existing(engine: &Engine, base: u32, snapshot: &storage::Snapshot, usage: &Usage) -> Result<(), DynamoError> {
    let mut from: Option<Vec<u8>> = None;
    loop {
        let chunk = engine
            .range(
                base,
                &storage::Range {
                    start: from.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
                    end: Bound::Unbounded,
                    reverse: false,
                    limit: 1024,
                },
                Some(snapshot),
            )
            .map_err(storage_error)?;
        let done = chunk.len() < 1024;
        let (mut items, mut bytes) = (0, 0);
        for (k, raw) in chunk {
            items += 1;
            bytes += item_size(&decode_item(&raw)?) as i64;
            from = Some(k);
        }
        usage.add(items, bytes);
        if done {
            return Ok(());
        }
    }
}

impl Shared {
    fn new(engine: Option<Arc<Engine>>, dir: PathBuf, options: Options) -> Arc<Shared> {
        Arc::new(Shared {
            engine: Mutex::new(engine),
            dir,
            options,
            item_locks: (0..ITEM_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            usage: Usage::default(),
        })
    }

    /// Held from the read to the durable write (an async lock: a write waits for its group commit
    /// without holding a thread).
    async fn lock_item(&self, key: &[u8]) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let stripe = (h.finish() % ITEM_LOCK_STRIPES as u64) as usize;
        self.item_locks[stripe].lock().await
    }
}

/// What a read-modify-write does with the item it read.
pub enum Decision {
    Put(Item),
    Delete,
    /// Leave the item as it is.
    Keep,
}

/// The item before and after a write.
#[derive(Debug, Default)]
pub struct Written {
    pub old: Option<Item>,
    pub new: Option<Item>,
}

/// The engine's view of the key service for one table. It keeps the key service's own error, so the caller
/// gets the KMS-derived error DynamoDB reports, not the engine's summary of it.
struct Provider<'a> {
    keys: &'a dyn KeyService,
    record: &'a TableRecord,
    failure: Mutex<Option<DynamoError>>,
}

impl TableKeyProvider for Provider<'_> {
    fn unwrap_table_key(&self, blob: &[u8]) -> Result<SecretBytes, String> {
        let ctx = TableKeyContext {
            account: &self.record.account,
            region: &self.record.region,
            table_name: &self.record.spec.name,
        };
        self.keys.decrypt_table_key(ctx, blob).map_err(|e| {
            let text = e.to_string();
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            text
        })
    }
}

fn storage_error(e: storage::StorageError) -> DynamoError {
    DynamoError::Storage(e.to_string())
}

fn not_found(name: &str) -> DynamoError {
    DynamoError::ResourceNotFound(format!("Requested resource not found: Table: {name} not found"))
}

/// A page of a Scan.
#[derive(Debug, Default)]
pub struct ScanPage {
    pub items: Vec<Item>,
    /// The items' size, for the 1 MB page limit and capacity.
    pub bytes: usize,
    /// Whether the page stopped at a limit (the last item's key is then `LastEvaluatedKey`).
    pub more: bool,
}

/// The structure that holds a table's items.
const BASE: &str = "base";

pub struct Tables {
    dir: PathBuf,
    doc: SealedStore<Doc>,
    /// Serializes changes of the table set; readers take `open` only.
    changes: Mutex<()>,
    open: Mutex<BTreeMap<TableId, Arc<Table>>>,
    options: Options,
}

impl Tables {
    /// Opens the tables under `dir` (created if missing). Engines open on first use.
    pub fn open(dir: &Path, root: Arc<RootKey>, options: Options) -> Result<Tables, DynamoError> {
        std::fs::create_dir_all(dir.join("tables")).map_err(|e| DynamoError::Storage(e.to_string()))?;
        let doc: SealedStore<Doc> = SealedStore::new(dir.join("tables.sealed"), "strongroom/dynamodb/tables/v1", root);
        let loaded = doc
            .load()
            .map_err(|e| DynamoError::Storage(e.to_string()))?
            .unwrap_or_default();
        let mut open = BTreeMap::new();
        for record in loaded.tables {
            let id = (record.account.clone(), record.region.clone(), record.spec.name.clone());
            let table_dir = dir.join("tables").join(&record.table_id);
            open.insert(
                id,
                Arc::new(Table {
                    record,
                    shared: Shared::new(None, table_dir, options.clone()),
                }),
            );
        }
        Ok(Tables {
            dir: dir.to_owned(),
            doc,
            changes: Mutex::new(()),
            open: Mutex::new(open),
            options,
        })
    }

    fn save(&self, open: &BTreeMap<TableId, Arc<Table>>) -> Result<(), DynamoError> {
        let doc = Doc {
            tables: open.values().map(|t| t.record.clone()).collect(),
        };
        self.doc.save(&doc).map_err(|e| DynamoError::Storage(e.to_string()))
    }

    /// Table names of an account and region, in order.
    pub fn names(&self, account: &str, region: &str) -> Vec<String> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.keys()
            .filter(|(a, r, _)| a == account && r == region)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    pub fn get(&self, account: &str, region: &str, name: &str) -> Result<Arc<Table>, DynamoError> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&(account.to_owned(), region.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    /// Creates a table: a new table key from the key service, an engine under it, then the definition.
    /// A failure leaves no table behind.
    pub fn create(
        &self,
        account: &str,
        region: &str,
        spec: TableSpec,
        table_id: String,
        created_ms: i64,
        keys: &dyn KeyService,
    ) -> Result<Arc<Table>, DynamoError> {
        let _c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let id = (account.to_owned(), region.to_owned(), spec.name.clone());
        if self.open.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&id) {
            return Err(DynamoError::ResourceInUse(format!(
                "Table already exists: {}",
                spec.name
            )));
        }
        let record = TableRecord {
            account: account.to_owned(),
            region: region.to_owned(),
            spec,
            table_id,
            created_ms,
            tags: BTreeMap::new(),
        };
        let ctx = TableKeyContext {
            account,
            region,
            table_name: &record.spec.name,
        };
        let (blob, table_key) = keys.generate_table_key(ctx)?;
        let dir = self.dir.join("tables").join(&record.table_id);
        let made = Engine::create(&dir, storage::fs::local(), blob, &table_key, self.options.clone())
            .and_then(|e| e.create_structure(BASE).map(|_| e));
        let engine = match made {
            Ok(e) => e,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(storage_error(e));
            }
        };
        let table = Arc::new(Table {
            record,
            shared: Shared::new(Some(Arc::new(engine)), dir.clone(), self.options.clone()),
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.insert(id.clone(), table.clone());
        if let Err(e) = self.save(&open) {
            open.remove(&id);
            drop(open);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(table)
    }

    /// Changes a table's definition (UpdateTable, tags): `change` edits a copy, which replaces the
    /// definition only if it succeeds and is saved. Requests in flight keep the version they hold.
    pub fn update(
        &self,
        account: &str,
        region: &str,
        name: &str,
        change: impl FnOnce(&mut TableRecord) -> Result<(), DynamoError>,
    ) -> Result<TableRecord, DynamoError> {
        let _c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let id = (account.to_owned(), region.to_owned(), name.to_owned());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let current = open.get(&id).cloned().ok_or_else(|| not_found(name))?;
        let mut record = current.record.clone();
        change(&mut record)?;
        let next = Arc::new(Table {
            record: record.clone(),
            shared: current.shared.clone(),
        });
        open.insert(id.clone(), next);
        if let Err(e) = self.save(&open) {
            open.insert(id, current);
            return Err(e);
        }
        Ok(record)
    }

    /// Deletes a table: its definition, then its directory (data, and every data key with it).
    pub fn delete(&self, account: &str, region: &str, name: &str) -> Result<TableRecord, DynamoError> {
        let _c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let id = (account.to_owned(), region.to_owned(), name.to_owned());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let table = open.get(&id).cloned().ok_or_else(|| not_found(name))?;
        if table.record.spec.deletion_protection {
            return Err(DynamoError::Validation(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."
                    .into(),
            ));
        }
        open.remove(&id);
        if let Err(e) = self.save(&open) {
            open.insert(id, table);
            return Err(e);
        }
        drop(open);
        // Close the engine before its files go.
        *table.shared.engine.lock().unwrap_or_else(|p| p.into_inner()) = None;
        std::fs::remove_dir_all(&table.shared.dir).map_err(|e| DynamoError::Storage(e.to_string()))?;
        Ok(table.record.clone())
    }
}

impl Table {
    /// The engine, opened (its table key decrypted through `keys`) on first use.
    fn engine(&self, keys: &dyn KeyService) -> Result<Arc<Engine>, DynamoError> {
        let mut slot = self.shared.engine.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(e.clone());
        }
        let provider = Provider {
            keys,
            record: &self.record,
            failure: Mutex::new(None),
        };
        let opened = Engine::open(
            &self.shared.dir,
            storage::fs::local(),
            &provider,
            self.shared.options.clone(),
        );
        let engine = match opened {
            Ok(e) => Arc::new(e),
            Err(e) => {
                let failure = provider.failure.lock().unwrap_or_else(|p| p.into_inner()).take();
                return Err(failure.unwrap_or_else(|| storage_error(e)));
            }
        };
        if let Some(base) = engine.structure(BASE) {
            // Taken before the engine is published, so every later write is counted by `write_item`.
            let snapshot = engine.snapshot();
            let (counting, shared) = (engine.clone(), self.shared.clone());
            let spawned = std::thread::Builder::new().name("table-usage".into()).spawn(move || {
                if let Err(e) = count_existing(&counting, base, &snapshot, &shared.usage) {
                    tracing::warn!(error = %e, "counting a table's items failed");
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start counting a table's items");
            }
        }
        *slot = Some(engine.clone());
        Ok(engine)
    }

    fn base(engine: &Engine) -> Result<u32, DynamoError> {
        engine
            .structure(BASE)
            .ok_or_else(|| DynamoError::Storage("the table has no base structure".into()))
    }

    /// Reads an item, decides what to do with it and does it, with no other write to the item in between
    /// (PutItem, DeleteItem and UpdateItem, conditional or not). `key` is the item's storage key.
    pub async fn write_item(
        &self,
        key: &[u8],
        keys: &dyn KeyService,
        decide: impl FnOnce(Option<&Item>) -> Result<Decision, DynamoError>,
    ) -> Result<Written, DynamoError> {
        let engine = self.engine(keys)?;
        let base = Self::base(&engine)?;
        let _item = self.shared.lock_item(key).await;
        let old = engine
            .get(base, key, None)
            .map_err(storage_error)?
            .map(|raw| decode_item(&raw))
            .transpose()?;
        let mut batch = WriteBatch::new();
        let new = match decide(old.as_ref())? {
            Decision::Put(item) => {
                batch.put(base, key, &encode_item(&item));
                Some(item)
            }
            Decision::Delete => {
                if old.is_some() {
                    batch.delete(base, key);
                }
                None
            }
            Decision::Keep => old.clone(),
        };
        if !batch.is_empty() {
            if engine.write_would_wait() {
                // Making room may wait for a flush: not on a runtime worker.
                blocking(|| engine.write(batch)).map_err(storage_error)?;
            } else {
                engine.write_async(batch).await.map_err(storage_error)?;
            }
            let size = |i: &Option<Item>| i.as_ref().map_or(0, |i| item_size(i) as i64);
            let count = |i: &Option<Item>| i64::from(i.is_some());
            self.shared
                .usage
                .add(count(&new) - count(&old), size(&new) - size(&old));
        }
        Ok(Written { old, new })
    }

    /// Writes an item whole (PutItem without a condition); returns the item it replaced.
    pub async fn put(&self, item: &Item, keys: &dyn KeyService) -> Result<Option<Item>, DynamoError> {
        let key = self.record.spec.schema.item_key(item)?;
        if item_size(item) > MAX_ITEM_BYTES {
            return Err(DynamoError::Validation(
                "One or more parameter values were invalid: Item size has exceeded the maximum allowed size".into(),
            ));
        }
        Ok(self
            .write_item(&key, keys, |_| Ok(Decision::Put(item.clone())))
            .await?
            .old)
    }

    /// The table's item count and total item size, as far as this process has counted them (zero until
    /// the table is first used after a start).
    pub fn usage(&self) -> (u64, u64) {
        let u = &self.shared.usage;
        (
            u.items.load(Ordering::Relaxed).max(0) as u64,
            u.bytes.load(Ordering::Relaxed).max(0) as u64,
        )
    }

    /// Reads an item by its `Key` (GetItem).
    pub fn get(&self, key: &Item, keys: &dyn KeyService) -> Result<Option<Item>, DynamoError> {
        let key = self.record.spec.schema.key_of(key)?;
        let engine = self.engine(keys)?;
        let base = Self::base(&engine)?;
        engine
            .get(base, &key, None)
            .map_err(storage_error)?
            .map(|raw| decode_item(&raw))
            .transpose()
    }

    /// Reads items in storage-key order between two bounds (forward or backward), from one snapshot, until
    /// `limit` items or `max_bytes` of items have been read.
    fn read_range(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
        limit: usize,
        max_bytes: usize,
        keys: &dyn KeyService,
    ) -> Result<ScanPage, DynamoError> {
        const CHUNK: usize = 128;
        let engine = self.engine(keys)?;
        let base = Self::base(&engine)?;
        let snapshot = engine.snapshot();
        let mut page = ScanPage::default();
        let (mut lower, mut upper) = (lower, upper);
        loop {
            let chunk = engine
                .range(
                    base,
                    &storage::Range {
                        start: bound_ref(&lower),
                        end: bound_ref(&upper),
                        reverse,
                        limit: CHUNK,
                    },
                    Some(&snapshot),
                )
                .map_err(storage_error)?;
            let exhausted = chunk.len() < CHUNK;
            for (k, raw) in chunk {
                let item = decode_item(&raw)?;
                page.bytes += item_size(&item);
                page.items.push(item);
                if reverse {
                    upper = Bound::Excluded(k);
                } else {
                    lower = Bound::Excluded(k);
                }
                if page.items.len() >= limit || page.bytes >= max_bytes {
                    page.more = true;
                    return Ok(page);
                }
            }
            if exhausted {
                return Ok(page);
            }
        }
    }

    /// One page of a Scan: items in storage-key order (partitions in hashed order, as DynamoDB's Scan),
    /// after `start_after` (a `Key`, from `ExclusiveStartKey`), within `segment` of `total_segments`, until
    /// `limit` items or `max_bytes` of items have been read.
    pub fn scan(
        &self,
        start_after: Option<&Item>,
        segment: (u32, u32),
        limit: usize,
        max_bytes: usize,
        keys: &dyn KeyService,
    ) -> Result<ScanPage, DynamoError> {
        let (segment, total) = segment;
        let token_bound = |s: u32| -> Option<Vec<u8>> {
            // Segment s starts at token s * 2^64 / total; the last ends with the key space.
            (s < total).then(|| ((((s as u128) << 64) / total as u128) as u64).to_be_bytes().to_vec())
        };
        let lower = token_bound(segment).unwrap_or_default();
        let upper = token_bound(segment + 1);
        let after = start_after.map(|k| self.record.spec.schema.key_of(k)).transpose()?;
        let lower = match after {
            Some(k) if k >= lower => Bound::Excluded(k),
            _ => Bound::Included(lower),
        };
        let upper = upper.map_or(Bound::Unbounded, Bound::Excluded);
        self.read_range(lower, upper, false, limit, max_bytes, keys)
    }

    /// One page of a Query: the items of one partition whose sort key meets the condition, in sort-key
    /// order (descending unless `forward`), after `start_after` (`ExclusiveStartKey`).
    pub fn query(
        &self,
        condition: &KeyCondition,
        forward: bool,
        start_after: Option<&Item>,
        limit: usize,
        max_bytes: usize,
        keys: &dyn KeyService,
    ) -> Result<ScanPage, DynamoError> {
        let schema = &self.record.spec.schema;
        let (mut lower, mut upper) = condition.storage_bounds(schema)?;
        if let Some(start) = start_after {
            let k = schema.key_of(start)?;
            if forward {
                lower = Bound::Excluded(k);
            } else {
                upper = Bound::Excluded(k);
            }
        }
        self.read_range(lower, upper, !forward, limit, max_bytes, keys)
    }

    /// Deletes an item by its `Key` (DeleteItem without a condition); returns what was there.
    pub async fn delete(&self, key: &Item, keys: &dyn KeyService) -> Result<Option<Item>, DynamoError> {
        let key = self.record.spec.schema.key_of(key)?;
        Ok(self.write_item(&key, keys, |_| Ok(Decision::Delete)).await?.old)
    }
}

/// Runs `work`, which may block, letting a multi-threaded runtime move its other tasks elsewhere meanwhile.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::item_from_json;
    use crate::table::{AttributeDefinition, CreateTableInput, KeySchemaElement};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A stand-in for KMS: the "blob" is the key itself, reversed, and every call is counted.
    #[derive(Default)]
    struct FakeKms {
        calls: AtomicUsize,
        refuse: std::sync::atomic::AtomicBool,
    }

    impl KeyService for FakeKms {
        fn generate_table_key(&self, ctx: TableKeyContext<'_>) -> Result<(Vec<u8>, SecretBytes), DynamoError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let key: Vec<u8> = (0..32u8).map(|i| i ^ ctx.table_name.len() as u8).collect();
            Ok((key.iter().rev().copied().collect(), SecretBytes::new(key)))
        }

        fn decrypt_table_key(&self, _: TableKeyContext<'_>, blob: &[u8]) -> Result<SecretBytes, DynamoError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.refuse.load(Ordering::SeqCst) {
                return Err(DynamoError::Validation("key disabled".into()));
            }
            Ok(SecretBytes::new(blob.iter().rev().copied().collect()))
        }
    }

    fn spec(name: &str) -> TableSpec {
        TableSpec::from_create(&CreateTableInput {
            table_name: name.into(),
            attribute_definitions: vec![AttributeDefinition {
                attribute_name: "id".into(),
                attribute_type: "S".into(),
            }],
            key_schema: vec![KeySchemaElement {
                attribute_name: "id".into(),
                key_type: "HASH".into(),
            }],
            billing_mode: Some("PAY_PER_REQUEST".into()),
            ..Default::default()
        })
        .unwrap()
    }

    fn root() -> Arc<RootKey> {
        Arc::new(RootKey::from_bytes(&[4u8; 32]).unwrap())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tables_keep_items_encrypted_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let kms = FakeKms::default();
        let tables = Tables::open(dir.path(), root(), Options::default()).unwrap();
        let t = tables
            .create("111122223333", "us-east-1", spec("orders"), "t-1".into(), 0, &kms)
            .unwrap();
        assert!(matches!(
            tables.create("111122223333", "us-east-1", spec("orders"), "t-2".into(), 0, &kms),
            Err(DynamoError::ResourceInUse(_))
        ));
        let item = item_from_json(&json!({"id": {"S": "A1"}, "note": {"S": "MARKER-ITEM-NOTE"}})).unwrap();
        assert_eq!(t.put(&item, &kms).await.unwrap(), None);
        let key = item_from_json(&json!({"id": {"S": "A1"}})).unwrap();
        assert_eq!(t.get(&key, &kms).unwrap(), Some(item.clone()));
        t.engine(&kms).unwrap().flush().unwrap();
        drop(t);
        drop(tables);
        for f in walk(dir.path()) {
            let bytes = std::fs::read(&f).unwrap();
            for marker in [&b"MARKER-ITEM-NOTE"[..], b"orders"] {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker),
                    "{} in {}",
                    String::from_utf8_lossy(marker),
                    f.display()
                );
            }
        }
        // After a restart the table key is decrypted again, through the key service.
        let before = kms.calls.load(Ordering::SeqCst);
        let tables = Tables::open(dir.path(), root(), Options::default()).unwrap();
        assert_eq!(tables.names("111122223333", "us-east-1"), ["orders"]);
        assert!(tables.names("111122223333", "eu-west-1").is_empty());
        let t = tables.get("111122223333", "us-east-1", "orders").unwrap();
        assert_eq!(t.get(&key, &kms).unwrap(), Some(item.clone()));
        assert_eq!(kms.calls.load(Ordering::SeqCst), before + 1);
        assert_eq!(t.delete(&key, &kms).await.unwrap(), Some(item));
        assert_eq!(t.get(&key, &kms).unwrap(), None);
        // Deleting the table removes its directory, key registry included.
        let table_dir = dir.path().join("tables").join("t-1");
        assert!(table_dir.exists());
        tables.delete("111122223333", "us-east-1", "orders").unwrap();
        assert!(!table_dir.exists());
        assert!(matches!(
            tables.get("111122223333", "us-east-1", "orders"),
            Err(DynamoError::ResourceNotFound(_))
        ));
    }

    #[test]
    fn without_the_table_key_nothing_opens() {
        let dir = tempfile::tempdir().unwrap();
        let kms = FakeKms::default();
        let tables = Tables::open(dir.path(), root(), Options::default()).unwrap();
        tables
            .create("111122223333", "us-east-1", spec("locked"), "t-9".into(), 0, &kms)
            .unwrap();
        drop(tables);
        let tables = Tables::open(dir.path(), root(), Options::default()).unwrap();
        kms.refuse.store(true, Ordering::SeqCst);
        let t = tables.get("111122223333", "us-east-1", "locked").unwrap();
        let key = item_from_json(&json!({"id": {"S": "x"}})).unwrap();
        // The key service's own error reaches the caller.
        assert_eq!(t.get(&key, &kms).unwrap_err().to_string(), "key disabled");
        kms.refuse.store(false, Ordering::SeqCst);
        assert_eq!(t.get(&key, &kms).unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn usage_counts_items_and_bytes_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let kms = FakeKms::default();
        let tables = Tables::open(dir.path(), root(), Options::default()).unwrap();
        let t = tables
            .create("111122223333", "us-east-1", spec("usage"), "t-u".into(), 0, &kms)
            .unwrap();
        let items: Vec<Item> = (0..50)
            .map(|i| item_from_json(&json!({"id": {"S": format!("k{i}")}, "v": {"S": "x".repeat(i)}})).unwrap())
            .collect();
        for item in &items {
            t.put(item, &kms).await.unwrap();
        }
        // Replacing an item changes only the size; deleting one changes both.
        t.put(&items[0], &kms).await.unwrap();
        t.delete(&item_from_json(&json!({"id": {"S": "k1"}})).unwrap(), &kms)
            .await
            .unwrap();
        let bytes: usize = items.iter().map(item_size).sum::<usize>() - item_size(&items[1]);
        assert_eq!(t.usage(), (49, bytes as u64));
        drop(t);
        drop(tables);
        let tables = Tables::open(dir.path(), root(), Options::default()).unwrap();
        let t = tables.get("111122223333", "us-east-1", "usage").unwrap();
        assert_eq!(t.usage(), (0, 0), "nothing counted before the table is used");
        t.put(&items[1], &kms).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while t.usage() != (50, (bytes + item_size(&items[1])) as u64) {
            assert!(std::time::Instant::now() < deadline, "usage {:?}", t.usage());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
