//! Aliases, tags, key policies and rotation.

use iam::policy::ConditionKeys;
use serde_json::json;

use crate::model::*;
use crate::ops_keys::{check_limit, new_version, page, parse_key_policy, validate_tags, Page};
use crate::{check_state, Check, Kms, KmsCaller, KmsError, StateRule};

/// An AliasListEntry. `target_key_id` is `None` for a predefined AWS alias not yet used.
#[derive(Debug, Clone)]
pub struct AliasEntry {
    pub name: String,
    pub arn: String,
    pub target_key_id: Option<String>,
    pub created_ms: Option<i64>,
    pub updated_ms: Option<i64>,
}

/// Rotations listed by ListKeyRotations.
#[derive(Debug, Clone)]
pub struct RotationEntry {
    pub key_arn: String,
    pub rotation_ms: i64,
    pub rotation_type: String,
    pub material_id: String,
}

#[derive(Debug, Clone)]
pub struct RotationStatus {
    pub enabled: bool,
    pub key_arn: String,
    pub period_days: Option<i64>,
    pub next_ms: Option<i64>,
}

/// Predefined aliases that ListAliases shows before the managed key behind them exists.
const PREDEFINED: &[&str] = &["alias/aws/dynamodb"];

pub(crate) fn add_version(k: &mut KeyRecord, now: i64, rotation_type: &str) -> Result<(), KmsError> {
    let next = k.versions.last().map(|v| v.number + 1).unwrap_or(1);
    k.versions.push(new_version(k.spec, next, now, Some(rotation_type))?);
    Ok(())
}

fn check_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with("alias/") {
        return Err(KmsError::Validation(
            "Alias must start with the prefix \"alias/\". Please see http://docs.aws.amazon.com/kms/latest/developerguide/programming-aliases.html".into(),
        ));
    }
    let ok = name.len() <= 256
        && name.len() > 6
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'));
    if !ok {
        return Err(KmsError::validation(
            name,
            "aliasName",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias {name} cannot begin with alias/aws/: that prefix is reserved for AWS managed keys."
        )));
    }
    Ok(())
}

fn rotatable(k: &KeyRecord) -> Result<(), KmsError> {
    if k.spec != KeySpec::SymmetricDefault || k.origin != Origin::AwsKms {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} key spec {} with origin {} does not support automatic or on-demand rotation.",
            k.arn(),
            k.spec.as_str(),
            k.origin.as_str()
        )));
    }
    Ok(())
}

impl Kms {
    pub fn create_alias(&self, caller: &KmsCaller, name: &str, target: &str) -> Result<(), KmsError> {
        let (account, region) = (caller.account().to_owned(), caller.region.clone());
        self.audited(
            caller,
            "CreateAlias",
            false,
            json!({ "aliasName": name, "targetKeyId": target }),
            |audit| {
                check_alias_name(name)?;
                let key_id = {
                    let st = self.read();
                    let k = self.resolve(&st, caller, target, false)?;
                    audit.key(k);
                    self.authorize(
                        &st,
                        caller,
                        k,
                        &Check {
                            action: "kms:CreateAlias",
                            grant_op: None,
                            ec: None,
                            extra: &ConditionKeys::new(),
                        },
                    )?;
                    if k.manager == KeyManager::Aws {
                        return Err(KmsError::UnsupportedOperation(format!(
                            "{} is an AWS managed key.",
                            k.arn()
                        )));
                    }
                    check_state(k, StateRule::Manage)?;
                    k.key_id.clone()
                };
                self.mutate(|st, now| {
                    let slot = alias_slot(&account, &region, name);
                    if st.aliases.contains_key(&slot) {
                        return Err(KmsError::AlreadyExists(format!(
                            "An alias with the name arn:aws:kms:{region}:{account}:{name} already exists"
                        )));
                    }
                    if st.aliases.values().filter(|a| a.target_key_id == key_id).count() >= 50 {
                        return Err(KmsError::LimitExceeded("A KMS key can have at most 50 aliases.".into()));
                    }
                    st.aliases.insert(
                        slot,
                        Alias {
                            name: name.to_owned(),
                            target_key_id: key_id.clone(),
                            created_ms: now,
                            updated_ms: now,
                        },
                    );
                    Ok(())
                })
            },
        )
    }

