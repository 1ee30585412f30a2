//! The item operations' domain logic: conditional PutItem and DeleteItem, UpdateItem, and the checks that
//! tie expressions to a table's key schema (Query key conditions, Query filters, updates of key
//! attributes). The table store does the reading and writing ([`Table::write_item`]).

use crate::attr::{item_size, Item};
use crate::expr::ast::{Cmp, Condition, Operand, Path, Update};
use crate::expr::eval::holds;
use crate::expr::update::updated;
use crate::key::{KeyCondition, KeySchema, SortCondition};
use crate::tables::{Decision, KeyService, Table, Written, MAX_ITEM_BYTES};
use crate::DynamoError;

fn validation(m: impl Into<String>) -> DynamoError {
    DynamoError::Validation(m.into())
}

/// Fails with ConditionalCheckFailed unless `condition` holds for the item (a missing item is empty).
fn check(condition: Option<&Condition>, old: Option<&Item>) -> Result<(), DynamoError> {
    if holds(condition, old) {
        Ok(())
    } else {
        Err(DynamoError::ConditionalCheckFailed(old.cloned().map(Box::new)))
    }
}

/// PutItem: replaces the whole item if `condition` holds for the one it replaces.
pub async fn put_item(
    table: &Table,
    item: Item,
    condition: Option<&Condition>,
    keys: &dyn KeyService,
) -> Result<Written, DynamoError> {
    let key = table.record.spec.schema.item_key(&item)?;
    if item_size(&item) > MAX_ITEM_BYTES {
        return Err(validation(
            "One or more parameter values were invalid: Item size has exceeded the maximum allowed size",
        ));
    }
    table
        .write_item(&key, keys, |old| {
            check(condition, old)?;
            Ok(Decision::Put(item))
        })
        .await
}

/// DeleteItem: deletes the item named by `key` if `condition` holds for it.
pub async fn delete_item(
    table: &Table,
    key: &Item,
    condition: Option<&Condition>,
    keys: &dyn KeyService,
) -> Result<Written, DynamoError> {
    let storage_key = table.record.spec.schema.key_of(key)?;
    table
        .write_item(&storage_key, keys, |old| {
            check(condition, old)?;
            Ok(Decision::Delete)
        })
        .await
}

/// Refuses an update that writes a key attribute, as DynamoDB does before it reads the item.
pub fn check_update_keys(update: &Update, schema: &KeySchema) -> Result<(), DynamoError> {
    for path in update.paths() {
        let head = path.head();
        if schema.is_key_attribute(head) {
            return Err(validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {head}. This attribute is part of the key"
            )));
        }
    }
    Ok(())
}

/// UpdateItem: applies `update` to the item named by `key` (created from the key if missing) if
/// `condition` holds for it. Without an update expression the item is created if missing, else kept.
pub async fn update_item(
    table: &Table,
    key: &Item,
    update: Option<&Update>,
    condition: Option<&Condition>,
    keys: &dyn KeyService,
) -> Result<Written, DynamoError> {
    let schema = &table.record.spec.schema;
    let storage_key = schema.key_of(key)?;
    if let Some(u) = update {
        check_update_keys(u, schema)?;
    }
    table
        .write_item(&storage_key, keys, |old| {
            check(condition, old)?;
            if update.is_none() && old.is_some() {
                return Ok(Decision::Keep);
            }
            let new = updated(update, old, key)?;
            if item_size(&new) > MAX_ITEM_BYTES {
                return Err(validation("Item size to update has exceeded the maximum allowed size"));
            }
            Ok(Decision::Put(new))
        })
        .await
}

