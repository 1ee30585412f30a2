//! Key lifecycle: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, Enable/DisableKey,
//! Schedule/CancelKeyDeletion.

use std::collections::BTreeMap;

use iam::policy::{self, ConditionKeys, RequestContext};
use iam::state::PolicyDoc;
use serde_json::{json, Value};

use crate::model::*;
use crate::{check_state, crypto, Check, Kms, KmsCaller, KmsError, StateRule};

#[derive(Debug, Clone, Default)]
pub struct CreateKeyInput {
    pub policy: Option<String>,
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub origin: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<(String, String)>,
    pub multi_region: bool,
}

/// KeyMetadata, as DescribeKey and CreateKey return it.
#[derive(Debug, Clone)]
pub struct KeyMetadata {
    pub account: String,
    pub key_id: String,
    pub arn: String,
    pub creation_ms: i64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: &'static str,
    pub key_state: &'static str,
    pub deletion_ms: Option<i64>,
    pub valid_to_ms: Option<i64>,
    pub origin: &'static str,
    pub expiration_model: Option<&'static str>,
    pub key_manager: &'static str,
    pub key_spec: &'static str,
    pub encryption_algorithms: Vec<&'static str>,
    pub signing_algorithms: Vec<&'static str>,
    pub mac_algorithms: Vec<&'static str>,
    pub multi_region: bool,
    pub pending_window_days: Option<i64>,
    pub current_key_material_id: Option<String>,
}

impl KeyMetadata {
    pub fn of(k: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            account: k.account.clone(),
            key_id: k.key_id.clone(),
            arn: k.arn(),
            creation_ms: k.created_ms,
            enabled: k.state == KeyState::Enabled,
            description: k.description.clone(),
            key_usage: k.usage.as_str(),
            key_state: k.state.as_str(),
            deletion_ms: k.deletion_ms,
            valid_to_ms: k.import.as_ref().and_then(|i| i.valid_to_ms.filter(|_| i.expires)),
            origin: k.origin.as_str(),
            expiration_model: k.import.as_ref().filter(|_| !k.versions.is_empty()).map(|i| {
                if i.expires {
                    "KEY_MATERIAL_EXPIRES"
                } else {
                    "KEY_MATERIAL_DOES_NOT_EXPIRE"
                }
            }),
            key_manager: k.manager.as_str(),
            key_spec: k.spec.as_str(),
            encryption_algorithms: crypto::usage_algorithms(k.spec, k.usage).0,
            signing_algorithms: crypto::usage_algorithms(k.spec, k.usage).1,
            mac_algorithms: crypto::mac_algorithms(k.spec),
            multi_region: k.multi_region,
            pending_window_days: k.pending_window_days,
            current_key_material_id: k.versions.last().map(|v| v.material_id.clone()),
        }
    }

    /// The camelCase form CloudTrail records in `responseElements`.
    pub fn audit_json(&self) -> Value {
        json!({
            "aWSAccountId": self.account, "keyId": self.key_id, "arn": self.arn,
            "creationDate": base::timefmt::iso8601_millis(self.creation_ms), "enabled": self.enabled,
            "description": self.description, "keyUsage": self.key_usage, "keyState": self.key_state,
            "origin": self.origin, "keyManager": self.key_manager, "customerMasterKeySpec": self.key_spec,
            "keySpec": self.key_spec, "encryptionAlgorithms": self.encryption_algorithms,
            "multiRegion": self.multi_region,
        })
    }
}

pub fn default_key_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// A key policy's own rules: size, JSON, principals.
pub(crate) fn parse_key_policy(text: &str) -> Result<PolicyDoc, KmsError> {
    if text.len() > 32_768 {
        return Err(KmsError::LimitExceeded(
            "Key policy exceeds the maximum size of 32768 bytes.".into(),
        ));
    }
    let doc = PolicyDoc::parse(text).map_err(|e| KmsError::MalformedPolicyDocument(e.0))?;
    doc.parsed
        .validate_resource()
        .map_err(|e| KmsError::MalformedPolicyDocument(e.0))?;
    for s in &doc.parsed.statements {
        for c in &s.conditions {
            let key = c.key().to_ascii_lowercase();
            if c.uses_for_all_values()
                && (key.starts_with("kms:encryptioncontext:") || key.starts_with("aws:requesttag/"))
            {
                return Err(KmsError::MalformedPolicyDocument(
                    "OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified [encryption context or tag] or with an unspecified [encryption context or tag]. To fix, remove ForAllValues.".into(),
                ));
            }
        }
    }
    Ok(doc)
}

