//! Parsing policy documents (JSON) into typed statements, with IAM's validation.

use serde_json::Value;

use super::condition::{Condition, Operator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a resource-based statement speaks of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSpec {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Any,
    Map {
        aws: Vec<String>,
        service: Vec<String>,
        federated: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalSpec>,
    pub not_principal: Option<PrincipalSpec>,
    /// `(patterns, negated)`: `Action` or `NotAction`.
    pub action: Option<(Vec<String>, bool)>,
    pub resource: Option<(Vec<String>, bool)>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Whether any statement has a condition: only conditions read a request's condition keys, so a
    /// caller can skip gathering them when no policy in play has one.
    pub fn has_conditions(&self) -> bool {
        self.statements.iter().any(|s| !s.conditions.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(msg.into()))
}

/// `"x"` or `["x", "y"]` as a list of strings.
fn string_or_list(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => err(format!(
                    "Syntax errors in policy. {what} must be a string or a list of strings."
                )),
            })
            .collect(),
        _ => err(format!(
            "Syntax errors in policy. {what} must be a string or a non-empty list of strings."
        )),
    }
}

fn principal_spec(v: &Value) -> Result<PrincipalSpec, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalSpec::Any),
        Value::Object(map) => {
            let (mut aws, mut service, mut federated) = (Vec::new(), Vec::new(), Vec::new());
            for (k, val) in map {
                let list = string_or_list(val, "Principal")?;
                match k.as_str() {
                    "AWS" => aws.extend(list),
                    "Service" => service.extend(list),
                    "Federated" | "CanonicalUser" => federated.extend(list),
                    other => return err(format!("Invalid principal in policy: \"{other}\"")),
                }
            }
            if aws.len() == 1 && aws[0] == "*" && service.is_empty() && federated.is_empty() {
                return Ok(PrincipalSpec::Any);
            }
            for a in &aws {
                if a != "*" && !is_account_id(a) && !a.starts_with("arn:") {
                    return err(format!("Invalid principal in policy: \"AWS\":\"{a}\""));
                }
            }
            Ok(PrincipalSpec::Map {
                aws,
                service,
                federated,
            })
        }
        _ => err("Syntax errors in policy. Principal must be \"*\" or an object."),
    }
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn statement(v: &Value) -> Result<Statement, PolicyError> {
    let obj = match v {
        Value::Object(o) => o,
        _ => return err("Syntax errors in policy. A Statement must be an object."),
    };
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return err(format!("Syntax errors in policy. Unknown field {k}."));
        }
    }
    let effect = match obj.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(_) => return err("Syntax errors in policy. Effect must be \"Allow\" or \"Deny\"."),
        None => return err("Syntax errors in policy. Missing required field Effect."),
    };
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return err("Syntax errors in policy. Sid must be a string."),
    };
    let pair = |pos: &str, neg: &str| -> Result<Option<(Vec<String>, bool)>, PolicyError> {
        match (obj.get(pos), obj.get(neg)) {
            (Some(_), Some(_)) => err(format!(
                "Syntax errors in policy. A statement cannot have both {pos} and {neg}."
            )),
            (Some(v), None) => Ok(Some((string_or_list(v, pos)?, false))),
            (None, Some(v)) => Ok(Some((string_or_list(v, neg)?, true))),
            (None, None) => Ok(None),
        }
    };
    let action = pair("Action", "NotAction")?;
    let resource = pair("Resource", "NotResource")?;
    if let Some((actions, _)) = &action {
        for a in actions {
            if a != "*" && !a.contains(':') {
                return err(format!(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. Action: {a}"
                ));
            }
        }
    }
    if obj.contains_key("Principal") && obj.contains_key("NotPrincipal") {
        return err("Syntax errors in policy. A statement cannot have both Principal and NotPrincipal.");
    }
    let principal = obj.get("Principal").map(principal_spec).transpose()?;
    let not_principal = obj.get("NotPrincipal").map(principal_spec).transpose()?;
    let mut conditions = Vec::new();
    if let Some(c) = obj.get("Condition") {
        let map = match c {
            Value::Object(m) => m,
            _ => return err("Syntax errors in policy. Condition must be an object."),
        };
        for (op_name, block) in map {
            let op = Operator::parse(op_name).ok_or_else(|| {
                PolicyError(format!(
                    "Syntax errors in policy. Unknown condition operator {op_name}."
                ))
            })?;
            let block = match block {
                Value::Object(b) => b,
                _ => {
                    return err(format!(
                        "Syntax errors in policy. Condition {op_name} must be an object."
                    ))
                }
            };
            for (key, values) in block {
                let values = match values {
                    Value::String(s) => vec![s.clone()],
                    Value::Bool(b) => vec![b.to_string()],
                    Value::Number(n) => vec![n.to_string()],
                    Value::Array(items) => items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => Ok(s.clone()),
                            Value::Bool(b) => Ok(b.to_string()),
                            Value::Number(n) => Ok(n.to_string()),
                            _ => err(format!("Syntax errors in policy. Bad value for condition key {key}.")),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return err(format!("Syntax errors in policy. Bad value for condition key {key}.")),
                };
                conditions.push(Condition::new(op.clone(), key, values)?);
            }
        }
    }
    Ok(Statement {
        sid,
        effect,
        principal,
        not_principal,
        action,
        resource,
        conditions,
    })
}

