//! The key service: keys and their backing versions, the ciphertext format, cryptographic operations,
//! aliases, grants, key policies, rotation, deletion and import. Every call is authorized here (key
//! policy + IAM + grants) and recorded in the audit trail, whether it came over HTTP or from DynamoDB.

pub mod blob;
pub mod crypto;
pub mod error;
pub mod model;
mod ops_crypto;
mod ops_grants;
mod ops_import;
mod ops_keys;
mod ops_manage;
mod ops_managed;
pub mod quota;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use audit::{AuditEvent, ErrorInfo, Identity, Trail};
use base::{Clock, RootKey, SealedStore};
use iam::policy::{self, ConditionKeys, Denial, Policy, PolicyKind, RequestContext};
use iam::{Iam, Principal};
use serde_json::Value;

pub use error::KmsError;
pub use model::*;
pub use ops_crypto::*;
pub use ops_grants::*;
pub use ops_import::*;
pub use ops_keys::*;
pub use ops_manage::*;
pub use ops_managed::*;

pub type EncryptionContext = BTreeMap<String, String>;

/// Who is calling KMS, and from where. For DynamoDB's calls on a user's behalf, `via_service` names
/// `dynamodb.<region>.amazonaws.com` and `invoked_by` names `dynamodb.amazonaws.com`.
#[derive(Clone)]
pub struct KmsCaller {
    pub principal: Principal,
    pub identity_policies: Vec<Arc<Policy>>,
    pub access_key_id: String,
    pub region: String,
    pub via_service: Option<String>,
    pub invoked_by: Option<String>,
    pub source_ip: String,
    pub user_agent: String,
    pub request_id: String,
}

impl KmsCaller {
    /// The account the caller acts in: its own, or for a service principal the account it works for.
    pub fn account(&self) -> &str {
        self.principal.account().unwrap_or_default()
    }

    fn identity(&self) -> Identity {
        match &self.principal {
            Principal::Root { account } => Identity::Root {
                account: account.clone(),
                access_key_id: self.access_key_id.clone(),
            },
            Principal::User {
                account, name, user_id, ..
            } => Identity::IamUser {
                account: account.clone(),
                principal_id: user_id.clone(),
                arn: self.principal.arn(),
                user_name: name.clone(),
                access_key_id: self.access_key_id.clone(),
            },
            Principal::AssumedRole {
                account,
                role_name,
                role_id,
                issued_at_ms,
                ..
            } => Identity::AssumedRole {
                account: account.clone(),
                principal_id: self.principal.principal_id(),
                arn: self.principal.arn(),
                access_key_id: self.access_key_id.clone(),
                session_created_ms: *issued_at_ms,
                role_id: role_id.clone(),
                role_arn: self.principal.role_arn().unwrap_or_default(),
                role_name: role_name.clone(),
            },
            Principal::Service { service } => Identity::AwsService {
                invoked_by: service.clone(),
            },
        }
    }
}

/// What an operation tells the audit record about itself as it runs.
#[derive(Default)]
pub(crate) struct Audit {
    resources: Vec<(String, String)>,
    response: Option<Value>,
    additional: Option<Value>,
    recipient: Option<String>,
}

impl Audit {
    pub(crate) fn key(&mut self, k: &KeyRecord) {
        let entry = (k.arn(), k.account.clone());
        if !self.resources.contains(&entry) {
            self.resources.push(entry);
        }
        if self.recipient.is_none() {
            self.recipient = Some(k.account.clone());
        }
    }

    pub(crate) fn response(&mut self, v: Value) {
        self.response = Some(v);
    }

    pub(crate) fn additional(&mut self, v: Value) {
        self.additional = Some(v);
    }
}

/// What one authorization asks: the action, what a grant must list, the encryption context (checked
/// against grant constraints and offered as `kms:EncryptionContext:*`), and extra condition keys.
#[derive(Clone, Copy)]
pub(crate) struct Check<'a> {
    pub action: &'a str,
    pub grant_op: Option<GrantOperation>,
    pub ec: Option<&'a EncryptionContext>,
    pub extra: &'a ConditionKeys,
}

