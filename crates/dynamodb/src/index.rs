//! Secondary indexes as the table keeps them: one storage structure per index, in the table's engine, so
//! its files have their own data keys under the table key and its entries commit in the same atomic
//! batch as the item they come from.
//!
//! Entry key = partition prefix of the index's partition value | the index's sort value, escaped (see
//! [`crate::key::push_escaped`]) | the item's storage key in the table. The table key at the end keeps
//! entries of items sharing an index key apart; the escaping keeps the sort value's order in front of it.
//! Entry value = the item as the index projects it.

use crate::attr::{item_size, Item};
use crate::key::{partition_prefix, push_escaped, type_matches, value_bytes, KeySchema};
use crate::table::{IndexSpec, Projection, TableSpec};
use crate::DynamoError;

/// An index of a table, local or global.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    pub name: String,
    pub local: bool,
    pub schema: KeySchema,
    pub projection: Projection,
}

impl IndexDef {
    fn from_spec(spec: &IndexSpec, local: bool) -> IndexDef {
        IndexDef {
            name: spec.name.clone(),
            local,
            schema: spec.schema.clone(),
            projection: spec.projection.clone(),
        }
    }

    /// Every index of a table: local ones first, then global ones, each in definition order.
    pub fn all(spec: &TableSpec) -> Vec<IndexDef> {
        spec.local_indexes
            .iter()
            .map(|i| IndexDef::from_spec(i, true))
            .chain(spec.global_indexes.iter().map(|i| IndexDef::from_spec(i, false)))
            .collect()
    }

    /// The name of the storage structure holding the index.
    pub fn structure(&self) -> String {
        structure_name(&self.name)
    }

    fn key_attrs(&self) -> impl Iterator<Item = &crate::key::KeyAttr> {
        std::iter::once(&self.schema.partition).chain(self.schema.sort.as_ref())
    }