pub(crate) fn validate_tags(tags: &[(String, String)]) -> Result<(), KmsError> {
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(KmsError::Tag(format!(
                "Tag key '{k}' must be between 1 and 128 characters."
            )));
        }
        if v.chars().count() > 256 {
            return Err(KmsError::Tag(format!(
                "Tag value for key '{k}' must be at most 256 characters."
            )));
        }
        if k.starts_with("aws:") {
            return Err(KmsError::Tag("Tags beginning with aws: are reserved.".into()));
        }
        if !seen.insert(k) {
            return Err(KmsError::Tag(format!("Duplicate tag key '{k}'.")));
        }
    }
    Ok(())
}

pub(crate) fn new_key_id(multi_region: bool) -> Result<String, KmsError> {
    if multi_region {
        Ok(format!("mrk-{}", hex::encode(base::random::bytes(16)?)))
    } else {
        Ok(base::random::uuid_v4()?)
    }
}

pub(crate) fn new_version(
    spec: KeySpec,
    number: u32,
    now: i64,
    rotation_type: Option<&str>,
) -> Result<Version, KmsError> {
    Ok(Version {
        number,
        material_id: hex::encode(base::random::bytes(32)?),
        material: Material(crypto::generate(spec)?),
        created_ms: now,
        rotation_type: rotation_type.map(str::to_owned),
    })
}

impl Kms {
    /// Operations on no key (CreateKey, ListKeys, ...) are authorized by IAM alone.
    pub(crate) fn authorize_iam(&self, caller: &KmsCaller, action: &str) -> Result<(), KmsError> {
        let mut keys = ConditionKeys::new();
        self.iam.add_request_keys(&caller.principal, &mut keys);
        let ctx = RequestContext {
            principal: &caller.principal,
            action,
            resource: "*",
            keys: &keys,
        };
        policy::authorize_identity(&caller.identity_policies, &ctx).map_err(|d| {
            KmsError::AccessDenied(format!(
                "User: {} is not authorized to perform: {action} on resource: * {}",
                caller.principal.arn(),
                d.reason(action)
            ))
        })
    }