    pub fn update_alias(&self, caller: &KmsCaller, name: &str, target: &str) -> Result<(), KmsError> {
        check_alias_name(name)?;
        let (account, region) = (caller.account().to_owned(), caller.region.clone());
        let alias_arn = format!("arn:aws:kms:{region}:{account}:{name}");
        let params = json!({ "aliasName": name, "targetKeyId": target });
        let (old_usage, old_spec) = {
            let st = self.read();
            let a = st
                .aliases
                .get(&alias_slot(&account, &region, name))
                .ok_or_else(|| KmsError::NotFound(format!("Alias {alias_arn} is not found.")))?;
            let old = st
                .keys
                .get(&format!("arn:aws:kms:{region}:{account}:key/{}", a.target_key_id))
                .ok_or_else(|| KmsError::NotFound(format!("Alias {alias_arn} is not found.")))?;
            (old.usage, old.spec == KeySpec::SymmetricDefault)
        };
        let key_id = self.update_key(caller, "UpdateAlias", params, target, StateRule::Manage, |k, _| {
            if k.usage != old_usage || (k.spec == KeySpec::SymmetricDefault) != old_spec {
                return Err(KmsError::Validation(
                    "An alias can only point to a key of the same key type and key usage as its current key.".into(),
                ));
            }
            Ok(k.key_id.clone())
        })?;
        self.mutate(|st, now| {
            let a = st
                .aliases
                .get_mut(&alias_slot(&account, &region, name))
                .ok_or_else(|| KmsError::NotFound(format!("Alias {alias_arn} is not found.")))?;
            a.target_key_id = key_id;
            a.updated_ms = now;
            Ok(())
        })
    }

    pub fn delete_alias(&self, caller: &KmsCaller, name: &str) -> Result<(), KmsError> {
        let (account, region) = (caller.account().to_owned(), caller.region.clone());
        self.audited(caller, "DeleteAlias", false, json!({ "aliasName": name }), |audit| {
            let alias_arn = format!("arn:aws:kms:{region}:{account}:{name}");
            let st = self.read();
            let a = st
                .aliases
                .get(&alias_slot(&account, &region, name))
                .ok_or_else(|| KmsError::NotFound(format!("Alias {alias_arn} is not found.")))?;
            let arn = format!("arn:aws:kms:{region}:{account}:key/{}", a.target_key_id);
            if let Some(k) = st.keys.get(&arn) {
                audit.key(k);
                self.authorize(
                    &st,
                    caller,
                    k,
                    &Check {
                        action: "kms:DeleteAlias",
                        grant_op: None,
                        ec: None,
                        extra: &ConditionKeys::new(),
                    },
                )?;
            }
            drop(st);
            self.mutate(|st, _| {
                st.aliases.remove(&alias_slot(&account, &region, name));
                Ok(())
            })
        })
    }

