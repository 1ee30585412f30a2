//! Applying an UpdateExpression to an item, with DynamoDB's evaluation-time errors.
//!
//! Every SET operand is evaluated against the item as it was before the update; then SET, REMOVE, ADD
//! and DELETE are applied in that order. List elements removed by index are removed from the highest index
//! down, so every index names a position in the original list.

use super::ast::{Path, PathElem, SetValue, Update, UpdateOperand};
use super::eval::resolve;
use crate::attr::{AttributeValue, Item};
use crate::DynamoError;

fn invalid_path() -> DynamoError {
    DynamoError::Validation("The document path provided in the update expression is invalid for update".into())
}

fn wrong_type() -> DynamoError {
    DynamoError::Validation("An operand in the update expression has an incorrect data type".into())
}

fn missing_attribute() -> DynamoError {
    DynamoError::Validation("The provided expression refers to an attribute that does not exist in the item".into())
}

fn operand(o: &UpdateOperand, item: &Item) -> Result<AttributeValue, DynamoError> {
    match o {
        UpdateOperand::Value(v) => Ok(v.clone()),
        UpdateOperand::Path(p) => resolve(item, p).cloned().ok_or_else(missing_attribute),
        UpdateOperand::IfNotExists(p, fallback) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => operand(fallback, item),
        },
        UpdateOperand::ListAppend(a, b) => match (operand(a, item)?, operand(b, item)?) {
            (AttributeValue::L(mut x), AttributeValue::L(y)) => {
                x.extend(y);
                Ok(AttributeValue::L(x))
            }
            _ => Err(wrong_type()),
        },
    }
}

fn set_value(v: &SetValue, item: &Item) -> Result<AttributeValue, DynamoError> {
    let arithmetic = |a: &UpdateOperand, b: &UpdateOperand, plus: bool| match (operand(a, item)?, operand(b, item)?) {
        (AttributeValue::N(x), AttributeValue::N(y)) => {
            Ok(AttributeValue::N(if plus { x.add(&y)? } else { x.sub(&y)? }))
        }
        _ => Err(wrong_type()),
    };
    match v {
        SetValue::Operand(o) => operand(o, item),
        SetValue::Plus(a, b) => arithmetic(a, b, true),
        SetValue::Minus(a, b) => arithmetic(a, b, false),
    }
}

/// The container holding the last element of `path`, which must exist.
fn parent_mut<'i>(item: &'i mut Item, path: &Path) -> Result<&'i mut AttributeValue, DynamoError> {
    let (Some(PathElem::Name(head)), Some(middle)) = (path.0.first(), path.0.get(1..path.0.len() - 1)) else {
        return Err(invalid_path());
    };
    let mut current = item.get_mut(head).ok_or_else(invalid_path)?;
    for e in middle {
        current = match (e, current) {
            (PathElem::Name(n), AttributeValue::M(m)) => m.get_mut(n).ok_or_else(invalid_path)?,
            (PathElem::Index(i), AttributeValue::L(l)) => l.get_mut(*i as usize).ok_or_else(invalid_path)?,
            _ => return Err(invalid_path()),
        };
    }
    Ok(current)
}