/// Every document path a condition reads.
pub fn condition_paths(c: &Condition) -> Vec<&Path> {
    fn operand<'a>(o: &'a Operand, out: &mut Vec<&'a Path>) {
        match o {
            Operand::Path(p) => out.push(p),
            Operand::Size(inner) => operand(inner, out),
            Operand::Value(_) => {}
        }
    }
    fn walk<'a>(c: &'a Condition, out: &mut Vec<&'a Path>) {
        match c {
            Condition::Compare(_, a, b) | Condition::BeginsWith(a, b) | Condition::Contains(a, b) => {
                operand(a, out);
                operand(b, out);
            }
            Condition::Between(a, b, d) => {
                for o in [a, b, d] {
                    operand(o, out);
                }
            }
            Condition::In(a, list) => {
                operand(a, out);
                for o in list {
                    operand(o, out);
                }
            }
            Condition::Exists(p) | Condition::NotExists(p) | Condition::IsType(p, _) => out.push(p),
            Condition::And(a, b) | Condition::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Condition::Not(a) => walk(a, out),
        }
    }
    let mut out = Vec::new();
    walk(c, &mut out);
    out
}

/// A Query's FilterExpression may not read the key attributes.
pub fn check_query_filter(filter: &Condition, schema: &KeySchema) -> Result<(), DynamoError> {
    for path in condition_paths(filter) {
        let head = path.head();
        if schema.is_key_attribute(head) {
            return Err(validation(format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {head}"
            )));
        }
    }
    Ok(())
}

/// One key attribute's condition, as written in a KeyConditionExpression.
struct KeyTerm<'a> {
    name: &'a str,
    sort: SortCondition,
}

fn key_attribute(o: &Operand) -> Result<Option<&str>, DynamoError> {
    match o {
        Operand::Path(p) if p.is_top_level() => Ok(Some(p.head())),
        Operand::Path(_) => Err(validation(
            "KeyConditionExpressions cannot have conditions on nested attributes",
        )),
        Operand::Size(_) => Err(validation("KeyConditionExpressions cannot contain nested operations")),
        Operand::Value(_) => Ok(None),
    }
}

fn literal(o: &Operand) -> Option<crate::attr::AttributeValue> {
    match o {
        Operand::Value(v) => Some(v.clone()),
        _ => None,
    }
}

fn key_terms<'a>(c: &'a Condition, out: &mut Vec<KeyTerm<'a>>) -> Result<(), DynamoError> {
    let operator = |name: &str| validation(format!("Invalid operator used in KeyConditionExpression: {name}"));
    let first_operand = |name: &str| {
        validation(format!(
            "Invalid condition in KeyConditionExpression: {name} operator must have the key attribute as its first operand"
        ))
    };
    let term =
        match c {
            Condition::And(a, b) => {
                key_terms(a, out)?;
                return key_terms(b, out);
            }
            Condition::Or(..) => return Err(operator("OR")),
            Condition::Not(..) => return Err(operator("NOT")),
            Condition::In(..) => return Err(operator("IN")),
            Condition::Compare(Cmp::Ne, ..) => return Err(operator("<>")),
            Condition::Exists(_) => return Err(operator("attribute_exists")),
            Condition::NotExists(_) => return Err(operator("attribute_not_exists")),
            Condition::IsType(..) => return Err(operator("attribute_type")),
            Condition::Contains(..) => return Err(operator("contains")),
            Condition::Compare(cmp, a, b) => {
                let (name, value, cmp) = match (key_attribute(a)?, key_attribute(b)?) {
                    (Some(_), Some(_)) => return Err(validation(
                        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                    )),
                    (None, None) => {
                        return Err(validation(
                            "Invalid condition in KeyConditionExpression: No key attribute specified",
                        ))
                    }
                    (Some(n), None) => (n, literal(b), *cmp),
                    (None, Some(n)) => (n, literal(a), cmp.flipped()),
                };
                let v = value.ok_or_else(|| validation("KeyConditionExpressions cannot contain nested operations"))?;
                let sort = match cmp {
                    Cmp::Eq => SortCondition::Eq(v),
                    Cmp::Lt => SortCondition::Lt(v),
                    Cmp::Le => SortCondition::Le(v),
                    Cmp::Gt => SortCondition::Gt(v),
                    Cmp::Ge => SortCondition::Ge(v),
                    Cmp::Ne => return Err(operator("<>")),
                };
                KeyTerm { name, sort }
            }
            Condition::Between(x, lo, hi) => {
                let name = key_attribute(x)?.ok_or_else(|| first_operand("BETWEEN"))?;
                match (literal(lo), literal(hi)) {
                    (Some(l), Some(h)) => KeyTerm {
                        name,
                        sort: SortCondition::Between(l, h),
                    },
                    _ => return Err(validation(
                        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                    )),
                }
            }
            Condition::BeginsWith(a, b) => {
                let name = key_attribute(a)?.ok_or_else(|| first_operand("begins_with"))?;
                let prefix = literal(b).ok_or_else(|| {
                    validation(
                        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                    )
                })?;
                KeyTerm {
                    name,
                    sort: SortCondition::BeginsWith(prefix),
                }
            }
        };
    if out.iter().any(|t| t.name == term.name) {
        return Err(validation(
            "KeyConditionExpressions must only contain one condition per key",
        ));
    }
    out.push(term);
    Ok(())
}