/// The operation classes of spec/kms-api.md section 4 (which key states each accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateRule {
    Crypto,
    Always,
    EnableDisable,
    RotationChange,
    RotationStatus,
    Schedule,
    Cancel,
    Manage,
}

pub(crate) fn check_state(k: &KeyRecord, rule: StateRule) -> Result<(), KmsError> {
    use KeyState::*;
    use StateRule::*;
    // Only a refusal names the key: formatting its ARN on every allowed call showed in profiles.
    let arn = || k.arn();
    let pending_deletion = || KmsError::InvalidState(format!("{} is pending deletion.", arn()));
    let pending_import = || KmsError::InvalidState(format!("{} is pending import.", arn()));
    match (rule, k.state) {
        (Always, _) => Ok(()),
        (Cancel, PendingDeletion) => Ok(()),
        (Cancel, _) => Err(KmsError::InvalidState(format!("{} is not pending deletion.", arn()))),
        (_, PendingDeletion) => Err(pending_deletion()),
        (Crypto, Disabled) | (RotationChange, Disabled) => Err(KmsError::Disabled(format!("{} is disabled.", arn()))),
        (Crypto, PendingImport) | (EnableDisable, PendingImport) => Err(pending_import()),
        (RotationChange | RotationStatus, PendingImport) => Err(KmsError::UnsupportedOperation(format!(
            "{} origin is EXTERNAL which is not valid for this operation.",
            arn()
        ))),
        _ => Ok(()),
    }
}

pub struct Kms {
    state: RwLock<KmsState>,
    store: SealedStore<KmsState>,
    write_lock: Mutex<()>,
    clock: Arc<dyn Clock>,
    iam: Arc<Iam>,
    trail: Arc<Trail>,
    /// Calls so far by caller's ARN and key ARN, for the operator's metrics.
    calls: Mutex<CallCounts>,
}

/// Past this many (caller, key) pairs, further pairs are counted together as `other`.
const CALL_COUNT_PAIRS: usize = 10_000;

/// KMS calls by caller's ARN, then key ARN (empty for calls on no key). Nested so that counting a pair
/// seen before allocates nothing: this runs on every KMS call.
#[derive(Default)]
struct CallCounts {
    by_caller: std::collections::HashMap<String, std::collections::HashMap<String, u64>>,
    pairs: usize,
}

impl CallCounts {
    fn add(&mut self, caller: &str, key: &str) {
        if let Some(n) = self.by_caller.get_mut(caller).and_then(|keys| keys.get_mut(key)) {
            *n += 1;
            return;
        }
        let (caller, key) = if self.pairs >= CALL_COUNT_PAIRS {
            ("other", "other")
        } else {
            self.pairs += 1;
            (caller, key)
        };
        *self
            .by_caller
            .entry(caller.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_insert(0) += 1;
    }
}

pub const FORMAT_VERSION: u32 = 1;

/// `dynamodb.amazonaws.com` as a grantee also answers to `dynamodb.<region>.amazonaws.com`.
fn grantee_matches(grantee: &str, caller: &KmsCaller) -> bool {
    match &caller.principal {
        Principal::Service { service } => {
            let short = service.split('.').next().unwrap_or_default();
            grantee == service || grantee == format!("{short}.{}.amazonaws.com", caller.region)
        }
        p => grantee == p.arn() || p.role_arn().as_deref() == Some(grantee),
    }
}

impl Kms {
    pub fn open(
        data_dir: &Path,
        root_key: Arc<RootKey>,
        clock: Arc<dyn Clock>,
        iam: Arc<Iam>,
        trail: Arc<Trail>,
    ) -> Result<Kms, KmsError> {
        let store = SealedStore::new(data_dir.join("kms.sealed"), "strongroom/kms/v1", root_key);
        let state = store.load()?.unwrap_or(KmsState {
            format_version: FORMAT_VERSION,
            ..Default::default()
        });
        Ok(Kms {
            state: RwLock::new(state),
            store,
            write_lock: Mutex::new(()),
            clock,
            iam,
            trail,
            calls: Mutex::new(CallCounts::default()),
        })
    }