fn set_path(item: &mut Item, path: &Path, value: AttributeValue) -> Result<(), DynamoError> {
    if let [PathElem::Name(n)] = path.0.as_slice() {
        item.insert(n.clone(), value);
        return Ok(());
    }
    let last = path.0.last().ok_or_else(invalid_path)?;
    match (last, parent_mut(item, path)?) {
        (PathElem::Name(n), AttributeValue::M(m)) => {
            m.insert(n.clone(), value);
        }
        (PathElem::Index(i), AttributeValue::L(l)) => match l.get_mut(*i as usize) {
            Some(slot) => *slot = value,
            // An index past the end appends, as DynamoDB's SET does.
            None => l.push(value),
        },
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn remove_path(item: &mut Item, path: &Path) -> Result<(), DynamoError> {
    if let [PathElem::Name(n)] = path.0.as_slice() {
        item.remove(n);
        return Ok(());
    }
    // Removing below something that is not there removes nothing.
    if resolve_parent(item, path).is_none() {
        return Ok(());
    }
    let parent = parent_mut(item, path)?;
    match (path.0.last(), parent) {
        (Some(PathElem::Name(n)), AttributeValue::M(m)) => {
            m.remove(n);
        }
        (Some(PathElem::Index(i)), AttributeValue::L(l)) => {
            if (*i as usize) < l.len() {
                l.remove(*i as usize);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn resolve_parent<'i>(item: &'i Item, path: &Path) -> Option<&'i AttributeValue> {
    resolve(item, &Path(path.0[..path.0.len().saturating_sub(1)].to_vec()))
}

fn union<T: PartialEq + Clone>(mut a: Vec<T>, b: &[T]) -> Vec<T> {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
    a
}

fn difference<T: PartialEq>(a: Vec<T>, b: &[T]) -> Vec<T> {
    a.into_iter().filter(|x| !b.contains(x)).collect()
}

fn add(current: Option<&AttributeValue>, v: &AttributeValue) -> Result<AttributeValue, DynamoError> {
    Ok(match (current, v) {
        (None, v) => v.clone(),
        (Some(AttributeValue::N(x)), AttributeValue::N(y)) => AttributeValue::N(x.add(y)?),
        (Some(AttributeValue::Ss(x)), AttributeValue::Ss(y)) => AttributeValue::Ss(union(x.clone(), y)),
        (Some(AttributeValue::Ns(x)), AttributeValue::Ns(y)) => AttributeValue::Ns(union(x.clone(), y)),
        (Some(AttributeValue::Bs(x)), AttributeValue::Bs(y)) => AttributeValue::Bs(union(x.clone(), y)),
        _ => return Err(wrong_type()),
    })
}

/// What is left of a set after DELETE; `None` when nothing is, and the attribute goes.
fn delete(current: &AttributeValue, v: &AttributeValue) -> Result<Option<AttributeValue>, DynamoError> {
    let left = match (current, v) {
        (AttributeValue::Ss(x), AttributeValue::Ss(y)) => {
            let d = difference(x.clone(), y);
            (!d.is_empty()).then_some(AttributeValue::Ss(d))
        }
        (AttributeValue::Ns(x), AttributeValue::Ns(y)) => {
            let d = difference(x.clone(), y);
            (!d.is_empty()).then_some(AttributeValue::Ns(d))
        }
        (AttributeValue::Bs(x), AttributeValue::Bs(y)) => {
            let d = difference(x.clone(), y);
            (!d.is_empty()).then_some(AttributeValue::Bs(d))
        }
        _ => return Err(wrong_type()),
    };
    Ok(left)
}

/// Orders REMOVE paths so that, within one list, higher indexes go first.
fn removal_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    for (x, y) in a.0.iter().zip(&b.0) {
        let o = match (x, y) {
            (PathElem::Index(i), PathElem::Index(j)) => j.cmp(i),
            (PathElem::Name(m), PathElem::Name(n)) => m.cmp(n),
            (PathElem::Name(_), PathElem::Index(_)) => std::cmp::Ordering::Less,
            (PathElem::Index(_), PathElem::Name(_)) => std::cmp::Ordering::Greater,
        };
        if o.is_ne() {
            return o;
        }
    }
    a.0.len().cmp(&b.0.len())
}

/// The item after `update`.
pub fn apply(update: &Update, old: &Item) -> Result<Item, DynamoError> {
    let values = update
        .set
        .iter()
        .map(|(p, v)| Ok((p, set_value(v, old)?)))
        .collect::<Result<Vec<_>, DynamoError>>()?;
    let mut item = old.clone();
    for (path, value) in values {
        set_path(&mut item, path, value)?;
    }
    let mut removals: Vec<&Path> = update.remove.iter().collect();
    removals.sort_by(|a, b| removal_order(a, b));
    for path in removals {
        remove_path(&mut item, path)?;
    }
    for (path, v) in &update.add {
        let next = add(resolve(&item, path), v)?;
        set_path(&mut item, path, next)?;
    }
    for (path, v) in &update.delete {
        let Some(current) = resolve(&item, path) else {
            continue;
        };
        match delete(current, v)? {
            Some(left) => set_path(&mut item, path, left)?,
            None => remove_path(&mut item, path)?,
        }
    }
    Ok(item)
}

/// The item an UpdateItem leaves: `update` applied to the item as it is, or to one made of the key if
/// there is none yet (without an update expression, that item as it stands).
pub fn updated(update: Option<&Update>, old: Option<&Item>, key: &Item) -> Result<Item, DynamoError> {
    let start = old.cloned().unwrap_or_else(|| key.clone());
    match update {
        Some(u) => apply(u, &start),
        None => Ok(start),
    }
}
