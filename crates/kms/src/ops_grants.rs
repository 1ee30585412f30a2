//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use base64::Engine;
use iam::policy::ConditionKeys;
use serde_json::{json, Map, Value};

use crate::model::*;
use crate::ops_keys::{check_limit, page, Page};
use crate::{check_state, ec_json, grantee_matches, Check, EncryptionContext, Kms, KmsCaller, KmsError, StateRule};

#[derive(Debug, Clone, Default)]
pub struct CreateGrantInput {
    pub key_id: String,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    pub constraints: Constraints,
    pub grant_tokens: Vec<String>,
    pub name: Option<String>,
    pub dry_run: bool,
}

/// A GrantListEntry.
#[derive(Debug, Clone)]
pub struct GrantEntry {
    pub key_arn: String,
    pub grant: Grant,
}

fn constraints_json(c: &Constraints) -> Option<Value> {
    if c.is_empty() {
        return None;
    }
    let mut m = Map::new();
    if let Some(s) = &c.subset {
        m.insert("encryptionContextSubset".into(), ec_json(s));
    }
    if let Some(e) = &c.equals {
        m.insert("encryptionContextEquals".into(), ec_json(e));
    }
    Some(Value::Object(m))
}

fn ops_for_spec(spec: KeySpec, usage: KeyUsage, op: GrantOperation) -> bool {
    use GrantOperation::*;
    match op {
        CreateGrant | RetireGrant | DescribeKey => true,
        Encrypt | Decrypt | ReEncryptFrom | ReEncryptTo => usage == KeyUsage::EncryptDecrypt,
        GenerateDataKey
        | GenerateDataKeyWithoutPlaintext
        | GenerateDataKeyPair
        | GenerateDataKeyPairWithoutPlaintext => spec == KeySpec::SymmetricDefault,
        Sign | Verify => usage == KeyUsage::SignVerify,
        GetPublicKey => spec.is_rsa() || spec.is_ecc(),
        GenerateMac | VerifyMac => usage == KeyUsage::GenerateVerifyMac,
    }
}

