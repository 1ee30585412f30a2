//! Evaluating conditions against an item, and projecting items onto document paths.
//!
//! A condition that compares values of different types, or reads an attribute that is not there, is
//! simply false (DynamoDB raises no error at evaluation time); `<>` is the exception, true unless both
//! sides are present and equal.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::ast::{Cmp, Condition, Operand, Path, PathElem};
use crate::attr::{AttributeValue, Item};
use crate::number::Number;

/// The value at `path` in `item`, if there is one.
pub fn resolve<'i>(item: &'i Item, path: &Path) -> Option<&'i AttributeValue> {
    let mut elems = path.0.iter();
    let mut current = match elems.next()? {
        PathElem::Name(n) => item.get(n)?,
        PathElem::Index(_) => return None,
    };
    for e in elems {
        current = match (e, current) {
            (PathElem::Name(n), AttributeValue::M(m)) => m.get(n)?,
            (PathElem::Index(i), AttributeValue::L(l)) => l.get(*i as usize)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The order of two scalars of one type (N numerically, S and B by bytes); none for other pairs.
pub fn order(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn same_members<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// DynamoDB's equality: sets compare as sets, maps and lists member by member.
pub fn equal(a: &AttributeValue, b: &AttributeValue) -> bool {
    match (a, b) {
        (AttributeValue::Ss(x), AttributeValue::Ss(y)) => same_members(x, y),
        (AttributeValue::Ns(x), AttributeValue::Ns(y)) => same_members(x, y),
        (AttributeValue::Bs(x), AttributeValue::Bs(y)) => same_members(x, y),
        (AttributeValue::L(x), AttributeValue::L(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q)),
        (AttributeValue::M(x), AttributeValue::M(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// `size()`: a string's length in characters, a binary's in bytes, a collection's element count.
fn size_of(v: &AttributeValue) -> Option<usize> {
    Some(match v {
        AttributeValue::S(s) => s.chars().count(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(x) => x.len(),
        AttributeValue::Ns(x) => x.len(),
        AttributeValue::Bs(x) => x.len(),
        AttributeValue::L(x) => x.len(),
        AttributeValue::M(x) => x.len(),
        _ => return None,
    })
}

fn operand<'a>(o: &'a Operand, item: &'a Item) -> Option<Cow<'a, AttributeValue>> {
    match o {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(inner) => {
            let n = size_of(operand(inner, item)?.as_ref())?;
            Number::parse(&n.to_string())
                .ok()
                .map(|n| Cow::Owned(AttributeValue::N(n)))
        }
    }
}

fn contains(haystack: &AttributeValue, needle: &AttributeValue) -> bool {
    match (haystack, needle) {
        (AttributeValue::S(h), AttributeValue::S(n)) => h.contains(n.as_str()),
        (AttributeValue::B(h), AttributeValue::B(n)) => n.is_empty() || h.windows(n.len()).any(|w| w == n.as_slice()),
        (AttributeValue::Ss(h), AttributeValue::S(n)) => h.contains(n),
        (AttributeValue::Ns(h), AttributeValue::N(n)) => h.contains(n),
        (AttributeValue::Bs(h), AttributeValue::B(n)) => h.contains(n),
        (AttributeValue::L(h), n) => h.iter().any(|x| equal(x, n)),
        _ => false,
    }
}

/// Whether an optional condition holds for an item that may not exist (a missing item is empty, as
/// DynamoDB evaluates conditions on writes).
pub fn holds(condition: Option<&Condition>, item: Option<&Item>) -> bool {
    let empty = Item::new();
    condition.is_none_or(|c| evaluate(c, item.unwrap_or(&empty)))
}

pub fn evaluate(c: &Condition, item: &Item) -> bool {
    match c {
        Condition::Compare(cmp, a, b) => {
            let (x, y) = (operand(a, item), operand(b, item));
            let (Some(x), Some(y)) = (x, y) else {
                return *cmp == Cmp::Ne;
            };
            match cmp {
                Cmp::Eq => equal(&x, &y),
                Cmp::Ne => !equal(&x, &y),
                Cmp::Lt => order(&x, &y) == Some(Ordering::Less),
                Cmp::Le => matches!(order(&x, &y), Some(Ordering::Less | Ordering::Equal)),
                Cmp::Gt => order(&x, &y) == Some(Ordering::Greater),
                Cmp::Ge => matches!(order(&x, &y), Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Condition::Between(x, low, high) => match (operand(x, item), operand(low, item), operand(high, item)) {
            (Some(x), Some(l), Some(h)) => {
                matches!(order(&l, &x), Some(Ordering::Less | Ordering::Equal))
                    && matches!(order(&x, &h), Some(Ordering::Less | Ordering::Equal))
            }
            _ => false,
        },
        Condition::In(x, list) => {
            operand(x, item).is_some_and(|x| list.iter().any(|o| operand(o, item).is_some_and(|v| equal(&x, &v))))
        }
        Condition::Exists(p) => resolve(item, p).is_some(),
        Condition::NotExists(p) => resolve(item, p).is_none(),
        Condition::IsType(p, t) => resolve(item, p).is_some_and(|v| v.type_name() == t),
        Condition::BeginsWith(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(x), Some(y)) => match (x.as_ref(), y.as_ref()) {
                (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
                (AttributeValue::B(s), AttributeValue::B(p)) => s.starts_with(p),
                _ => false,
            },
            _ => false,
        },
        Condition::Contains(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(x), Some(y)) => contains(&x, &y),
            _ => false,
        },
        Condition::And(a, b) => evaluate(a, item) && evaluate(b, item),
        Condition::Or(a, b) => evaluate(a, item) || evaluate(b, item),
        Condition::Not(a) => !evaluate(a, item),
    }
}

/// The part of a value a projection keeps, built up path by path.
enum Partial {
    Whole(AttributeValue),
    Map(BTreeMap<String, Partial>),
    /// List elements by their index in the original list; the projection keeps them in index order.
    List(BTreeMap<u32, Partial>),
}

impl Partial {
    fn insert(&mut self, value: &AttributeValue, rest: &[PathElem]) {
        let Some((first, rest)) = rest.split_first() else {
            *self = Partial::Whole(value.clone());
            return;
        };
        match (first, value) {
            (PathElem::Name(n), AttributeValue::M(m)) => {
                let Some(child) = m.get(n) else { return };
                if !matches!(self, Partial::Map(_)) {
                    *self = Partial::Map(BTreeMap::new());
                }
                if let Partial::Map(parts) = self {
                    parts
                        .entry(n.clone())
                        .or_insert_with(|| Partial::Map(BTreeMap::new()))
                        .insert(child, rest);
                }
            }
            (PathElem::Index(i), AttributeValue::L(l)) => {
                let Some(child) = l.get(*i as usize) else { return };
                if !matches!(self, Partial::List(_)) {
                    *self = Partial::List(BTreeMap::new());
                }
                if let Partial::List(parts) = self {
                    parts
                        .entry(*i)
                        .or_insert_with(|| Partial::Map(BTreeMap::new()))
                        .insert(child, rest);
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> Option<AttributeValue> {
        match self {
            Partial::Whole(v) => Some(v),
            Partial::Map(m) => {
                let m: BTreeMap<String, AttributeValue> =
                    m.into_iter().filter_map(|(k, p)| p.finish().map(|v| (k, v))).collect();
                (!m.is_empty()).then_some(AttributeValue::M(m))
            }
            Partial::List(l) => {
                let l: Vec<AttributeValue> = l.into_values().filter_map(Partial::finish).collect();
                (!l.is_empty()).then_some(AttributeValue::L(l))
            }
        }
    }
}

/// The item cut down to `paths` (ProjectionExpression, UPDATED_OLD/UPDATED_NEW): each path's value,
/// nested in the maps and lists that lead to it; paths the item lacks are left out.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut tops: BTreeMap<String, Partial> = BTreeMap::new();
    for path in paths {
        let Some((PathElem::Name(head), rest)) = path.0.split_first() else {
            continue;
        };
        let Some(value) = item.get(head) else { continue };
        tops.entry(head.clone())
            .or_insert_with(|| Partial::Map(BTreeMap::new()))
            .insert(value, rest);
    }
    tops.into_iter()
        .filter_map(|(k, p)| p.finish().map(|v| (k, v)))
        .collect()
}
