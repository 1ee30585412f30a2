//! DynamoDB's expression languages: ConditionExpression, FilterExpression, KeyConditionExpression,
//! ProjectionExpression and UpdateExpression, parsed once into an AST ([`ast`]) with DynamoDB's grammar
//! and validation messages, then evaluated ([`eval`]) or applied ([`update`]).
//!
//! A request's expressions share its `ExpressionAttributeNames` and `ExpressionAttributeValues`
//! ([`Placeholders`]); every placeholder must be used by one of them ([`Placeholders::finish`]).

pub mod ast;
pub mod eval;
mod lex;
mod parse;
mod reserved;
pub mod update;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::attr::AttributeValue;
use crate::DynamoError;
use ast::{Condition, Path, Update};
use parse::{Parser, Problem, Substitutions};

/// Expressions are at most 4 KB each.
const MAX_EXPRESSION_BYTES: usize = 4096;

/// Which expression a text is, for its grammar and the name in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Condition,
    KeyCondition,
    Filter,
    Projection,
    Update,
}

impl Kind {
    pub fn parameter(self) -> &'static str {
        match self {
            Kind::Condition => "ConditionExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::Projection => "ProjectionExpression",
            Kind::Update => "UpdateExpression",
        }
    }
}

fn validation(message: String) -> DynamoError {
    DynamoError::Validation(message)
}

fn serialization(message: &str) -> DynamoError {
    DynamoError::Serialization(message.to_owned())
}

/// A request's `ExpressionAttributeNames` and `ExpressionAttributeValues`, and which have been used.
#[derive(Debug, Default)]
pub struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    used_names: HashSet<String>,
    used_values: HashSet<String>,
}