fn new_token(grant_id: &str) -> Result<String, KmsError> {
    let mut raw = hex::decode(grant_id).unwrap_or_default();
    raw.extend(base::random::bytes(32)?);
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

impl Kms {
    /// Returns `(grant id, grant token)`.
    pub fn create_grant(&self, caller: &KmsCaller, input: CreateGrantInput) -> Result<(String, String), KmsError> {
        let mut p = Map::new();
        p.insert("keyId".into(), json!(input.key_id));
        p.insert("granteePrincipal".into(), json!(input.grantee_principal));
        if let Some(r) = &input.retiring_principal {
            p.insert("retiringPrincipal".into(), json!(r));
        }
        p.insert("operations".into(), json!(input.operations));
        if let Some(c) = constraints_json(&input.constraints) {
            p.insert("constraints".into(), c);
        }
        if let Some(n) = &input.name {
            p.insert("name".into(), json!(n));
        }
        self.audited(caller, "CreateGrant", false, Value::Object(p), |audit| {
            if input.operations.is_empty() {
                return Err(KmsError::validation("[]", "operations", "Member must have length greater than or equal to 1"));
            }
            let ops = input
                .operations
                .iter()
                .map(|o| {
                    GrantOperation::parse(o).ok_or_else(|| {
                        KmsError::validation(o, "operations", &format!("Member must satisfy enum value set: {}", GrantOperation::value_set()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if input.grantee_principal.is_empty() || input.grantee_principal.len() > 256 {
                return Err(KmsError::validation(&input.grantee_principal, "granteePrincipal", "Member must have length between 1 and 256"));
            }
            if let Some(n) = &input.name {
                let ok = !n.is_empty() && n.len() <= 256 && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'));
                if !ok {
                    return Err(KmsError::validation(n, "name", "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"));
                }
            }
            for m in [&input.constraints.subset, &input.constraints.equals].into_iter().flatten() {
                if m.len() > 8 || m.values().any(|v| v.chars().count() > 384) {
                    return Err(KmsError::Validation(
                        "A grant constraint may hold at most 8 encryption context pairs, each value at most 384 characters.".into(),
                    ));
                }
            }
            let st = self.read();
            self.check_grant_tokens(&st, &input.grant_tokens)?;
            let k = self.resolve(&st, caller, &input.key_id, false)?;
            audit.key(k);
            let mut extra = ConditionKeys::new();
            extra
                .set_many("kms:GrantOperations", input.operations.clone())
                .set("kms:GranteePrincipal", input.grantee_principal.clone())
                .set("kms:GrantIsForAWSResource", caller.invoked_by.is_some().to_string());
            if let Some(r) = &input.retiring_principal {
                extra.set("kms:RetiringPrincipal", r.clone());
            }
            if input.constraints.subset.is_some() {
                extra.set("kms:GrantConstraintType", "EncryptionContextSubset");
            } else if input.constraints.equals.is_some() {
                extra.set("kms:GrantConstraintType", "EncryptionContextEquals");
            }
            let constraint_ec: EncryptionContext = input
                .constraints
                .subset
                .clone()
                .or_else(|| input.constraints.equals.clone())
                .unwrap_or_default();
            self.authorize(&st, caller, k, &Check { action: "kms:CreateGrant", grant_op: Some(GrantOperation::CreateGrant), ec: Some(&constraint_ec), extra: &extra })?;
            check_state(k, StateRule::Crypto)?;
            if !input.constraints.is_empty() && k.spec != KeySpec::SymmetricDefault {
                return Err(KmsError::Validation(
                    "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.".into(),
                ));
            }
            if let Some(bad) = ops.iter().find(|o| !ops_for_spec(k.spec, k.usage, **o)) {
                return Err(KmsError::Validation(format!(
                    "Grant operation {} is not valid for a KMS key with key spec {} and key usage {}.",
                    bad.as_str(),
                    k.spec.as_str(),
                    k.usage.as_str()
                )));
            }
            if input.dry_run {
                return Err(KmsError::DryRun("The request would have succeeded, but the DryRun option is set.".into()));
            }
            let arn = k.arn();
            let issuing = format!("arn:aws:iam::{}:root", caller.principal.account().unwrap_or(&k.account));
            drop(st);
            let (id, token) = self.mutate(|st, now| {
                let k = st.keys.get_mut(&arn).ok_or_else(|| KmsError::NotFound(format!("Key '{arn}' does not exist")))?;
                if let Some(name) = &input.name {
                    if let Some(g) = k.grants.iter_mut().find(|g| {
                        g.name.as_deref() == Some(name)
                            && g.grantee == input.grantee_principal
                            && g.retiring == input.retiring_principal
                            && g.operations == ops
                            && g.constraints == input.constraints
                    }) {
                        let token = new_token(&g.grant_id)?;
                        g.tokens.push(token.clone());
                        return Ok((g.grant_id.clone(), token));
                    }
                }
                if k.grants.len() >= 50_000 {
                    return Err(KmsError::LimitExceeded(format!("The grant quota of 50000 for {arn} has been reached.")));
                }
                let grant_id = hex::encode(base::random::bytes(32)?);
                let token = new_token(&grant_id)?;
                k.grants.push(Grant {
                    grant_id: grant_id.clone(),
                    name: input.name.clone(),
                    created_ms: now,
                    grantee: input.grantee_principal.clone(),
                    retiring: input.retiring_principal.clone(),
                    issuing_account: issuing,
                    operations: ops,
                    constraints: input.constraints.clone(),
                    tokens: vec![token.clone()],
                });
                Ok((grant_id, token))
            })?;
            audit.response(json!({ "grantId": id }));
            Ok((id, token))
        })
    }

    pub fn list_grants(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
        grant_id: Option<&str>,
        grantee: Option<&str>,
    ) -> Result<Page<GrantEntry>, KmsError> {
        self.inspect_key(
            caller,
            "ListGrants",
            json!({ "keyId": key_id, "limit": limit }),
            key_id,
            || check_limit(limit, 100, 50),
            |k, limit| {
                if let Some(id) = grant_id {
                    if !k.grants.iter().any(|g| g.grant_id == id) {
                        return Err(KmsError::InvalidGrantId(format!("Grant ID {id} not found")));
                    }
                }
                let items: Vec<GrantEntry> = k
                    .grants
                    .iter()
                    .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
                    .filter(|g| grantee.is_none_or(|p| g.grantee == p))
                    .map(|g| GrantEntry {
                        key_arn: k.arn(),
                        grant: g.clone(),
                    })
                    .collect();
                page(items, marker, limit, |e| e.grant.grant_id.clone())
            },
        )
    }

    pub fn list_retirable_grants(
        &self,
        caller: &KmsCaller,
        retiring: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<GrantEntry>, KmsError> {
        self.audited(
            caller,
            "ListRetirableGrants",
            true,
            json!({ "retiringPrincipal": retiring }),
            |_| {
                let limit = check_limit(limit, 100, 50)?;
                self.authorize_iam(caller, "kms:ListRetirableGrants")?;
                let st = self.read();
                let items: Vec<GrantEntry> = st
                    .keys
                    .values()
                    .filter(|k| k.region == caller.region)
                    .flat_map(|k| {
                        k.grants
                            .iter()
                            .filter(|g| g.retiring.as_deref() == Some(retiring))
                            .map(|g| GrantEntry {
                                key_arn: k.arn(),
                                grant: g.clone(),
                            })
                    })
                    .collect();
                page(items, marker, limit, |e| e.grant.grant_id.clone())
            },
        )
    }

    /// By token, or by key and grant id. Allowed to the retiring principal, to a grantee whose grant
    /// lists RetireGrant, and to the account that created the grant.
    pub fn retire_grant(
        &self,
        caller: &KmsCaller,
        token: Option<&str>,
        key_id: Option<&str>,
        grant_id: Option<&str>,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        self.audited(caller, "RetireGrant", false, Value::Null, |audit| {
            let st = self.read();
            let (arn, id) = match (token, key_id, grant_id) {
                (Some(t), _, _) => st
                    .keys
                    .values()
                    .find_map(|k| {
                        k.grants
                            .iter()
                            .find(|g| g.tokens.iter().any(|x| x == t))
                            .map(|g| (k.arn(), g.grant_id.clone()))
                    })
                    .ok_or_else(|| KmsError::InvalidGrantToken("Invalid grant token.".into()))?,
                (None, Some(kid), Some(gid)) => {
                    let k = self.resolve(&st, caller, kid, false)?;
                    if !k.grants.iter().any(|g| g.grant_id == gid) {
                        return Err(KmsError::InvalidGrantId(format!("Grant ID {gid} not found")));
                    }
                    (k.arn(), gid.to_owned())
                }
                _ => {
                    return Err(KmsError::Validation(
                        "Either a grant token, or a key ID and a grant ID, must be specified.".into(),
                    ))
                }
            };
            let k = st
                .keys
                .get(&arn)
                .ok_or_else(|| KmsError::NotFound(format!("Key '{arn}' does not exist")))?;
            audit.key(k);
            audit.additional(json!({ "grantId": id }));
            let g = k
                .grants
                .iter()
                .find(|g| g.grant_id == id)
                .ok_or_else(|| KmsError::InvalidGrantId(format!("Grant ID {id} not found")))?;
            let allowed = g.retiring.as_deref().is_some_and(|r| grantee_matches(r, caller))
                || (grantee_matches(&g.grantee, caller) && g.operations.contains(&GrantOperation::RetireGrant))
                || (caller.principal.is_root() && g.issuing_account == caller.principal.arn());
            if !allowed {
                return Err(KmsError::AccessDenied(format!(
                    "User: {} is not authorized to perform: kms:RetireGrant on resource: {arn}",
                    caller.principal.arn()
                )));
            }
            check_state(k, StateRule::Always)?;
            if dry_run {
                return Err(KmsError::DryRun(
                    "The request would have succeeded, but the DryRun option is set.".into(),
                ));
            }
            drop(st);
            self.remove_grant(&arn, &id)
        })
    }

    pub fn revoke_grant(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        grant_id: &str,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        self.audited(
            caller,
            "RevokeGrant",
            false,
            json!({ "keyId": key_id, "grantId": grant_id }),
            |audit| {
                let st = self.read();
                let k = self.resolve(&st, caller, key_id, false)?;
                audit.key(k);
                let mut extra = ConditionKeys::new();
                extra.set("kms:GrantIsForAWSResource", caller.invoked_by.is_some().to_string());
                self.authorize(
                    &st,
                    caller,
                    k,
                    &Check {
                        action: "kms:RevokeGrant",
                        grant_op: None,
                        ec: None,
                        extra: &extra,
                    },
                )?;
                if !k.grants.iter().any(|g| g.grant_id == grant_id) {
                    return Err(KmsError::InvalidGrantId(format!("Grant ID {grant_id} not found")));
                }
                if dry_run {
                    return Err(KmsError::DryRun(
                        "The request would have succeeded, but the DryRun option is set.".into(),
                    ));
                }
                let arn = k.arn();
                drop(st);
                self.remove_grant(&arn, grant_id)
            },
        )
    }

    fn remove_grant(&self, arn: &str, grant_id: &str) -> Result<(), KmsError> {
        self.mutate(|st, _| {
            if let Some(k) = st.keys.get_mut(arn) {
                k.grants.retain(|g| g.grant_id != grant_id);
            }
            Ok(())
        })
    }
}