/// The key condition a KeyConditionExpression states, checked against the table's key schema.
pub fn key_condition(c: &Condition, schema: &KeySchema) -> Result<KeyCondition, DynamoError> {
    let mut terms = Vec::new();
    key_terms(c, &mut terms)?;
    let missed = |name: &str| validation(format!("Query condition missed key schema element: {name}"));
    let mut partition = None;
    let mut sort = None;
    for t in terms {
        if t.name == schema.partition.name {
            match t.sort {
                SortCondition::Eq(v) => partition = Some(v),
                _ => return Err(validation("Query key condition not supported")),
            }
        } else if schema.sort.as_ref().is_some_and(|s| s.name == t.name) {
            sort = Some(t.sort);
        } else {
            return Err(match &schema.sort {
                Some(s) if sort.is_none() => missed(&s.name),
                _ if partition.is_none() => missed(&schema.partition.name),
                _ => validation("Query key condition not supported"),
            });
        }
    }
    let partition = partition.ok_or_else(|| missed(&schema.partition.name))?;
    Ok(KeyCondition { partition, sort })
}

/// A Query's `ExclusiveStartKey` must be a key of the table inside the query's key condition.
pub fn check_start_key(
    condition: &KeyCondition,
    schema: &KeySchema,
    start: &crate::attr::Item,
) -> Result<(), DynamoError> {
    schema.key_of(start).map_err(|e| match e {
        DynamoError::Validation(m) => validation(format!("The provided starting key is invalid: {m}")),
        other => other,
    })?;
    check_start_inside(condition, schema, start)
}

/// Refuses an `ExclusiveStartKey` outside what the key condition selects (`schema` is the key schema the
/// condition is on: the table's or an index's).
pub fn check_start_inside(
    condition: &KeyCondition,
    schema: &KeySchema,
    start: &crate::attr::Item,
) -> Result<(), DynamoError> {
    if start.get(&schema.partition.name) != Some(&condition.partition) {
        return Err(validation(
            "The provided starting key is outside query boundaries based on provided conditions",
        ));
    }
    let (Some(sort), Some(attr)) = (&condition.sort, &schema.sort) else {
        return Ok(());
    };
    let Some(v) = start.get(&attr.name) else {
        return Ok(());
    };
    use crate::expr::eval::order;
    use std::cmp::Ordering::{Equal, Greater, Less};
    let inside = match sort {
        SortCondition::Eq(x) => order(v, x) == Some(Equal),
        SortCondition::Lt(x) => order(v, x) == Some(Less),
        SortCondition::Le(x) => matches!(order(v, x), Some(Less | Equal)),
        SortCondition::Gt(x) => order(v, x) == Some(Greater),
        SortCondition::Ge(x) => matches!(order(v, x), Some(Greater | Equal)),
        SortCondition::Between(lo, hi) => {
            matches!(order(v, lo), Some(Greater | Equal)) && matches!(order(v, hi), Some(Less | Equal))
        }
        SortCondition::BeginsWith(p) => match (v, p) {
            (crate::attr::AttributeValue::S(s), crate::attr::AttributeValue::S(p)) => s.starts_with(p.as_str()),
            (crate::attr::AttributeValue::B(s), crate::attr::AttributeValue::B(p)) => s.starts_with(p),
            _ => false,
        },
    };
    if inside {
        Ok(())
    } else {
        Err(validation(
            "The provided starting key does not match the range key predicate",
        ))
    }
}
