//! A request's expressions, read from the wire: the placeholders, each expression parameter the operation
//! has (parsed in DynamoDB's order), the legacy parameters that stand for them, and the rules on mixing.

use dynamodb::expr::ast::{Condition, Path, PathElem, Update};
use dynamodb::expr::{check_parameters, Kind, Placeholders};
use dynamodb::legacy;
use serde_json::Value;

use crate::services::input::Input;
use crate::ApiError;

#[derive(Default)]
pub struct Expressions {
    pub update: Option<Update>,
    pub condition: Option<Condition>,
    pub key_condition: Option<Condition>,
    pub filter: Option<Condition>,
    /// From ProjectionExpression or AttributesToGet.
    pub projection: Option<Vec<Path>>,
}

fn present<'a>(i: &Input<'a>, name: &str) -> Option<&'a Value> {
    i.0.get(name).filter(|v| !v.is_null())
}

/// The legacy parameter each expression kind replaces.
fn legacy_for(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Condition => &["Expected"],
        Kind::KeyCondition => &["KeyConditions"],
        Kind::Filter => &["QueryFilter", "ScanFilter"],
        Kind::Projection => &["AttributesToGet"],
        Kind::Update => &["AttributeUpdates"],
    }
}

/// Reads the expressions of an operation that has the expression parameters `kinds` (and the legacy
/// parameters they replace).
pub fn read(i: &Input<'_>, kinds: &[Kind]) -> Result<Expressions, ApiError> {
    let mut placeholders = Placeholders::from_json(
        i.0.get("ExpressionAttributeNames"),
        i.0.get("ExpressionAttributeValues"),
    )?;
    let expressions: Vec<(&str, bool)> = kinds
        .iter()
        .map(|k| (k.parameter(), present(i, k.parameter()).is_some()))
        .collect();
    let mut legacy_names: Vec<&str> = kinds.iter().flat_map(|k| legacy_for(*k).iter().copied()).collect();
    if kinds.contains(&Kind::Condition) || kinds.contains(&Kind::Filter) {
        legacy_names.push("ConditionalOperator");
    }
    let legacy_set: Vec<(&str, bool)> = legacy_names.iter().map(|n| (*n, present(i, n).is_some())).collect();
    // KeyConditions alone may come with the other expressions (DynamoDB's own exception to the rule).
    let mixing: Vec<(&str, bool)> = legacy_set
        .iter()
        .map(|(n, set)| {
            (
                *n,
                *set && !(*n == "KeyConditions" && present(i, "KeyConditionExpression").is_none()),
            )
        })
        .collect();
    check_parameters(
        &expressions,
        &mixing,
        placeholders.has_names(),
        placeholders.has_values(),
    )?;

    let mut out = Expressions::default();
    for kind in [
        Kind::Update,
        Kind::Condition,
        Kind::KeyCondition,
        Kind::Filter,
        Kind::Projection,
    ] {
        if !kinds.contains(&kind) {
            continue;
        }
        let Some(text) = i.opt_str(kind.parameter())? else {
            continue;
        };
        match kind {
            Kind::Update => out.update = Some(placeholders.update(text)?),
            Kind::Projection => out.projection = Some(placeholders.projection(text)?),
            Kind::Condition => out.condition = Some(placeholders.condition(kind, text)?),
            Kind::KeyCondition => out.key_condition = Some(placeholders.condition(kind, text)?),
            Kind::Filter => out.filter = Some(placeholders.condition(kind, text)?),
        }
    }
    placeholders.finish()?;

    let operator = i.opt_str("ConditionalOperator")?;
    if let Some(v) = present(i, "Expected") {
        out.condition = legacy::conditions(v, operator, legacy::Use::Expected)?;
    }
    for name in ["QueryFilter", "ScanFilter"] {
        if let Some(v) = present(i, name).filter(|_| kinds.contains(&Kind::Filter)) {
            out.filter = legacy::conditions(v, operator, legacy::Use::Filter)?;
        }
    }
    if let Some(v) = present(i, "KeyConditions").filter(|_| out.key_condition.is_none()) {
        out.key_condition = legacy::conditions(v, None, legacy::Use::KeyConditions)?;
    }
    if let Some(v) = present(i, "AttributeUpdates") {
        out.update = Some(legacy::attribute_updates(v)?);
    }
    if present(i, "AttributesToGet").is_some() {
        let names = i.str_list("AttributesToGet")?;
        out.projection = Some(names.into_iter().map(|n| Path(vec![PathElem::Name(n)])).collect());
    }
    Ok(out)
}