    /// KMS calls so far (each one audited, allowed or refused) by caller's ARN and key ARN (empty for
    /// calls on no key, such as ListKeys).
    pub fn call_counts(&self) -> Vec<((String, String), u64)> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = calls
            .by_caller
            .iter()
            .flat_map(|(caller, keys)| keys.iter().map(move |(key, n)| ((caller.clone(), key.clone()), *n)))
            .collect();
        out.sort();
        out
    }

    fn count_call(&self, caller: &KmsCaller, resources: &[(String, String)]) {
        let who = caller.principal.arn();
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if resources.is_empty() {
            calls.add(&who, "");
        }
        for (key, _) in resources {
            calls.add(&who, key);
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, KmsState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to a copy of the state and persists it before it becomes current, so a failed write
    /// changes nothing. Writers are serialized; readers go on reading the current state meanwhile.
    pub(crate) fn mutate<R>(&self, f: impl FnOnce(&mut KmsState, i64) -> Result<R, KmsError>) -> Result<R, KmsError> {
        let _w = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        let r = f(&mut next, self.clock.now_millis())?;
        self.store.save(&next)?;
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(r)
    }

    /// Finds a key by id, ARN, alias name or alias ARN (the last two when `aliases` is true).
    pub(crate) fn resolve<'s>(
        &self,
        st: &'s KmsState,
        caller: &KmsCaller,
        key_id: &str,
        aliases: bool,
    ) -> Result<&'s KeyRecord, KmsError> {
        if key_id.is_empty() {
            return Err(KmsError::validation(
                key_id,
                "keyId",
                "Member must have length greater than or equal to 1",
            ));
        }
        let region = &caller.region;
        let account = caller.account();
        let alias = |acct: &str, reg: &str, name: &str| -> Result<&'s KeyRecord, KmsError> {
            let alias_arn = format!("arn:aws:kms:{reg}:{acct}:{name}");
            let a = st
                .aliases
                .get(&alias_slot(acct, reg, name))
                .ok_or_else(|| KmsError::NotFound(format!("Alias {alias_arn} is not found.")))?;
            let arn = format!("arn:aws:kms:{reg}:{acct}:key/{}", a.target_key_id);
            st.keys
                .get(&arn)
                .ok_or_else(|| KmsError::NotFound(format!("Alias {alias_arn} is not found.")))
        };
        if let Some(rest) = key_id.strip_prefix("arn:aws:kms:") {
            let parts: Vec<&str> = rest.splitn(3, ':').collect();
            if parts.len() != 3 {
                return Err(KmsError::NotFound(format!("Invalid arn {key_id}")));
            }
            let (reg, acct, resource) = (parts[0], parts[1], parts[2]);
            if resource.starts_with("alias/") && aliases {
                return alias(acct, reg, resource);
            }
            if resource.starts_with("key/") {
                return st
                    .keys
                    .get(key_id)
                    .ok_or_else(|| KmsError::NotFound(format!("Key '{key_id}' does not exist")));
            }
            return Err(KmsError::NotFound(format!("Invalid arn {key_id}")));
        }
        if key_id.starts_with("alias/") {
            if !aliases {
                return Err(KmsError::NotFound(format!("Invalid keyId '{key_id}'")));
            }
            return alias(account, region, key_id);
        }
        let arn = format!("arn:aws:kms:{region}:{account}:key/{key_id}");
        st.keys
            .get(&arn)
            .ok_or_else(|| KmsError::NotFound(format!("Key '{arn}' does not exist")))
    }

    /// Key policy + the caller's IAM policies, then grants.
    pub(crate) fn authorize(
        &self,
        st: &KmsState,
        caller: &KmsCaller,
        k: &KeyRecord,
        check: &Check<'_>,
    ) -> Result<(), KmsError> {
        let Check {
            action,
            grant_op,
            ec,
            extra,
        } = *check;
        // Gathering the keys (aliases scanned, context keys formatted, the principal's keys) costs more than
        // the rest of the check, and the default key policy has no conditions.
        let needs_keys =
            k.policy.parsed.has_conditions() || caller.identity_policies.iter().any(|p| p.has_conditions());
        let mut keys = ConditionKeys::new();
        if needs_keys {
            self.gather_condition_keys(st, caller, k, ec, extra, &mut keys);
        }
        let resource = k.arn();
        let ctx = RequestContext {
            principal: &caller.principal,
            action,
            resource: &resource,
            keys: &keys,
        };
        let denial = match policy::authorize_with_resource_policy(
            &caller.identity_policies,
            &k.policy.parsed,
            PolicyKind::Resource,
            &ctx,
        ) {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        if matches!(denial, Denial::NoIdentityAllow | Denial::NoResourceAllow) {
            if let Some(op) = grant_op {
                let empty = EncryptionContext::new();
                let ignores_constraints = matches!(op, GrantOperation::DescribeKey | GrantOperation::RetireGrant);
                let granted = k.grants.iter().any(|g| {
                    grantee_matches(&g.grantee, caller)
                        && g.operations.contains(&op)
                        && (ignores_constraints || g.constraints.allow(ec.unwrap_or(&empty)))
                });
                if granted {
                    return Ok(());
                }
            }
        }
        Err(KmsError::AccessDenied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {}",
            caller.principal.arn(),
            denial.reason(action)
        )))
    }

    /// The condition keys of a KMS request (spec/policies-grants.md): the key's, the caller's, the
    /// encryption context's and the aws:* globals.
    fn gather_condition_keys(
        &self,
        st: &KmsState,
        caller: &KmsCaller,
        k: &KeyRecord,
        ec: Option<&EncryptionContext>,
        extra: &ConditionKeys,
        keys: &mut ConditionKeys,
    ) {
        keys.set("kms:CallerAccount", caller.principal.account().unwrap_or(&k.account))
            .set("kms:KeySpec", k.spec.as_str())
            .set("kms:KeyUsage", k.usage.as_str())
            .set("kms:KeyOrigin", k.origin.as_str())
            .set("kms:MultiRegion", k.multi_region.to_string())
            .set("aws:RequestedRegion", caller.region.clone())
            .set("aws:SourceIp", caller.source_ip.clone());
        if let Some(v) = &caller.via_service {
            keys.set("kms:ViaService", v.clone());
        }
        if let Some(by) = &caller.invoked_by {
            keys.set("aws:ViaAWSService", "true")
                .set_many("aws:CalledVia", vec![by.clone()]);
        }
        if let Some(ec) = ec {
            for (ck, cv) in ec {
                keys.set(&format!("kms:EncryptionContext:{ck}"), cv.clone());
            }
            keys.set_many("kms:EncryptionContextKeys", ec.keys().cloned().collect());
        }
        let aliases: Vec<String> = st
            .aliases
            .values()
            .filter(|a| a.target_key_id == k.key_id)
            .map(|a| a.name.clone())
            .collect();
        if !aliases.is_empty() {
            keys.set_many("kms:ResourceAliases", aliases);
        }
        keys.extend(extra);
        self.iam.add_request_keys(&caller.principal, keys);
    }

    /// Grant tokens must be tokens KMS issued (they are otherwise no-ops: grants apply at once here).
    pub(crate) fn check_grant_tokens(&self, st: &KmsState, tokens: &[String]) -> Result<(), KmsError> {
        if tokens.len() > 10 {
            return Err(KmsError::validation(
                &format!("{tokens:?}"),
                "grantTokens",
                "Member must have length less than or equal to 10",
            ));
        }
        for t in tokens {
            let known = st.keys.values().any(|k| k.grants.iter().any(|g| g.tokens.contains(t)));
            if !known {
                return Err(KmsError::InvalidGrantToken("Invalid grant token.".into()));
            }
        }
        Ok(())
    }

    /// Runs one operation and records it (allowed or refused) as a CloudTrail event.
    pub(crate) fn audited<T>(
        &self,
        caller: &KmsCaller,
        event_name: &str,
        read_only: bool,
        params: Value,
        f: impl FnOnce(&mut Audit) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let mut audit = Audit::default();
        let result = f(&mut audit);
        let error = result.as_ref().err().map(|e| ErrorInfo {
            code: e.code().to_owned(),
            message: e.to_string(),
        });
        let recipient = audit.recipient.clone().unwrap_or_else(|| caller.account().to_owned());
        self.count_call(caller, &audit.resources);
        let event = AuditEvent {
            time_ms: self.clock.now_millis(),
            event_source: "kms.amazonaws.com".into(),
            event_name: event_name.to_owned(),
            region: caller.region.clone(),
            identity: caller.identity(),
            invoked_by: match caller.principal {
                Principal::Service { .. } => None,
                _ => caller.invoked_by.clone(),
            },
            source_ip: caller.invoked_by.clone().unwrap_or_else(|| caller.source_ip.clone()),
            user_agent: caller.invoked_by.clone().unwrap_or_else(|| caller.user_agent.clone()),
            request_parameters: params,
            response_elements: audit.response.take().unwrap_or(Value::Null),
            additional_event_data: audit.additional.take(),
            request_id: caller.request_id.clone(),
            event_id: base::random::unique_uuid(),
            read_only,
            resources: audit.resources,
            recipient_account: recipient,
            shared_event_id: None,
            error,
        };
        if let Err(e) = self.trail.append(event) {
            // An unrecordable call must not happen: refuse it.
            tracing::error!(error = %e, "audit trail append failed");
            return Err(KmsError::Internal("the audit trail could not be written".into()));
        }
        result
    }

    /// Time-driven work: deletions whose window ended, automatic rotations, imported material expiry.
    /// The server calls it every second; tests call it after moving a `ManualClock`.
    pub fn tick(&self) -> Result<(), KmsError> {
        let now = self.clock.now_millis();
        let due = {
            let st = self.read();
            st.keys.values().any(|k| {
                k.deletion_ms.is_some_and(|d| d <= now)
                    || k.rotation
                        .as_ref()
                        .is_some_and(|r| r.next_ms <= now && k.state == KeyState::Enabled)
                    || k.import
                        .as_ref()
                        .is_some_and(|i| i.expires && i.valid_to_ms.is_some_and(|v| v <= now) && !k.versions.is_empty())
            })
        };
        if !due {
            return Ok(());
        }
        self.mutate(|st, now| {
            let gone: Vec<String> = st
                .keys
                .values()
                .filter(|k| k.deletion_ms.is_some_and(|d| d <= now))
                .map(|k| k.arn())
                .collect();
            for arn in &gone {
                // Crypto-shredding: the record and its material versions go with it.
                if let Some(k) = st.keys.remove(arn) {
                    st.aliases.retain(|_, a| a.target_key_id != k.key_id);
                    tracing::info!(key = %arn, "key deleted at the end of its waiting period");
                }
            }
            for k in st.keys.values_mut() {
                if let Some(r) = k.rotation.clone() {
                    if r.next_ms <= now && k.state == KeyState::Enabled {
                        ops_manage::add_version(k, now, "AUTOMATIC")?;
                        if let Some(rot) = k.rotation.as_mut() {
                            rot.next_ms = now + rot.period_days * 86_400_000;
                        }
                    }
                }
                let expired = k
                    .import
                    .as_ref()
                    .is_some_and(|i| i.expires && i.valid_to_ms.is_some_and(|v| v <= now));
                if expired && !k.versions.is_empty() {
                    k.versions.clear();
                    if k.state != KeyState::PendingDeletion {
                        k.state = KeyState::PendingImport;
                    }
                }
            }
            Ok(())
        })
    }

    pub fn trail(&self) -> &Arc<Trail> {
        &self.trail
    }
}

pub(crate) fn ec_json(ec: &EncryptionContext) -> Value {
    Value::Object(ec.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}
