//! Global secondary indexes added and removed while the table is in use (UpdateTable
//! `GlobalSecondaryIndexUpdates`).
//!
//! Adding one: its structure is made, then it joins the table's index set (so every write from then on
//! maintains it), then a background backfill reads the table page by page and writes the entries of the
//! items already there. Each page's items are locked, read again and indexed in one batch, so a write to an
//! item and the backfill of that item never overtake each other. When the table is read to its end the
//! index becomes ACTIVE. A restart in the middle starts the backfill again; writing an entry twice is
//! harmless.

use super::{commit, read_item, storage_error, stripe_of, Derived, IndexUsage, Table, Tables, BASE};
use crate::attr::{encode_item, item_size, Item};
use crate::index::IndexDef;
use crate::table::{AttributeDefinition, IndexInput};
use crate::tables::{KeyService, TableRecord};
use crate::DynamoError;

/// Items indexed per batch (each batch holds its items' locks while it is written).
const PAGE: usize = 256;

impl Tables {
    /// Adds a global secondary index to a table; it is CREATING until [`Tables::backfill_pending`] has
    /// indexed the items already there.
    pub fn add_global_index(
        &self,
        account: &str,
        region: &str,
        name: &str,
        definitions: &[AttributeDefinition],
        input: &IndexInput,
        keys: &dyn KeyService,
    ) -> Result<TableRecord, DynamoError> {
        let table = self.get(account, region, name)?;
        if table.record.spec.global_indexes.iter().any(|g| g.backfilling) {
            return Err(DynamoError::LimitExceeded(
                "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
                    .into(),
            ));
        }
        let mut checked = table.record.spec.clone();
        checked.add_global_index(definitions, input)?;
        let engine = table.engine(keys)?;
        let structure = crate::index::structure_name(&input.index_name);
        // Left over from an earlier attempt that did not finish: start empty.
        if engine.structure(&structure).is_some() {
            engine.drop_structure(&structure).map_err(storage_error)?;
        }
        engine.create_structure(&structure).map_err(storage_error)?;
        let added = self.update(account, region, name, |r| r.spec.add_global_index(definitions, input));
        if added.is_err() {
            if let Err(e) = engine.drop_structure(&structure) {
                tracing::warn!(error = %e, "dropping the structure of an index that was not added failed");
            }
        }
        added
    }

    /// Removes a global secondary index: it leaves the table's definition, every write that may still be
    /// maintaining it finishes, and its structure (entries and data keys) is dropped.
    pub async fn remove_global_index(
        &self,
        account: &str,
        region: &str,
        name: &str,
        index: &str,
        keys: &dyn KeyService,
    ) -> Result<TableRecord, DynamoError> {
        let table = self.get(account, region, name)?;
        let engine = table.engine(keys)?;
        let record = self.update(account, region, name, |r| r.spec.remove_global_index(index).map(|_| ()))?;
        // Every write that read the old index set holds an item lock until its batch is durable.
        table.shared.drain_writes().await;
        let structure = crate::index::structure_name(index);
        if engine.structure(&structure).is_some() {
            engine.drop_structure(&structure).map_err(storage_error)?;
        }
        table
            .shared
            .index_usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(index);
        Ok(record)
    }

    /// Backfills every global secondary index still CREATING (on tables whose key the service may use),
    /// then makes it ACTIVE. Returns how many indexes became ACTIVE.
    pub async fn backfill_pending(&self, keys: &dyn KeyService) -> usize {
        let mut done = 0;
        for table in self.all() {
            if table.inaccessible_since_ms().is_some() {
                continue;
            }
            let pending: Vec<String> = table
                .record
                .spec
                .global_indexes
                .iter()
                .filter(|g| g.backfilling)
                .map(|g| g.name.clone())
                .collect();
            for index in pending {
                let built = table.backfill(&index, keys).await;
                let finished = built.and_then(|complete| {
                    if !complete {
                        return Ok(false);
                    }
                    let r = &table.record;
                    self.update(&r.account, &r.region, &r.spec.name, |r| {
                        if let Some(g) = r.spec.global_indexes.iter_mut().find(|g| g.name == index) {
                            g.backfilling = false;
                        }
                        Ok(())
                    })
                    .map(|_| true)
                });
                match finished {
                    Ok(true) => done += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(table = %table.record.spec.name, index = %index, error = %e, "backfilling an index failed")
                    }
                }
            }
        }
        done
    }
}

impl Table {
    /// Writes the entries of every item into index `name`; false if the index went away meanwhile.
    async fn backfill(&self, name: &str, keys: &dyn KeyService) -> Result<bool, DynamoError> {
        let schema = &self.record.spec.schema;
        let mut start: Option<Item> = None;
        loop {
            let page = self.scan(start.as_ref(), (0, 1), PAGE, usize::MAX, keys)?;
            let engine = self.engine(keys)?;
            let base = engine
                .structure(BASE)
                .ok_or_else(|| DynamoError::Storage("the table has no base structure".into()))?;
            let table_keys = page
                .items
                .iter()
                .map(|i| schema.item_key(i))
                .collect::<Result<Vec<_>, _>>()?;
            let mut stripes: Vec<usize> = table_keys.iter().map(|k| stripe_of(k)).collect();
            stripes.sort_unstable();
            stripes.dedup();
            let mut guards = Vec::with_capacity(stripes.len());
            for s in stripes {
                guards.push(self.shared.item_locks[s].lock().await);
            }
            // Checked under the locks: a removal waits for them before it drops the structure.
            let indexes = self.shared.indexes();
            let Some(index) = indexes.iter().find(|x| x.name == name) else {
                return Ok(false);
            };
            let structure = engine
                .structure(&index.structure())
                .ok_or_else(|| DynamoError::Storage(format!("index {name} has no structure")))?;
            let mut batch = storage::WriteBatch::new();
            let mut usage = IndexUsage {
                name: name.to_owned(),
                items: 0,
                bytes: 0,
            };
            for key in &table_keys {
                let Some(item) = read_item(&engine, base, key)? else {
                    continue;
                };
                if let Some((entry_key, entry)) = entry_of(index, schema, key, &item) {
                    // An entry the item's writes already made is counted already.
                    if engine
                        .get(structure, &entry_key, None)
                        .map_err(storage_error)?
                        .is_none()
                    {
                        usage.items += 1;
                        usage.bytes += item_size(&entry) as i64;
                    }
                    batch.put(structure, &entry_key, &encode_item(&entry));
                }
            }
            let derived = Derived {
                usage: vec![usage],
                seqs: Vec::new(),
            };
            commit(&self.shared, &engine, batch, &[], derived).await?;
            drop(guards);
            if !page.more {
                return Ok(true);
            }
            start = page.items.last().map(|last| schema.key_attributes(last));
        }
    }
}

/// The entry an existing item gets in a new index; none for items the index leaves out, including
/// those whose index key attribute has the wrong type (DynamoDB skips them in a backfill).
fn entry_of(index: &IndexDef, schema: &crate::key::KeySchema, key: &[u8], item: &Item) -> Option<(Vec<u8>, Item)> {
    index.check(item).ok()?;
    let entry_key = index.entry_key(item, key)?;
    Some((entry_key, index.project(schema, item)))
}
