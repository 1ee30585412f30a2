//! Evaluation: which statements apply to a request, and how identity-based and resource-based policies
//! combine.
//!
//! The rule for resource-based policies is KMS's (and IAM trust policies'): a statement naming the caller
//! (or everyone) allows on its own; a statement naming the caller's *account* delegates to that account's
//! identity policies, which must then allow too. Explicit deny anywhere wins.

use std::sync::Arc;

use super::condition::ConditionKeys;
use super::document::{is_account_id, Effect, Policy, PrincipalSpec, Statement};
use super::wildcard;
use crate::principal::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user or role; no principals.
    Identity,
    /// Attached to a resource (a KMS key): statements name principals and resources.
    Resource,
    /// A role's trust policy: statements name principals; `Resource` plays no part.
    Trust,
}

pub struct RequestContext<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub resource: &'a str,
    pub keys: &'a ConditionKeys,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PolicyOutcome {
    pub explicit_deny: bool,
    /// Allowed for this principal (or everyone) by name.
    pub allow_direct: bool,
    /// Allowed for the principal's account: a delegation to the account's identity policies.
    pub allow_via_account: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    ExplicitIdentity,
    ExplicitResource,
    NoIdentityAllow,
    NoResourceAllow,
}

impl Denial {
    /// The tail of AWS's AccessDenied message.
    pub fn reason(&self, action: &str) -> String {
        match self {
            Denial::ExplicitIdentity => "with an explicit deny in an identity-based policy".to_owned(),
            Denial::ExplicitResource => "with an explicit deny in a resource-based policy".to_owned(),
            Denial::NoIdentityAllow => format!("because no identity-based policy allows the {action} action"),
            Denial::NoResourceAllow => format!("because no resource-based policy allows the {action} action"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrincipalMatch {
    Direct,
    Account,
}

fn principal_match(spec: &PrincipalSpec, caller: &Principal) -> Option<PrincipalMatch> {
    let (aws, service) = match spec {
        PrincipalSpec::Any => return Some(PrincipalMatch::Direct),
        PrincipalSpec::Map { aws, service, .. } => (aws, service),
    };
    if let Principal::Service { service: name } = caller {
        return service.iter().any(|s| s == name).then_some(PrincipalMatch::Direct);
    }
    let arn = caller.arn();
    let role_arn = caller.role_arn();
    let account = caller.account().unwrap_or_default();
    let mut best = None;
    for a in aws {
        if a == "*" || *a == arn || role_arn.as_deref() == Some(a.as_str()) {
            return Some(PrincipalMatch::Direct);
        }
        let names_account = (is_account_id(a) && a == account) || *a == format!("arn:aws:iam::{account}:root");
        if names_account {
            best = Some(PrincipalMatch::Account);
        }
    }
    best
}

fn list_matches(list: &(Vec<String>, bool), value: &str, ignore_case: bool) -> bool {
    let (patterns, negated) = list;
    let hit = patterns.iter().any(|p| {
        if ignore_case {
            wildcard::matches_ignore_case(p, value)
        } else {
            wildcard::matches(p, value)
        }
    });
    hit != *negated
}

/// Whether the statement applies to the request, and through which principal match.
fn statement_applies(s: &Statement, kind: PolicyKind, ctx: &RequestContext<'_>) -> Option<PrincipalMatch> {
    let how = match kind {
        PolicyKind::Identity => PrincipalMatch::Direct,
        PolicyKind::Resource | PolicyKind::Trust => match (&s.principal, &s.not_principal) {
            (Some(p), _) => principal_match(p, ctx.principal)?,
            (None, Some(np)) => {
                if principal_match(np, ctx.principal).is_some() {
                    return None;
                }
                PrincipalMatch::Direct
            }
            (None, None) => return None,
        },
    };
    let action = s.action.as_ref()?;
    if !list_matches(action, ctx.action, true) {
        return None;
    }
    if kind != PolicyKind::Trust {
        let resource = s.resource.as_ref()?;
        if !list_matches(resource, ctx.resource, false) {
            return None;
        }
    }
    if !s.conditions.iter().all(|c| c.holds(ctx.keys)) {
        return None;
    }
    Some(how)
}

impl Policy {
    pub fn evaluate(&self, kind: PolicyKind, ctx: &RequestContext<'_>) -> PolicyOutcome {
        let mut out = PolicyOutcome::default();
        for s in &self.statements {
            match (statement_applies(s, kind, ctx), s.effect) {
                (Some(_), Effect::Deny) => out.explicit_deny = true,
                (Some(PrincipalMatch::Direct), Effect::Allow) => out.allow_direct = true,
                (Some(PrincipalMatch::Account), Effect::Allow) => out.allow_via_account = true,
                (None, _) => {}
            }
        }
        out
    }
}

fn identity_outcome(policies: &[Arc<Policy>], ctx: &RequestContext<'_>) -> PolicyOutcome {
    let mut out = PolicyOutcome::default();
    for p in policies {
        let o = p.evaluate(PolicyKind::Identity, ctx);
        out.explicit_deny |= o.explicit_deny;
        out.allow_direct |= o.allow_direct;
    }
    // The root user needs no identity policy in its own account.
    if ctx.principal.is_root() {
        out.allow_direct = true;
    }
    out
}

/// Identity policies alone decide (IAM, STS, DynamoDB in one account).
pub fn authorize_identity(identity: &[Arc<Policy>], ctx: &RequestContext<'_>) -> Result<(), Denial> {
    let id = identity_outcome(identity, ctx);
    if id.explicit_deny {
        Err(Denial::ExplicitIdentity)
    } else if id.allow_direct {
        Ok(())
    } else {
        Err(Denial::NoIdentityAllow)
    }
}

/// A resource-based policy must allow, directly or by delegating to the account's identity policies.
pub fn authorize_with_resource_policy(
    identity: &[Arc<Policy>],
    resource_policy: &Policy,
    kind: PolicyKind,
    ctx: &RequestContext<'_>,
) -> Result<(), Denial> {
    let id = identity_outcome(identity, ctx);
    let res = resource_policy.evaluate(kind, ctx);
    if id.explicit_deny {
        return Err(Denial::ExplicitIdentity);
    }
    if res.explicit_deny {
        return Err(Denial::ExplicitResource);
    }
    if res.allow_direct {
        return Ok(());
    }
    if res.allow_via_account {
        return if id.allow_direct {
            Ok(())
        } else {
            Err(Denial::NoIdentityAllow)
        };
    }
    Err(Denial::NoResourceAllow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Principal {
        Principal::User {
            account: "111122223333".into(),
            name: name.into(),
            path: "/".into(),
            user_id: "AIDAEXAMPLE".into(),
        }
    }

    fn p(doc: &str) -> Arc<Policy> {
        Arc::new(Policy::parse(doc).unwrap())
    }

    fn ctx<'a>(principal: &'a Principal, action: &'a str, keys: &'a ConditionKeys) -> RequestContext<'a> {
        RequestContext {
            principal,
            action,
            resource: "arn:aws:kms:us-west-2:111122223333:key/k1",
            keys,
        }
    }

    #[test]
    fn identity_allow_deny_and_default() {
        let bob = user("bob");
        let keys = ConditionKeys::new();
        let allow = p(r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#);
        let deny = p(r#"{"Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}"#);
        assert_eq!(
            authorize_identity(&[], &ctx(&bob, "kms:Decrypt", &keys)),
            Err(Denial::NoIdentityAllow)
        );
        assert_eq!(
            authorize_identity(std::slice::from_ref(&allow), &ctx(&bob, "kms:Decrypt", &keys)),
            Ok(())
        );
        assert_eq!(
            authorize_identity(&[allow.clone(), deny.clone()], &ctx(&bob, "kms:Decrypt", &keys)),
            Err(Denial::ExplicitIdentity)
        );
        assert_eq!(
            authorize_identity(&[allow, deny], &ctx(&bob, "kms:Encrypt", &keys)),
            Ok(())
        );
        let root = Principal::Root {
            account: "111122223333".into(),
        };
        assert_eq!(authorize_identity(&[], &ctx(&root, "kms:Decrypt", &keys)), Ok(()));
    }

    #[test]
    fn not_action_and_not_resource() {
        let bob = user("bob");
        let keys = ConditionKeys::new();
        let pol = p(
            r#"{"Statement":[{"Effect":"Allow","NotAction":"kms:Decrypt","NotResource":"arn:aws:kms:*:*:key/other"}]}"#,
        );
        assert_eq!(
            authorize_identity(std::slice::from_ref(&pol), &ctx(&bob, "kms:Encrypt", &keys)),
            Ok(())
        );
        assert!(authorize_identity(&[pol], &ctx(&bob, "kms:Decrypt", &keys)).is_err());
    }

    #[test]
    fn actions_match_case_insensitively_resources_do_not() {
        let bob = user("bob");
        let keys = ConditionKeys::new();
        let pol = p(
            r#"{"Statement":[{"Effect":"Allow","Action":"KMS:decrypt","Resource":"arn:aws:kms:us-west-2:111122223333:KEY/*"}]}"#,
        );
        assert!(authorize_identity(&[pol], &ctx(&bob, "kms:Decrypt", &keys)).is_err());
        let pol = p(
            r#"{"Statement":[{"Effect":"Allow","Action":"KMS:decrypt","Resource":"arn:aws:kms:us-west-2:111122223333:key/*"}]}"#,
        );
        assert!(authorize_identity(&[pol], &ctx(&bob, "kms:Decrypt", &keys)).is_ok());
    }

    #[test]
    fn resource_policy_delegation_to_the_account() {
        let bob = user("bob");
        let keys = ConditionKeys::new();
        let key_policy = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#,
        );
        let iam_allow = p(r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#);
        let c = ctx(&bob, "kms:Decrypt", &keys);
        assert_eq!(
            authorize_with_resource_policy(&[], &key_policy, PolicyKind::Resource, &c),
            Err(Denial::NoIdentityAllow)
        );
        assert_eq!(
            authorize_with_resource_policy(std::slice::from_ref(&iam_allow), &key_policy, PolicyKind::Resource, &c),
            Ok(())
        );
        // IAM alone never reaches a resource whose policy does not delegate.
        let other = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}]}"#,
        );
        assert_eq!(
            authorize_with_resource_policy(&[iam_allow], &other, PolicyKind::Resource, &c),
            Err(Denial::NoResourceAllow)
        );
    }

    #[test]
    fn named_principals_role_sessions_and_services() {
        let keys = ConditionKeys::new();
        let session = Principal::AssumedRole {
            account: "111122223333".into(),
            role_name: "Admin".into(),
            role_path: "/".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "user01".into(),
            issued_at_ms: 0,
        };
        let pol = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
        );
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&session, "kms:Decrypt", &keys)),
            Ok(())
        );
        let svc = Principal::Service {
            service: "dynamodb.amazonaws.com".into(),
        };
        let pol = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"dynamodb.amazonaws.com"},"Action":"kms:Describe*","Resource":"*"}]}"#,
        );
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&svc, "kms:DescribeKey", &keys)),
            Ok(())
        );
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&svc, "kms:Decrypt", &keys)),
            Err(Denial::NoResourceAllow)
        );
        let bob = user("bob");
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&bob, "kms:DescribeKey", &keys)),
            Err(Denial::NoResourceAllow)
        );
    }

    #[test]
    fn not_principal_and_explicit_deny_in_the_resource_policy() {
        let keys = ConditionKeys::new();
        let bob = user("bob");
        let eve = user("eve");
        let pol = p(r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Decrypt","Resource":"*"}]}"#);
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&bob, "kms:Decrypt", &keys)),
            Ok(())
        );
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&eve, "kms:Decrypt", &keys)),
            Err(Denial::ExplicitResource)
        );
    }

    #[test]
    fn via_service_condition_refuses_direct_calls() {
        let bob = user("bob");
        let pol = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*",
            "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"dynamodb.us-west-2.amazonaws.com"}}}]}"#,
        );
        let mut direct = ConditionKeys::new();
        direct.set("kms:CallerAccount", "111122223333");
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&bob, "kms:Decrypt", &direct)),
            Err(Denial::NoResourceAllow)
        );
        let mut via = direct.clone();
        via.set("kms:ViaService", "dynamodb.us-west-2.amazonaws.com");
        assert_eq!(
            authorize_with_resource_policy(&[], &pol, PolicyKind::Resource, &ctx(&bob, "kms:Decrypt", &via)),
            Ok(())
        );
    }

    #[test]
    fn trust_policies_ignore_resources() {
        let bob = user("bob");
        let keys = ConditionKeys::new();
        let trust = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"sts:AssumeRole"}]}"#,
        );
        assert_eq!(
            authorize_with_resource_policy(&[], &trust, PolicyKind::Trust, &ctx(&bob, "sts:AssumeRole", &keys)),
            Ok(())
        );
    }
}