impl Policy {
    /// Parses a document. Callers apply the rules of their policy kind with [`Policy::validate_identity`]
    /// or [`Policy::validate_resource`].
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let v: Value = serde_json::from_str(text).map_err(|_| PolicyError("Syntax errors in policy.".into()))?;
        let obj = match &v {
            Value::Object(o) => o,
            _ => return err("Syntax errors in policy."),
        };
        for k in obj.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return err(format!("Syntax errors in policy. Unknown field {k}."));
            }
        }
        match obj.get("Version") {
            None => {}
            Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => {}
            Some(_) => return err("The policy must contain a valid version string"),
        }
        let id = match obj.get("Id") {
            Some(Value::String(s)) => Some(s.clone()),
            None => None,
            Some(_) => return err("Syntax errors in policy. Id must be a string."),
        };
        let statements = match obj.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(statement).collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![statement(s)?],
            _ => return err("Syntax errors in policy. Missing required field Statement."),
        };
        Ok(Policy { id, statements })
    }

    /// An identity-based policy: no principals; every statement has an action and a resource.
    pub fn validate_identity(&self) -> Result<(), PolicyError> {
        for s in &self.statements {
            if s.principal.is_some() || s.not_principal.is_some() {
                return err("Policy document should not specify a principal.");
            }
            if s.action.is_none() {
                return err("Policy statement must contain actions.");
            }
            if s.resource.is_none() {
                return err("Policy statement must contain resources.");
            }
        }
        Ok(())
    }

    /// A resource-based policy (trust policy, key policy): every statement names a principal.
    pub fn validate_resource(&self) -> Result<(), PolicyError> {
        for s in &self.statements {
            if s.principal.is_none() && s.not_principal.is_none() {
                return err("Policy document should specify a principal.");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_strings_and_lists_both_parse() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":["a","b"]}}"#,
        )
        .unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].resource.as_ref().unwrap().0.len(), 2);
        p.validate_identity().unwrap();
    }

    #[test]
    fn malformed_documents_are_refused_with_reasons() {
        for (doc, needle) in [
            ("not json", "Syntax errors"),
            (r#"{"Statement":[{"Action":"a:b","Resource":"*"}]}"#, "Effect"),
            (r#"{"Version":"2020-01-01","Statement":[]}"#, "version"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"Decrypt","Resource":"*"}]}"#,
                "vendor",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a:b","NotAction":"a:c","Resource":"*"}]}"#,
                "both",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"Bogus":{"a":"b"}}}]}"#,
                "Bogus",
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Action":"a:b","Resource":"*"}]}"#,
                "Effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"a:b"}]}"#,
                "principal",
            ),
        ] {
            let e = Policy::parse(doc).unwrap_err();
            assert!(e.0.contains(needle), "{doc}: {e}");
        }
    }

    #[test]
    fn identity_and_resource_rules() {
        let with_principal =
            Policy::parse(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}]}"#)
                .unwrap();
        assert!(with_principal.validate_identity().is_err());
        with_principal.validate_resource().unwrap();
        let without = Policy::parse(r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}"#).unwrap();
        assert!(without.validate_resource().is_err());
    }
}