    /// Refuses an item whose index key attributes have the wrong type or an empty value, as DynamoDB
    /// refuses the write. An item without them is fine: it is simply not in the index (a sparse index).
    pub fn check(&self, item: &Item) -> Result<(), DynamoError> {
        for attr in self.key_attrs() {
            let Some(v) = item.get(&attr.name) else {
                continue;
            };
            if !type_matches(attr.kind, v) {
                return Err(DynamoError::Validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.kind.as_str(),
                    v.type_name(),
                    self.name
                )));
            }
            if let Some(kind) = crate::key::empty_kind(v) {
                return Err(DynamoError::Validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {}, IndexKey: {}",
                    self.name, attr.name
                )));
            }
        }
        Ok(())
    }

    /// The entry key of `item` (whose storage key in the table is `table_key`), or none when the item
    /// lacks an index key attribute or has one of the wrong type.
    pub fn entry_key(&self, item: &Item, table_key: &[u8]) -> Option<Vec<u8>> {
        let value = |attr: &crate::key::KeyAttr| {
            item.get(&attr.name)
                .filter(|v| type_matches(attr.kind, v))
                .and_then(value_bytes)
                .filter(|b| !b.is_empty() || attr.kind == crate::key::KeyType::N)
        };
        let mut key = partition_prefix(&value(&self.schema.partition)?);
        if let Some(sort) = &self.schema.sort {
            push_escaped(&mut key, &value(sort)?);
        }
        key.extend_from_slice(table_key);
        Some(key)
    }

    /// What the index holds of `item`: its key attributes, the table's, and the projected ones.
    pub fn project(&self, table: &KeySchema, item: &Item) -> Item {
        item.iter()
            .filter(|(name, _)| self.projects(table, name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Whether the index holds attribute `name` of its items.
    pub fn projects(&self, table: &KeySchema, name: &str) -> bool {
        self.schema.is_key_attribute(name)
            || table.is_key_attribute(name)
            || match &self.projection {
                Projection::All => true,
                Projection::KeysOnly => false,
                Projection::Include(names) => names.iter().any(|n| n == name),
            }
    }

    /// The key attributes of an index entry that name a position in the index (`LastEvaluatedKey`): the
    /// table's and the index's.
    pub fn position(&self, table: &KeySchema, item: &Item) -> Item {
        item.iter()
            .filter(|(name, _)| self.schema.is_key_attribute(name) || table.is_key_attribute(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// The entry key an `ExclusiveStartKey` names: exactly the table's and the index's key attributes.
    pub fn start_key(&self, table: &KeySchema, start: &Item) -> Result<Vec<u8>, DynamoError> {
        let invalid = |m: String| DynamoError::Validation(format!("The provided starting key is invalid: {m}"));
        let table_part = table.key_attributes(start);
        let table_key = table.key_of(&table_part).map_err(|e| invalid(e.to_string()))?;
        let named = start
            .keys()
            .all(|n| table.is_key_attribute(n) || self.schema.is_key_attribute(n));
        let entry = self.entry_key(start, &table_key);
        match entry {
            Some(k) if named => Ok(k),
            _ => Err(DynamoError::Validation("The provided starting key is invalid".into())),
        }
    }
}

/// What a write costs in one index: its name, whether it is local, and its write units.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexUnits {
    pub name: String,
    pub local: bool,
    pub units: f64,
}

/// The write units a write costs in each index it changes, as DynamoDB counts them: an entry removed is one
/// unit, an entry written one unit per KB of what the index holds of the item.
pub fn write_units(indexes: &[IndexDef], table: &KeySchema, w: &crate::tables::Written) -> Vec<IndexUnits> {
    let Some(key) = w.new.as_ref().or(w.old.as_ref()).and_then(|i| table.item_key(i).ok()) else {
        return Vec::new();
    };
    indexes
        .iter()
        .filter_map(|index| {
            let change = index.change(table, &key, w.old.as_ref(), w.new.as_ref());
            let removed = f64::from(u8::from(change.remove.is_some()));
            let written = change
                .put
                .as_ref()
                .map_or(0.0, |(_, entry)| crate::capacity::write_units(item_size(entry)));
            (removed + written > 0.0).then(|| IndexUnits {
                name: index.name.clone(),
                local: index.local,
                units: removed + written,
            })
        })
        .collect()
}

/// The storage structure of the index called `name`.
pub fn structure_name(name: &str) -> String {
    format!("index/{name}")
}

/// Checks an item against every index before it is written.
pub fn check_all(indexes: &[IndexDef], item: &Item) -> Result<(), DynamoError> {
    indexes.iter().try_for_each(|i| i.check(item))
}

/// What one write does to one index: the entry it removes and the entry it writes, if any, and what that
/// changes in the index's item count and size.
#[derive(Debug, Default, PartialEq)]
pub struct EntryChange {
    pub remove: Option<Vec<u8>>,
    pub put: Option<(Vec<u8>, Item)>,
    pub items: i64,
    pub bytes: i64,
}

impl IndexDef {
    /// The change to this index when the item under `table_key` goes from `old` to `new`; nothing when
    /// the index's entry stays as it is.
    pub fn change(&self, table: &KeySchema, table_key: &[u8], old: Option<&Item>, new: Option<&Item>) -> EntryChange {
        let entry =
            |i: Option<&Item>| i.and_then(|i| self.entry_key(i, table_key).map(|k| (k, self.project(table, i))));
        let (old_entry, new_entry) = (entry(old), entry(new));
        if old_entry == new_entry {
            return EntryChange::default();
        }
        let size = |e: &Option<(Vec<u8>, Item)>| e.as_ref().map_or(0, |(_, i)| item_size(i) as i64);
        let count = |e: &Option<(Vec<u8>, Item)>| i64::from(e.is_some());
        let (items, bytes) = (
            count(&new_entry) - count(&old_entry),
            size(&new_entry) - size(&old_entry),
        );
        let remove = match (&old_entry, &new_entry) {
            (Some((ok, _)), Some((nk, _))) if ok == nk => None,
            (Some((ok, _)), _) => Some(ok.clone()),
            (None, _) => None,
        };
        EntryChange {
            remove,
            put: new_entry,
            items,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{item_from_json, AttributeValue};
    use crate::key::{KeyAttr, KeyCondition, KeyType, SortCondition};
    use proptest::prelude::*;
    use serde_json::json;

    fn table() -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                kind: KeyType::S,
            },
            sort: None,
        }
    }

    fn index(sort: KeyType, projection: Projection) -> IndexDef {
        IndexDef {
            name: "by-g".into(),
            local: false,
            schema: KeySchema {
                partition: KeyAttr {
                    name: "g".into(),
                    kind: KeyType::S,
                },
                sort: Some(KeyAttr {
                    name: "r".into(),
                    kind: sort,
                }),
            },
            projection,
        }
    }

    fn item(v: serde_json::Value) -> Item {
        item_from_json(&v).unwrap()
    }

    #[test]
    fn items_with_wrong_index_key_types_are_refused_and_items_without_them_are_sparse() {
        let i = index(KeyType::N, Projection::KeysOnly);
        assert_eq!(
            i.check(&item(json!({"pk": {"S": "a"}, "g": {"N": "1"}}))).unwrap_err().to_string(),
            "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: by-g"
        );
        assert_eq!(
            i.check(&item(json!({"pk": {"S": "a"}, "g": {"S": ""}}))).unwrap_err().to_string(),
            "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by-g, IndexKey: g"
        );
        let only_g = item(json!({"pk": {"S": "a"}, "g": {"S": "x"}}));
        assert!(i.check(&only_g).is_ok());
        assert_eq!(
            i.entry_key(&only_g, b"k"),
            None,
            "an item without the sort attribute is not indexed"
        );
    }

    #[test]
    fn projections_keep_the_keys_and_what_they_name() {
        let whole = item(json!({"pk": {"S": "a"}, "g": {"S": "x"}, "r": {"N": "1"}, "p": {"S": "p"}, "q": {"S": "q"}}));
        let names = |i: Item| i.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(index(KeyType::N, Projection::KeysOnly).project(&table(), &whole)),
            ["g", "pk", "r"]
        );
        assert_eq!(
            names(index(KeyType::N, Projection::Include(vec!["q".into()])).project(&table(), &whole)),
            ["g", "pk", "q", "r"]
        );
        assert_eq!(index(KeyType::N, Projection::All).project(&table(), &whole), whole);
    }

    #[test]
    fn a_changed_index_key_moves_the_entry_and_an_unchanged_projection_writes_nothing() {
        let i = index(KeyType::N, Projection::KeysOnly);
        let t = table();
        let a = item(json!({"pk": {"S": "a"}, "g": {"S": "x"}, "r": {"N": "1"}, "p": {"S": "1"}}));
        let b = item(json!({"pk": {"S": "a"}, "g": {"S": "x"}, "r": {"N": "1"}, "p": {"S": "2"}}));
        let c = item(json!({"pk": {"S": "a"}, "g": {"S": "y"}, "r": {"N": "1"}}));
        assert_eq!(i.change(&t, b"k", Some(&a), Some(&b)), EntryChange::default());
        let moved = i.change(&t, b"k", Some(&a), Some(&c));
        assert_eq!(moved.remove, i.entry_key(&a, b"k"));
        assert_eq!(moved.put.map(|p| p.0), i.entry_key(&c, b"k"));
        let gone = i.change(&t, b"k", Some(&a), None);
        assert_eq!((gone.remove.is_some(), gone.put.is_none()), (true, true));
    }

    fn entry(i: &IndexDef, r: AttributeValue, pk: &str) -> Vec<u8> {
        let mut it = Item::new();
        it.insert("pk".into(), AttributeValue::S(pk.into()));
        it.insert("g".into(), AttributeValue::S("x".into()));
        it.insert("r".into(), r);
        let table_key = table().item_key(&it).unwrap();
        i.entry_key(&it, &table_key).unwrap()
    }

    fn inside(k: &[u8], range: &crate::key::KeyRange) -> bool {
        use std::ops::Bound;
        let above = match &range.0 {
            Bound::Included(l) => k >= l.as_slice(),
            Bound::Excluded(l) => k > l.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &range.1 {
            Bound::Included(u) => k <= u.as_slice(),
            Bound::Excluded(u) => k < u.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    proptest! {
        /// Entries sort by the index's sort value whatever primary key follows it, and every key condition
        /// selects exactly the entries whose sort value meets it.
        #[test]
        fn index_ranges_select_what_the_condition_selects(
            a in proptest::collection::vec(any::<u8>(), 1..6),
            b in proptest::collection::vec(any::<u8>(), 1..6),
            pa in "[a-z]{1,4}", pb in "[a-z]{1,4}",
        ) {
            let i = index(KeyType::B, Projection::KeysOnly);
            let (ka, kb) = (entry(&i, AttributeValue::B(a.clone()), &pa), entry(&i, AttributeValue::B(b.clone()), &pb));
            if a != b {
                prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            }
            let cond = |s: SortCondition| KeyCondition { partition: AttributeValue::S("x".into()), sort: Some(s) };
            let v = AttributeValue::B(b.clone());
            let checks = [
                (SortCondition::Eq(v.clone()), a == b),
                (SortCondition::Lt(v.clone()), a < b),
                (SortCondition::Le(v.clone()), a <= b),
                (SortCondition::Gt(v.clone()), a > b),
                (SortCondition::Ge(v.clone()), a >= b),
                (SortCondition::BeginsWith(v.clone()), a.starts_with(&b)),
                (SortCondition::Between(AttributeValue::B(b.clone()), AttributeValue::B(b.clone())), a == b),
            ];
            for (c, expected) in checks {
                let range = cond(c.clone()).index_bounds(&i.schema).unwrap();
                prop_assert_eq!(inside(&ka, &range), expected, "{:?}", c);
            }
        }
    }
}