    /// The lockout safety check: would `policy` still let this caller call PutKeyPolicy?
    pub(crate) fn lockout_check(&self, caller: &KmsCaller, k: &KeyRecord, policy: &PolicyDoc) -> Result<(), KmsError> {
        let mut probe = k.clone();
        probe.policy = policy.clone();
        probe.grants.clear();
        let st = KmsState::default();
        self.authorize(
            &st,
            caller,
            &probe,
            &Check {
                action: "kms:PutKeyPolicy",
                grant_op: None,
                ec: None,
                extra: &ConditionKeys::new(),
            },
        )
        .map_err(|_| {
            KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future.".into(),
            )
        })
    }

    pub fn create_key(&self, caller: &KmsCaller, input: CreateKeyInput) -> Result<KeyMetadata, KmsError> {
        let params = json!({
            "keyUsage": input.key_usage.clone().unwrap_or_else(|| "ENCRYPT_DECRYPT".into()),
            "keySpec": input.key_spec.clone().unwrap_or_else(|| "SYMMETRIC_DEFAULT".into()),
            "origin": input.origin.clone().unwrap_or_else(|| "AWS_KMS".into()),
            "description": input.description.clone().unwrap_or_default(),
            "bypassPolicyLockoutSafetyCheck": input.bypass_policy_lockout_safety_check,
            "multiRegion": input.multi_region,
        });
        self.audited(caller, "CreateKey", false, params, |audit| {
            let spec_text = input.key_spec.as_deref().unwrap_or("SYMMETRIC_DEFAULT");
            let spec = KeySpec::parse(spec_text).ok_or_else(|| {
                KmsError::validation(
                    spec_text,
                    "keySpec",
                    &format!("Member must satisfy enum value set: {}", KeySpec::value_set()),
                )
            })?;
            let usage_text = input.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT");
            let usage = KeyUsage::parse(usage_text).ok_or_else(|| {
                KmsError::validation(
                    usage_text,
                    "keyUsage",
                    &format!("Member must satisfy enum value set: {}", KeyUsage::value_set()),
                )
            })?;
            if !spec.allows(usage) {
                return Err(KmsError::Validation(format!(
                    "KeyUsage {usage_text} is not compatible with KeySpec {spec_text}"
                )));
            }
            let origin_text = input.origin.as_deref().unwrap_or("AWS_KMS");
            let origin = Origin::parse(origin_text).ok_or_else(|| {
                KmsError::validation(
                    origin_text,
                    "origin",
                    &format!("Member must satisfy enum value set: {}", Origin::value_set()),
                )
            })?;
            if origin == Origin::External && spec != KeySpec::SymmetricDefault {
                return Err(KmsError::UnsupportedOperation(
                    "Importing key material is supported here only for SYMMETRIC_DEFAULT keys.".into(),
                ));
            }
            let description = input.description.clone().unwrap_or_default();
            if description.chars().count() > 8192 {
                return Err(KmsError::validation(
                    "...",
                    "description",
                    "Member must have length less than or equal to 8192",
                ));
            }
            validate_tags(&input.tags)?;
            self.authorize_iam(caller, "kms:CreateKey")?;
            let account = caller.account().to_owned();
            let policy = match &input.policy {
                Some(p) => parse_key_policy(p)?,
                None => parse_key_policy(&default_key_policy(&account))?,
            };
            let now = self.now_ms();
            let mut record = KeyRecord {
                key_id: new_key_id(input.multi_region)?,
                account: account.clone(),
                region: caller.region.clone(),
                description,
                created_ms: now,
                spec,
                usage,
                origin,
                manager: KeyManager::Customer,
                state: if origin == Origin::External {
                    KeyState::PendingImport
                } else {
                    KeyState::Enabled
                },
                deletion_ms: None,
                pending_window_days: None,
                multi_region: input.multi_region,
                policy,
                tags: input.tags.iter().cloned().collect::<BTreeMap<_, _>>(),
                rotation: None,
                versions: Vec::new(),
                import: (origin == Origin::External).then(ImportState::default),
                grants: Vec::new(),
                import_fingerprint: None,
            };
            if origin == Origin::AwsKms {
                record.versions.push(new_version(spec, 1, now, None)?);
            }
            if input.policy.is_some() && !input.bypass_policy_lockout_safety_check {
                self.lockout_check(caller, &record, &record.policy)?;
            }
            let meta = KeyMetadata::of(&record);
            audit.key(&record);
            audit.response(json!({ "keyMetadata": meta.audit_json() }));
            self.mutate(|st, _| {
                st.keys.insert(record.arn(), record);
                Ok(())
            })?;
            Ok(meta)
        })
    }

    pub fn describe_key(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        grant_tokens: &[String],
    ) -> Result<KeyMetadata, KmsError> {
        self.audited(caller, "DescribeKey", true, json!({ "keyId": key_id }), |audit| {
            let st = self.read();
            self.check_grant_tokens(&st, grant_tokens)?;
            let k = self.resolve(&st, caller, key_id, true)?;
            audit.key(k);
            self.authorize(
                &st,
                caller,
                k,
                &Check {
                    action: "kms:DescribeKey",
                    grant_op: Some(GrantOperation::DescribeKey),
                    ec: None,
                    extra: &ConditionKeys::new(),
                },
            )?;
            Ok(KeyMetadata::of(k))
        })
    }

    /// Keys of the caller's account and region: `(key id, ARN)`, and the next marker.
    pub fn list_keys(
        &self,
        caller: &KmsCaller,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<(String, String)>, KmsError> {
        let params = json!({ "limit": limit, "marker": marker });
        self.audited(caller, "ListKeys", true, params, |_| {
            let limit = check_limit(limit, 1000, 100)?;
            self.authorize_iam(caller, "kms:ListKeys")?;
            let st = self.read();
            let prefix = format!("arn:aws:kms:{}:{}:key/", caller.region, caller.account());
            let all: Vec<(String, String)> = st
                .keys
                .values()
                .filter(|k| k.arn().starts_with(&prefix))
                .map(|k| (k.key_id.clone(), k.arn()))
                .collect();
            page(all, marker, limit, |(id, _)| id.clone())
        })
    }

    /// Reads one key under the usual rules: `validate` the input first (shape before existence, as AWS
    /// does), then resolve by id or ARN, authorize `kms:<event>` and hand the key to `f`.
    pub(crate) fn inspect_key<P, R>(
        &self,
        caller: &KmsCaller,
        event: &str,
        params: Value,
        key_id: &str,
        validate: impl FnOnce() -> Result<P, KmsError>,
        f: impl FnOnce(&KeyRecord, P) -> Result<R, KmsError>,
    ) -> Result<R, KmsError> {
        self.audited(caller, event, true, params, |audit| {
            let input = validate()?;
            let st = self.read();
            let k = self.resolve(&st, caller, key_id, false)?;
            audit.key(k);
            let action = format!("kms:{event}");
            let check = Check {
                action: &action,
                grant_op: None,
                ec: None,
                extra: &ConditionKeys::new(),
            };
            self.authorize(&st, caller, k, &check)?;
            f(k, input)
        })
    }

    /// Changes one key under the usual rules: resolve (by id or ARN), state, authorization.
    pub(crate) fn update_key<R>(
        &self,
        caller: &KmsCaller,
        event: &str,
        params: Value,
        key_id: &str,
        rule: StateRule,
        f: impl FnOnce(&mut KeyRecord, i64) -> Result<R, KmsError>,
    ) -> Result<R, KmsError> {
        self.audited(caller, event, false, params, |audit| {
            let arn = {
                let st = self.read();
                let k = self.resolve(&st, caller, key_id, false)?;
                audit.key(k);
                self.authorize(&st, caller, k, &Check { action: &format!("kms:{event}"), grant_op: None, ec: None, extra: &ConditionKeys::new() })?;
                if k.manager == KeyManager::Aws {
                    return Err(KmsError::AccessDenied(format!(
                        "User: {} is not authorized to perform: kms:{event} on resource: {} because the key is managed by AWS",
                        caller.principal.arn(),
                        k.arn()
                    )));
                }
                check_state(k, rule)?;
                k.arn()
            };
            self.mutate(|st, now| {
                let k = st
                    .keys
                    .get_mut(&arn)
                    .ok_or_else(|| KmsError::NotFound(format!("Key '{arn}' does not exist")))?;
                f(k, now)
            })
        })
    }

    pub fn update_key_description(&self, caller: &KmsCaller, key_id: &str, description: &str) -> Result<(), KmsError> {
        if description.chars().count() > 8192 {
            return Err(KmsError::validation(
                "...",
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let params = json!({ "keyId": key_id, "description": description });
        self.update_key(
            caller,
            "UpdateKeyDescription",
            params,
            key_id,
            StateRule::Manage,
            |k, _| {
                k.description = description.to_owned();
                Ok(())
            },
        )
    }

    pub fn enable_key(&self, caller: &KmsCaller, key_id: &str) -> Result<(), KmsError> {
        self.update_key(
            caller,
            "EnableKey",
            json!({ "keyId": key_id }),
            key_id,
            StateRule::EnableDisable,
            |k, _| {
                k.state = KeyState::Enabled;
                Ok(())
            },
        )
    }

    pub fn disable_key(&self, caller: &KmsCaller, key_id: &str) -> Result<(), KmsError> {
        self.update_key(
            caller,
            "DisableKey",
            json!({ "keyId": key_id }),
            key_id,
            StateRule::EnableDisable,
            |k, _| {
                k.state = KeyState::Disabled;
                Ok(())
            },
        )
    }

    /// Returns `(key ARN, deletion date ms, window days)`.
    pub fn schedule_key_deletion(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        window: Option<i64>,
    ) -> Result<(String, i64, i64), KmsError> {
        let days = window.unwrap_or(30);
        if !(7..=30).contains(&days) {
            let c = if days < 7 {
                "Member must have value greater than or equal to 7"
            } else {
                "Member must have value less than or equal to 30"
            };
            return Err(KmsError::validation(&days.to_string(), "pendingWindowInDays", c));
        }
        let params = json!({ "keyId": key_id, "pendingWindowInDays": days });
        self.update_key(
            caller,
            "ScheduleKeyDeletion",
            params,
            key_id,
            StateRule::Schedule,
            |k, now| {
                let when = now + days * 86_400_000;
                k.state = KeyState::PendingDeletion;
                k.deletion_ms = Some(when);
                k.pending_window_days = Some(days);
                Ok((k.arn(), when, days))
            },
        )
    }

    /// The key comes back Disabled, as on AWS.
    pub fn cancel_key_deletion(&self, caller: &KmsCaller, key_id: &str) -> Result<String, KmsError> {
        self.update_key(
            caller,
            "CancelKeyDeletion",
            json!({ "keyId": key_id }),
            key_id,
            StateRule::Cancel,
            |k, _| {
                k.state = if k.versions.is_empty() {
                    KeyState::PendingImport
                } else {
                    KeyState::Disabled
                };
                k.deletion_ms = None;
                k.pending_window_days = None;
                Ok(k.arn())
            },
        )
    }
}

/// A page of a listing and the marker of the next page.
pub type Page<T> = (Vec<T>, Option<String>);

pub(crate) fn check_limit(limit: Option<i64>, max: i64, default: i64) -> Result<usize, KmsError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) if n < 1 => Err(KmsError::validation(
            &n.to_string(),
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) => Err(KmsError::validation(
            &n.to_string(),
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
    }
}

/// Marker paging over a sorted list: the marker is the sort key of the next item.
pub(crate) fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    limit: usize,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, KmsError> {
    let start = match marker {
        None => 0,
        Some(m) => items
            .iter()
            .position(|i| key(i) == m)
            .ok_or_else(|| KmsError::InvalidMarker(format!("Invalid marker: {m}")))?,
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = if rest.len() > limit {
        Some(key(&rest[limit]))
    } else {
        None
    };
    rest.truncate(limit);
    Ok((rest, next))
}