fn placeholder_key_ok(key: &str, sigil: char) -> bool {
    key.strip_prefix(sigil)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

impl Placeholders {
    /// Reads the two maps from the wire (either may be absent), with DynamoDB's checks.
    pub fn from_json(names: Option<&Value>, values: Option<&Value>) -> Result<Placeholders, DynamoError> {
        let mut out = Placeholders::default();
        if let Some(names) = names.filter(|v| !v.is_null()) {
            let map = names.as_object().ok_or_else(|| serialization("Expected map or null"))?;
            if map.is_empty() {
                return Err(validation("ExpressionAttributeNames must not be empty".into()));
            }
            for (k, v) in map {
                if !placeholder_key_ok(k, '#') {
                    return Err(validation(format!(
                        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
                let name = v
                    .as_str()
                    .ok_or_else(|| serialization("Unexpected value type in payload"))?;
                if name.is_empty() {
                    return Err(validation(format!(
                        "ExpressionAttributeNames contains invalid value: Empty attribute name for key {k}"
                    )));
                }
                out.names.insert(k.clone(), name.to_owned());
            }
        }
        if let Some(values) = values.filter(|v| !v.is_null()) {
            let map = values
                .as_object()
                .ok_or_else(|| serialization("Expected map or null"))?;
            if map.is_empty() {
                return Err(validation("ExpressionAttributeValues must not be empty".into()));
            }
            for (k, v) in map {
                if !placeholder_key_ok(k, ':') {
                    return Err(validation(format!(
                        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
                let value = AttributeValue::from_json(v).map_err(|e| match e {
                    DynamoError::Validation(m) => validation(format!(
                        "ExpressionAttributeValues contains invalid value: {m} for key {k}"
                    )),
                    other => other,
                })?;
                out.values.insert(k.clone(), value);
            }
        }
        Ok(out)
    }

    pub fn has_names(&self) -> bool {
        !self.names.is_empty()
    }

    pub fn has_values(&self) -> bool {
        !self.values.is_empty()
    }

    fn parse<T>(
        &mut self,
        kind: Kind,
        text: &str,
        keywords: &'static [&'static str],
        priority: &[Problem],
        grammar: impl FnOnce(&mut Parser<'_, '_>) -> Result<T, parse::Syntax>,
    ) -> Result<T, DynamoError> {
        let fail = |m: String| validation(format!("Invalid {}: {m}", kind.parameter()));
        if text.is_empty() {
            return Err(fail("The expression can not be empty;".into()));
        }
        if text.len() > MAX_EXPRESSION_BYTES {
            return Err(fail(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                text.len()
            )));
        }
        let toks = match lex::lex(text) {
            Ok(t) => t,
            Err(bad) => {
                let near_end = text[bad.end..]
                    .find(|c: char| c.is_whitespace())
                    .map_or(text.len(), |i| bad.end + i);
                let near_start = text[..bad.start]
                    .trim_end()
                    .rfind(char::is_whitespace)
                    .map_or(0, |i| i + 1);
                return Err(fail(format!(
                    "Syntax error; token: \"{}\", near: \"{}\"",
                    &text[bad.start..bad.end],
                    &text[near_start..near_end]
                )));
            }
        };
        let mut subs = Substitutions {
            names: &self.names,
            values: &self.values,
            used_names: &mut self.used_names,
            used_values: &mut self.used_values,
        };
        let syntax_toks = toks.clone();
        let mut parser = Parser::new(text, toks, &mut subs, keywords);
        let parsed = grammar(&mut parser).and_then(|t| parser.end().map(|()| t));
        let parsed = parsed.map_err(|e| fail(Parser::syntax_message(text, &syntax_toks, e.0)))?;
        for p in priority {
            if let Some((_, m)) = parser.problems.iter().find(|(q, _)| q == p) {
                return Err(fail(m.clone()));
            }
        }
        Ok(parsed)
    }

    /// Parses a ConditionExpression, FilterExpression or KeyConditionExpression.
    pub fn condition(&mut self, kind: Kind, text: &str) -> Result<Condition, DynamoError> {
        const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN"];
        self.parse(kind, text, KEYWORDS, parse::CONDITION_PRIORITY, |p| p.condition())
    }

    pub fn update(&mut self, text: &str) -> Result<Update, DynamoError> {
        const KEYWORDS: &[&str] = &["SET", "REMOVE", "ADD", "DELETE"];
        self.parse(Kind::Update, text, KEYWORDS, parse::UPDATE_PRIORITY, |p| {
            let u = p.update()?;
            p.check_overlaps(u.paths());
            Ok(u)
        })
    }

    pub fn projection(&mut self, text: &str) -> Result<Vec<Path>, DynamoError> {
        self.parse(Kind::Projection, text, &[], parse::PROJECTION_PRIORITY, |p| {
            let paths = p.projection()?;
            p.check_overlaps(paths.iter());
            Ok(paths)
        })
    }

    /// Every placeholder given must have been used by the request's expressions.
    pub fn finish(&self) -> Result<(), DynamoError> {
        let unused = |all: Vec<&String>, used: &HashSet<String>| {
            let mut left: Vec<&str> = all
                .into_iter()
                .filter(|k| !used.contains(*k))
                .map(String::as_str)
                .collect();
            left.sort_unstable();
            left.join(", ")
        };
        let names = unused(self.names.keys().collect(), &self.used_names);
        if !names.is_empty() {
            return Err(validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{names}}}"
            )));
        }
        let values = unused(self.values.keys().collect(), &self.used_values);
        if !values.is_empty() {
            return Err(validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{values}}}"
            )));
        }
        Ok(())
    }
}

/// The request-level rules on mixing parameters: legacy and expression parameters never together, and
/// placeholders only alongside the expressions that can use them. `expressions` and `legacy` name the
/// parameters the operation has, each with whether the request set it.
pub fn check_parameters(
    expressions: &[(&str, bool)],
    legacy: &[(&str, bool)],
    has_names: bool,
    has_values: bool,
) -> Result<(), DynamoError> {
    let used_expressions: Vec<&str> = expressions.iter().filter(|(_, set)| *set).map(|(n, _)| *n).collect();
    let used_legacy: Vec<&str> = legacy.iter().filter(|(_, set)| *set).map(|(n, _)| *n).collect();
    if !used_expressions.is_empty() && !used_legacy.is_empty() {
        return Err(validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            used_legacy.join(", "),
            used_expressions.join(", ")
        )));
    }
    if has_names && used_expressions.is_empty() {
        return Err(validation(
            "ExpressionAttributeNames can only be specified when using expressions".into(),
        ));
    }
    let value_users: Vec<&str> = expressions
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n != "ProjectionExpression")
        .collect();
    let values_usable = expressions.iter().any(|(n, set)| *set && *n != "ProjectionExpression");
    if has_values && !values_usable && !value_users.is_empty() {
        return Err(validation(format!(
            "ExpressionAttributeValues can only be specified when using expressions: {} {} null",
            value_users.join(" and "),
            if value_users.len() > 1 { "are" } else { "is" }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