    pub fn list_aliases(
        &self,
        caller: &KmsCaller,
        key_id: Option<&str>,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<AliasEntry>, KmsError> {
        self.audited(
            caller,
            "ListAliases",
            true,
            json!({ "keyId": key_id, "limit": limit }),
            |_| {
                let limit = check_limit(limit, 100, 50)?;
                self.authorize_iam(caller, "kms:ListAliases")?;
                let st = self.read();
                let (account, region) = (caller.account(), caller.region.as_str());
                let filter = match key_id {
                    Some(k) => Some(self.resolve(&st, caller, k, false)?.key_id.clone()),
                    None => None,
                };
                let prefix = format!("{account}/{region}/");
                let mut items: Vec<AliasEntry> = st
                    .aliases
                    .iter()
                    .filter(|(slot, a)| {
                        slot.starts_with(&prefix) && filter.as_ref().is_none_or(|f| *f == a.target_key_id)
                    })
                    .map(|(_, a)| AliasEntry {
                        name: a.name.clone(),
                        arn: format!("arn:aws:kms:{region}:{account}:{}", a.name),
                        target_key_id: Some(a.target_key_id.clone()),
                        created_ms: Some(a.created_ms),
                        updated_ms: Some(a.updated_ms),
                    })
                    .collect();
                if filter.is_none() {
                    for name in PREDEFINED {
                        if !items.iter().any(|i| i.name == *name) {
                            items.push(AliasEntry {
                                name: (*name).to_owned(),
                                arn: format!("arn:aws:kms:{region}:{account}:{name}"),
                                target_key_id: None,
                                created_ms: None,
                                updated_ms: None,
                            });
                        }
                    }
                }
                items.sort_by(|a, b| a.name.cmp(&b.name));
                page(items, marker, limit, |a| a.name.clone())
            },
        )
    }

    pub fn tag_resource(&self, caller: &KmsCaller, key_id: &str, tags: &[(String, String)]) -> Result<(), KmsError> {
        validate_tags(tags)?;
        let keys: Vec<&String> = tags.iter().map(|(k, _)| k).collect();
        self.update_key(
            caller,
            "TagResource",
            json!({ "keyId": key_id, "tagKeys": keys }),
            key_id,
            StateRule::Manage,
            |k, _| {
                for (tk, tv) in tags {
                    k.tags.insert(tk.clone(), tv.clone());
                }
                if k.tags.len() > 50 {
                    return Err(KmsError::Tag("A KMS key can have at most 50 tags.".into()));
                }
                Ok(())
            },
        )
    }

    pub fn untag_resource(&self, caller: &KmsCaller, key_id: &str, tag_keys: &[String]) -> Result<(), KmsError> {
        self.update_key(
            caller,
            "UntagResource",
            json!({ "keyId": key_id, "tagKeys": tag_keys }),
            key_id,
            StateRule::Manage,
            |k, _| {
                for tk in tag_keys {
                    k.tags.remove(tk);
                }
                Ok(())
            },
        )
    }

    pub fn list_resource_tags(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<(String, String)>, KmsError> {
        self.inspect_key(
            caller,
            "ListResourceTags",
            json!({ "keyId": key_id }),
            key_id,
            || check_limit(limit, 50, 50),
            |k, limit| {
                let tags: Vec<(String, String)> = k.tags.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
                page(tags, marker, limit, |(tk, _)| tk.clone())
            },
        )
    }

    pub fn get_key_policy(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        policy_name: Option<&str>,
    ) -> Result<String, KmsError> {
        self.inspect_key(
            caller,
            "GetKeyPolicy",
            json!({ "keyId": key_id, "policyName": policy_name.unwrap_or("default") }),
            key_id,
            || Ok(()),
            |k, ()| {
                if policy_name.is_some_and(|n| n != "default") {
                    return Err(KmsError::NotFound("No such policy exists".into()));
                }
                Ok(k.policy.text.clone())
            },
        )
    }

    pub fn put_key_policy(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        policy: &str,
        policy_name: Option<&str>,
        bypass: bool,
    ) -> Result<(), KmsError> {
        if policy_name.is_some_and(|n| n != "default") {
            return Err(KmsError::validation(
                policy_name.unwrap_or_default(),
                "policyName",
                "Member must satisfy regular expression pattern: default",
            ));
        }
        let doc = parse_key_policy(policy)?;
        let probe = {
            let st = self.read();
            self.resolve(&st, caller, key_id, false)?.clone()
        };
        if !bypass {
            self.lockout_check(caller, &probe, &doc)?;
        }
        let params = json!({ "keyId": key_id, "policyName": "default", "policy": policy, "bypassPolicyLockoutSafetyCheck": bypass });
        self.update_key(caller, "PutKeyPolicy", params, key_id, StateRule::Always, |k, _| {
            k.policy = doc;
            Ok(())
        })
    }

    pub fn list_key_policies(&self, caller: &KmsCaller, key_id: &str) -> Result<Vec<String>, KmsError> {
        self.inspect_key(
            caller,
            "ListKeyPolicies",
            json!({ "keyId": key_id }),
            key_id,
            || Ok(()),
            |_, ()| Ok(vec!["default".to_owned()]),
        )
    }

    pub fn enable_key_rotation(&self, caller: &KmsCaller, key_id: &str, period: Option<i64>) -> Result<(), KmsError> {
        let days = period.unwrap_or(365);
        if !(90..=2560).contains(&days) {
            let c = if days < 90 {
                "Member must have value greater than or equal to 90"
            } else {
                "Member must have value less than or equal to 2560"
            };
            return Err(KmsError::validation(&days.to_string(), "rotationPeriodInDays", c));
        }
        let params = json!({ "keyId": key_id, "rotationPeriodInDays": days });
        self.update_key(
            caller,
            "EnableKeyRotation",
            params,
            key_id,
            StateRule::RotationChange,
            |k, now| {
                rotatable(k)?;
                k.rotation = Some(Rotation {
                    period_days: days,
                    next_ms: now + days * 86_400_000,
                });
                Ok(())
            },
        )
    }

    pub fn disable_key_rotation(&self, caller: &KmsCaller, key_id: &str) -> Result<(), KmsError> {
        self.update_key(
            caller,
            "DisableKeyRotation",
            json!({ "keyId": key_id }),
            key_id,
            StateRule::RotationChange,
            |k, _| {
                rotatable(k)?;
                k.rotation = None;
                Ok(())
            },
        )
    }

    pub fn get_key_rotation_status(&self, caller: &KmsCaller, key_id: &str) -> Result<RotationStatus, KmsError> {
        self.inspect_key(
            caller,
            "GetKeyRotationStatus",
            json!({ "keyId": key_id }),
            key_id,
            || Ok(()),
            |k, ()| {
                check_state(k, StateRule::RotationStatus)?;
                rotatable(k)?;
                Ok(RotationStatus {
                    enabled: k.rotation.is_some(),
                    key_arn: k.arn(),
                    period_days: k.rotation.as_ref().map(|r| r.period_days),
                    next_ms: k.rotation.as_ref().map(|r| r.next_ms),
                })
            },
        )
    }

    pub fn rotate_key_on_demand(&self, caller: &KmsCaller, key_id: &str) -> Result<String, KmsError> {
        self.update_key(
            caller,
            "RotateKeyOnDemand",
            json!({ "keyId": key_id }),
            key_id,
            StateRule::Crypto,
            |k, now| {
                rotatable(k)?;
                let on_demand = k
                    .versions
                    .iter()
                    .filter(|v| v.rotation_type.as_deref() == Some("ON_DEMAND"))
                    .count();
                if on_demand >= 10 {
                    return Err(KmsError::LimitExceeded(format!(
                        "{} has reached the limit of 10 on-demand rotations.",
                        k.arn()
                    )));
                }
                add_version(k, now, "ON_DEMAND")?;
                Ok(k.arn())
            },
        )
    }

    pub fn list_key_rotations(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<RotationEntry>, KmsError> {
        self.inspect_key(
            caller,
            "ListKeyRotations",
            json!({ "keyId": key_id }),
            key_id,
            || check_limit(limit, 1000, 100),
            |k, limit| {
                rotatable(k)?;
                let items: Vec<RotationEntry> = k
                    .versions
                    .iter()
                    .filter_map(|v| {
                        v.rotation_type.as_ref().map(|t| RotationEntry {
                            key_arn: k.arn(),
                            rotation_ms: v.created_ms,
                            rotation_type: t.clone(),
                            material_id: v.material_id.clone(),
                        })
                    })
                    .collect();
                page(items, marker, limit, |r| r.material_id.clone())
            },
        )
    }
}
