//! Accounts, principals, credentials, the policy language, and the IAM and STS operations.
//!
//! The store is one sealed document (secret access keys never reach disk in plaintext). Reads go through
//! an index from access key id to a prepared [`AuthEntry`], so authenticating a request is one hash lookup.

pub mod error;
pub mod managed;
pub mod policy;
pub mod principal;
pub mod state;
mod validate;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use base::random;
use base::{Clock, RootKey, SealedStore, SecretString};

pub use error::IamError;
use policy::{ConditionKeys, Policy, PolicyKind, RequestContext};
pub use principal::Principal;
pub use state::{AccessKey, KeyStatus, ManagedPolicy, Role, Session, User};
use state::{Account, IdentityState, PolicyDoc, FORMAT_VERSION};
use validate::{check_name, check_path, check_policy_size};

/// Everything needed to verify and authorize a request signed with one access key.
pub struct AuthEntry {
    pub access_key_id: String,
    pub secret: SecretString,
    pub principal: Principal,
    pub session_token: Option<SecretString>,
    pub expires_ms: Option<i64>,
    pub active: bool,
    /// The identity policies of the principal (inline and attached), parsed.
    pub policies: Vec<Arc<Policy>>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthEntry")
            .field("access_key_id", &self.access_key_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

struct Inner {
    state: IdentityState,
    index: HashMap<String, Arc<AuthEntry>>,
}

pub struct Iam {
    inner: RwLock<Inner>,
    store: SealedStore<IdentityState>,
    clock: Arc<dyn Clock>,
    builtin: HashMap<String, PolicyDoc>,
}

/// Temporary credentials handed out by AssumeRole.
#[derive(Debug)]
pub struct IssuedSession {
    pub access_key_id: String,
    pub secret: SecretString,
    pub token: SecretString,
    pub expires_ms: i64,
    pub principal: Principal,
}

/// A page of a listing and the marker of the next page, if any.
pub struct Page<T> {
    pub items: Vec<T>,
    pub marker: Option<String>,
}

fn paginate<T: Clone>(
    items: Vec<(String, T)>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<T>, IamError> {
    let max = match max_items {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(IamError::Validation(validate::coral(
                &n.to_string(),
                "maxItems",
                if n < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 1000"
                },
            )))
        }
    };
    let start = match marker {
        None => 0,
        Some(m) => items.iter().position(|(k, _)| k.as_str() >= m).unwrap_or(items.len()),
    };
    let rest = &items[start..];
    let marker = rest.get(max).map(|(k, _)| k.clone());
    Ok(Page {
        items: rest.iter().take(max).map(|(_, v)| v.clone()).collect(),
        marker,
    })
}

fn policies_of(
    builtin: &HashMap<String, PolicyDoc>,
    acct: &Account,
    account_id: &str,
    inline: &std::collections::BTreeMap<String, PolicyDoc>,
    attached: &std::collections::BTreeSet<String>,
) -> Vec<Arc<Policy>> {
    let mut out: Vec<Arc<Policy>> = inline.values().map(|d| d.parsed.clone()).collect();
    for arn in attached {
        if let Some(d) = builtin.get(arn) {
            out.push(d.parsed.clone());
        } else if let Some(p) = acct.policies.values().find(|p| policy_arn(account_id, p) == *arn) {
            out.push(p.doc.parsed.clone());
        }
    }
    out
}

pub fn policy_arn(account: &str, p: &ManagedPolicy) -> String {
    format!("arn:aws:iam::{account}:policy{}{}", p.path, p.name)
}

pub fn user_arn(account: &str, u: &User) -> String {
    format!("arn:aws:iam::{account}:user{}{}", u.path, u.name)
}

pub fn role_arn(account: &str, r: &Role) -> String {
    format!("arn:aws:iam::{account}:role{}{}", r.path, r.name)
}

fn build_index(state: &IdentityState, builtin: &HashMap<String, PolicyDoc>) -> HashMap<String, Arc<AuthEntry>> {
    let mut index = HashMap::new();
    for (account_id, acct) in &state.accounts {
        for k in &acct.root_keys {
            index.insert(
                k.id.clone(),
                Arc::new(AuthEntry {
                    access_key_id: k.id.clone(),
                    secret: k.secret.clone(),
                    principal: Principal::Root {
                        account: account_id.clone(),
                    },
                    session_token: None,
                    expires_ms: None,
                    active: k.status == KeyStatus::Active,
                    policies: Vec::new(),
                }),
            );
        }
        for u in acct.users.values() {
            let policies = policies_of(builtin, acct, account_id, &u.inline, &u.attached);
            for k in &u.access_keys {
                index.insert(
                    k.id.clone(),
                    Arc::new(AuthEntry {
                        access_key_id: k.id.clone(),
                        secret: k.secret.clone(),
                        principal: Principal::User {
                            account: account_id.clone(),
                            name: u.name.clone(),
                            path: u.path.clone(),
                            user_id: u.user_id.clone(),
                        },
                        session_token: None,
                        expires_ms: None,
                        active: k.status == KeyStatus::Active,
                        policies: policies.clone(),
                    }),
                );
            }
        }
    }
    for s in state.sessions.values() {
        let Some(acct) = state.accounts.get(&s.account) else {
            continue;
        };
        // A session outlives neither its role nor a recreated role of the same name.
        let Some(role) = acct.roles.get(&s.role_name).filter(|r| r.role_id == s.role_id) else {
            continue;
        };
        index.insert(
            s.access_key_id.clone(),
            Arc::new(AuthEntry {
                access_key_id: s.access_key_id.clone(),
                secret: s.secret.clone(),
                principal: Principal::AssumedRole {
                    account: s.account.clone(),
                    role_name: s.role_name.clone(),
                    role_path: s.role_path.clone(),
                    role_id: s.role_id.clone(),
                    session_name: s.session_name.clone(),
                    issued_at_ms: s.issued_ms,
                },
                session_token: Some(s.token.clone()),
                expires_ms: Some(s.expires_ms),
                active: true,
                policies: policies_of(builtin, acct, &s.account, &role.inline, &role.attached),
            }),
        );
    }
    index
}

/// `aws:CurrentTime` for a second, formatted once per second and thread.
fn current_time_text(secs: i64) -> String {
    thread_local! {
        static CACHE: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, base::timefmt::iso8601_millis(secs * 1000));
        }
        c.1.clone()
    })
}

fn new_access_key(prefix: &str, now_ms: i64) -> Result<AccessKey, IamError> {
    Ok(AccessKey {
        id: format!("{prefix}{}", random::string_from(random::UPPER_ALNUM, 16)?),
        secret: SecretString::new(random::string_from(random::SECRET_CHARS, 40)?),
        status: KeyStatus::Active,
        created_ms: now_ms,
    })
}

fn unique_id(prefix: &str) -> Result<String, IamError> {
    Ok(format!("{prefix}{}", random::string_from(random::UPPER_ALNUM, 17)?))
}

impl Iam {
    /// Opens (or creates) the identity store `identities.sealed` in `data_dir`.
    pub fn open(data_dir: &Path, root_key: Arc<RootKey>, clock: Arc<dyn Clock>) -> Result<Self, IamError> {
        let store = SealedStore::new(data_dir.join("identities.sealed"), "strongroom/identities/v1", root_key);
        let state = store.load()?.unwrap_or(IdentityState {
            format_version: FORMAT_VERSION,
            ..Default::default()
        });
        let mut builtin = HashMap::new();
        for (name, path, doc) in managed::BUILTIN {
            builtin.insert(managed::arn(name, path), PolicyDoc::parse(doc)?);
        }
        let index = build_index(&state, &builtin);
        Ok(Self {
            inner: RwLock::new(Inner { state, index }),
            store,
            clock,
            builtin,
        })
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to a copy of the state, persists the copy, then makes it current. A failed write
    /// leaves the current state as it was.
    fn mutate<R>(&self, f: impl FnOnce(&mut IdentityState, i64) -> Result<R, IamError>) -> Result<R, IamError> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now_millis();
        let mut next = inner.state.clone();
        let r = f(&mut next, now)?;
        next.sessions.retain(|_, s| s.expires_ms > now);
        self.store.save(&next)?;
        inner.index = build_index(&next, &self.builtin);
        inner.state = next;
        Ok(r)
    }

    /// The entry for an access key id, if any principal holds it.
    pub fn lookup(&self, access_key_id: &str) -> Option<Arc<AuthEntry>> {
        self.read().index.get(access_key_id).cloned()
    }

    /// Makes `access_key_id`/`secret` the root user's credentials for `account` (replacing others).
    pub fn set_root_credentials(
        &self,
        account: &str,
        access_key_id: &str,
        secret: SecretString,
    ) -> Result<(), IamError> {
        if let Some(e) = self.lookup(access_key_id) {
            if e.principal.is_root() && e.secret == secret && e.principal.account() == Some(account) {
                return Ok(());
            }
        }
        self.mutate(|s, now| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            acct.root_keys = vec![AccessKey {
                id: access_key_id.to_owned(),
                secret,
                status: KeyStatus::Active,
                created_ms: now,
            }];
            Ok(())
        })
    }

    /// The root user's credentials for `account`, generating a pair when there is none.
    /// Returns the pair and whether it was generated now.
    pub fn ensure_root_credentials(&self, account: &str) -> Result<(String, SecretString, bool), IamError> {
        if let Some(k) = self
            .read()
            .state
            .accounts
            .get(account)
            .and_then(|a| a.root_keys.first())
        {
            return Ok((k.id.clone(), k.secret.clone(), false));
        }
        let key = self.mutate(|s, now| {
            let key = new_access_key("AKIA", now)?;
            s.accounts.entry(account.to_owned()).or_default().root_keys = vec![key.clone()];
            Ok(key)
        })?;
        Ok((key.id.clone(), key.secret.clone(), true))
    }

    /// Authorizes a call judged by identity policies alone, with AWS's AccessDenied text on refusal.
    pub fn authorize(
        &self,
        entry: &AuthEntry,
        action: &str,
        resource: &str,
        extra: &ConditionKeys,
    ) -> Result<(), IamError> {
        // Only conditions read the keys, and gathering them (the principal's, the clock's) was several
        // percent of a GetItem's CPU; most principals' policies, and the root user's none, have none.
        let keys = if entry.policies.iter().any(|p| p.has_conditions()) {
            self.request_keys(&entry.principal, extra)
        } else {
            ConditionKeys::new()
        };
        let ctx = RequestContext {
            principal: &entry.principal,
            action,
            resource,
            keys: &keys,
        };
        policy::authorize_identity(&entry.policies, &ctx).map_err(|d| {
            IamError::AccessDenied(format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} {}",
                entry.principal.arn(),
                d.reason(action)
            ))
        })
    }

    /// The condition keys every request carries: the principal's and the global `aws:*` ones.
    pub fn request_keys(&self, principal: &Principal, extra: &ConditionKeys) -> ConditionKeys {
        let mut keys = ConditionKeys::new();
        self.add_request_keys(principal, &mut keys);
        keys.extend(extra);
        keys
    }

    /// Adds the principal's and the global keys to `keys`, keeping any already there.
    pub fn add_request_keys(&self, principal: &Principal, keys: &mut ConditionKeys) {
        let mut own = ConditionKeys::new();
        principal.condition_keys(&mut own);
        keys.extend_missing(own);
        let secs = self.clock.now_secs();
        keys.set_if_missing("aws:CurrentTime", || current_time_text(secs))
            .set_if_missing("aws:EpochTime", || secs.to_string())
            .set_if_missing("aws:SecureTransport", || "false".to_owned());
    }

    /// The identity policies of a principal (for resource-policy evaluation elsewhere, such as KMS).
    pub fn identity_policies(&self, principal: &Principal) -> Vec<Arc<Policy>> {
        let inner = self.read();
        let s = &inner.state;
        match principal {
            Principal::User { account, name, .. } => s
                .accounts
                .get(account)
                .and_then(|a| {
                    a.users
                        .get(name)
                        .map(|u| policies_of(&self.builtin, a, account, &u.inline, &u.attached))
                })
                .unwrap_or_default(),
            Principal::AssumedRole { account, role_name, .. } => s
                .accounts
                .get(account)
                .and_then(|a| {
                    a.roles
                        .get(role_name)
                        .map(|r| policies_of(&self.builtin, a, account, &r.inline, &r.attached))
                })
                .unwrap_or_default(),
            Principal::Root { .. } | Principal::Service { .. } => Vec::new(),
        }
    }

    /// Users or roles of an account under a path prefix, a page at a time.
    fn list_entities<T: Entity>(
        &self,
        account: &str,
        pick: impl Fn(&Account) -> &std::collections::BTreeMap<String, T>,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<T>, IamError> {
        let inner = self.read();
        let items = inner
            .state
            .accounts
            .get(account)
            .map(|a| {
                pick(a)
                    .values()
                    .filter(|e| path_prefix.is_none_or(|p| e.path().starts_with(p)))
                    .map(|e| (e.name().to_owned(), e.clone()))
                    .collect()
            })
            .unwrap_or_default();
        paginate(items, marker, max_items)
    }

    // ---- users ------------------------------------------------------------------------------------

    pub fn create_user(&self, account: &str, name: &str, path: Option<&str>) -> Result<User, IamError> {
        check_name(name, "userName", 64)?;
        let path = check_path(path)?;
        self.mutate(|s, now| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            if acct.users.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "User with name {name} already exists."
                )));
            }
            let u = User {
                name: name.to_owned(),
                path,
                user_id: unique_id("AIDA")?,
                created_ms: now,
                inline: Default::default(),
                attached: Default::default(),
                access_keys: Vec::new(),
            };
            acct.users.insert(name.to_owned(), u.clone());
            Ok(u)
        })
    }

    pub fn get_user(&self, account: &str, name: &str) -> Result<User, IamError> {
        self.read()
            .state
            .accounts
            .get(account)
            .and_then(|a| a.users.get(name))
            .cloned()
            .ok_or_else(|| no_user(name))
    }

    pub fn list_users(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<User>, IamError> {
        self.list_entities(account, |a: &Account| &a.users, path_prefix, marker, max_items)
    }

    pub fn delete_user(&self, account: &str, name: &str) -> Result<(), IamError> {
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            let u = acct.users.get(name).ok_or_else(|| no_user(name))?;
            if !u.access_keys.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete access keys first.".into(),
                ));
            }
            if !u.inline.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            if !u.attached.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".into(),
                ));
            }
            acct.users.remove(name);
            Ok(())
        })
    }

    // ---- access keys ------------------------------------------------------------------------------

    /// For a user, or for the root user when `user` is `None`.
    pub fn create_access_key(&self, account: &str, user: Option<&str>) -> Result<(String, AccessKey), IamError> {
        self.mutate(|s, now| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            let (owner, keys) = match user {
                Some(name) => {
                    let u = acct.users.get_mut(name).ok_or_else(|| no_user(name))?;
                    (u.name.clone(), &mut u.access_keys)
                }
                None => (String::new(), &mut acct.root_keys),
            };
            if keys.len() >= 2 {
                return Err(IamError::LimitExceeded(
                    "Cannot exceed quota for AccessKeysPerUser: 2".into(),
                ));
            }
            let k = new_access_key("AKIA", now)?;
            keys.push(k.clone());
            Ok((owner, k))
        })
    }

    pub fn list_access_keys(&self, account: &str, user: Option<&str>) -> Result<Vec<AccessKey>, IamError> {
        let inner = self.read();
        let acct = inner.state.accounts.get(account);
        match user {
            Some(name) => acct
                .and_then(|a| a.users.get(name))
                .map(|u| u.access_keys.clone())
                .ok_or_else(|| no_user(name)),
            None => Ok(acct.map(|a| a.root_keys.clone()).unwrap_or_default()),
        }
    }

    pub fn update_access_key(
        &self,
        account: &str,
        user: Option<&str>,
        key_id: &str,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        self.with_key_list(account, user, |keys| {
            let k = keys.iter_mut().find(|k| k.id == key_id).ok_or_else(|| no_key(key_id))?;
            k.status = status;
            Ok(())
        })
    }

    pub fn delete_access_key(&self, account: &str, user: Option<&str>, key_id: &str) -> Result<(), IamError> {
        self.with_key_list(account, user, |keys| {
            let before = keys.len();
            keys.retain(|k| k.id != key_id);
            if keys.len() == before {
                return Err(no_key(key_id));
            }
            Ok(())
        })
    }

    fn with_key_list(
        &self,
        account: &str,
        user: Option<&str>,
        f: impl FnOnce(&mut Vec<AccessKey>) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            let keys = match user {
                Some(name) => &mut acct.users.get_mut(name).ok_or_else(|| no_user(name))?.access_keys,
                None => &mut acct.root_keys,
            };
            f(keys)
        })
    }

    // ---- inline policies --------------------------------------------------------------------------

    pub fn put_inline_policy(
        &self,
        account: &str,
        target: Target<'_>,
        policy_name: &str,
        doc: &str,
    ) -> Result<(), IamError> {
        check_name(policy_name, "policyName", 128)?;
        check_policy_size(doc, target.inline_limit())?;
        let parsed = PolicyDoc::parse(doc)?;
        parsed.parsed.validate_identity()?;
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            target.inline_mut(acct)?.insert(policy_name.to_owned(), parsed);
            Ok(())
        })
    }

    pub fn get_inline_policy(&self, account: &str, target: Target<'_>, policy_name: &str) -> Result<String, IamError> {
        let inner = self.read();
        let empty = Account::default();
        let acct = inner.state.accounts.get(account).unwrap_or(&empty);
        let map = target.inline(acct)?;
        map.get(policy_name)
            .map(|d| d.text.clone())
            .ok_or_else(|| target.no_policy(policy_name))
    }

    pub fn list_inline_policies(
        &self,
        account: &str,
        target: Target<'_>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<String>, IamError> {
        let inner = self.read();
        let empty = Account::default();
        let acct = inner.state.accounts.get(account).unwrap_or(&empty);
        let names = target.inline(acct)?.keys().map(|k| (k.clone(), k.clone())).collect();
        paginate(names, marker, max_items)
    }

    pub fn delete_inline_policy(&self, account: &str, target: Target<'_>, policy_name: &str) -> Result<(), IamError> {
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            target
                .inline_mut(acct)?
                .remove(policy_name)
                .map(|_| ())
                .ok_or_else(|| target.no_policy(policy_name))
        })
    }

    // ---- roles ------------------------------------------------------------------------------------

    pub fn create_role(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        trust: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<Role, IamError> {
        check_name(name, "roleName", 64)?;
        let path = check_path(path)?;
        let max = max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&max) {
            return Err(IamError::Validation(validate::coral(
                &max.to_string(),
                "maxSessionDuration",
                if max < 3600 {
                    "Member must have value greater than or equal to 3600"
                } else {
                    "Member must have value less than or equal to 43200"
                },
            )));
        }
        let trust = PolicyDoc::parse(trust)?;
        trust.parsed.validate_resource()?;
        self.mutate(|s, now| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            if acct.roles.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role with name {name} already exists."
                )));
            }
            let r = Role {
                name: name.to_owned(),
                path,
                role_id: unique_id("AROA")?,
                created_ms: now,
                trust,
                description: description.map(str::to_owned),
                max_session_duration: max,
                inline: Default::default(),
                attached: Default::default(),
            };
            acct.roles.insert(name.to_owned(), r.clone());
            Ok(r)
        })
    }

    pub fn get_role(&self, account: &str, name: &str) -> Result<Role, IamError> {
        self.read()
            .state
            .accounts
            .get(account)
            .and_then(|a| a.roles.get(name))
            .cloned()
            .ok_or_else(|| no_role(name))
    }

    pub fn list_roles(
        &self,
        account: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<Role>, IamError> {
        self.list_entities(account, |a: &Account| &a.roles, path_prefix, marker, max_items)
    }

    pub fn delete_role(&self, account: &str, name: &str) -> Result<(), IamError> {
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            let r = acct.roles.get(name).ok_or_else(|| no_role(name))?;
            if !r.inline.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            if !r.attached.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".into(),
                ));
            }
            acct.roles.remove(name);
            Ok(())
        })
    }

    // ---- managed policies -------------------------------------------------------------------------

    pub fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        doc: &str,
        description: Option<&str>,
    ) -> Result<ManagedPolicy, IamError> {
        check_name(name, "policyName", 128)?;
        let path = check_path(path)?;
        check_policy_size(doc, 6144)?;
        let parsed = PolicyDoc::parse(doc)?;
        parsed.parsed.validate_identity()?;
        self.mutate(|s, now| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            if acct.policies.contains_key(name) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            let p = ManagedPolicy {
                name: name.to_owned(),
                path,
                policy_id: unique_id("ANPA")?,
                created_ms: now,
                description: description.map(str::to_owned),
                doc: parsed,
            };
            acct.policies.insert(name.to_owned(), p.clone());
            Ok(p)
        })
    }

    /// A managed policy by ARN: the account's own, or an AWS managed one. Returns it with its
    /// attachment count.
    pub fn get_policy(&self, account: &str, arn: &str) -> Result<(ManagedPolicy, usize), IamError> {
        let inner = self.read();
        let empty = Account::default();
        let acct = inner.state.accounts.get(account).unwrap_or(&empty);
        let count = acct.users.values().filter(|u| u.attached.contains(arn)).count()
            + acct.roles.values().filter(|r| r.attached.contains(arn)).count();
        if let Some(p) = acct.policies.values().find(|p| policy_arn(account, p) == arn) {
            return Ok((p.clone(), count));
        }
        for (name, path, _) in managed::BUILTIN {
            if managed::arn(name, path) == arn {
                if let Some(doc) = self.builtin.get(arn) {
                    return Ok((
                        ManagedPolicy {
                            name: (*name).to_owned(),
                            path: (*path).to_owned(),
                            policy_id: format!("ANPA{}", &hex_id(name)),
                            created_ms: 1_423_000_000_000,
                            description: None,
                            doc: doc.clone(),
                        },
                        count,
                    ));
                }
            }
        }
        Err(no_policy(arn))
    }

    /// `scope`: `All`, `AWS` or `Local`, as ListPolicies takes it.
    pub fn list_policies(
        &self,
        account: &str,
        scope: &str,
        only_attached: bool,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<(String, ManagedPolicy, usize)>, IamError> {
        let mut arns: Vec<String> = Vec::new();
        if scope != "Local" {
            arns.extend(managed::BUILTIN.iter().map(|(n, p, _)| managed::arn(n, p)));
        }
        if scope != "AWS" {
            if let Some(a) = self.read().state.accounts.get(account) {
                arns.extend(a.policies.values().map(|p| policy_arn(account, p)));
            }
        }
        let mut items = Vec::new();
        for arn in arns {
            let (p, count) = self.get_policy(account, &arn)?;
            if !only_attached || count > 0 {
                items.push((arn.clone(), (arn, p, count)));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        paginate(items, marker, max_items)
    }

    pub fn delete_policy(&self, account: &str, arn: &str) -> Result<(), IamError> {
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            let name = acct
                .policies
                .values()
                .find(|p| policy_arn(account, p) == arn)
                .map(|p| p.name.clone())
                .ok_or_else(|| no_policy(arn))?;
            let attached = acct.users.values().any(|u| u.attached.contains(arn))
                || acct.roles.values().any(|r| r.attached.contains(arn));
            if attached {
                return Err(IamError::DeleteConflict(
                    "Cannot delete a policy attached to entities.".into(),
                ));
            }
            acct.policies.remove(&name);
            Ok(())
        })
    }

    pub fn attach_policy(&self, account: &str, target: Target<'_>, arn: &str) -> Result<(), IamError> {
        self.get_policy(account, arn)?;
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            target.attached_mut(acct)?.insert(arn.to_owned());
            Ok(())
        })
    }

    pub fn detach_policy(&self, account: &str, target: Target<'_>, arn: &str) -> Result<(), IamError> {
        self.mutate(|s, _| {
            let acct = s.accounts.entry(account.to_owned()).or_default();
            if target.attached_mut(acct)?.remove(arn) {
                Ok(())
            } else {
                Err(IamError::NoSuchEntity(format!("Policy {arn} was not found.")))
            }
        })
    }

    /// `(name, arn)` of the policies attached to a user or role.
    pub fn list_attached(
        &self,
        account: &str,
        target: Target<'_>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<Page<(String, String)>, IamError> {
        let inner = self.read();
        let empty = Account::default();
        let acct = inner.state.accounts.get(account).unwrap_or(&empty);
        let arns = target.attached(acct)?;
        let items = arns
            .iter()
            .map(|arn| {
                let name = arn.rsplit('/').next().unwrap_or(arn).to_owned();
                (arn.clone(), (name, arn.clone()))
            })
            .collect();
        paginate(items, marker, max_items)
    }

    // ---- STS --------------------------------------------------------------------------------------

    /// STS AssumeRole: the role's trust policy must allow the caller (directly, or by naming the
    /// caller's account, whose identity policies must then allow `sts:AssumeRole`).
    pub fn assume_role(
        &self,
        caller: &AuthEntry,
        role_arn_text: &str,
        session_name: &str,
        duration: Option<i64>,
    ) -> Result<IssuedSession, IamError> {
        if session_name.len() < 2 || session_name.len() > 64 || !session_name.chars().all(validate::name_char) {
            return Err(IamError::Validation(validate::coral(
                session_name,
                "roleSessionName",
                "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            )));
        }
        let denied = || {
            IamError::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn_text}",
                caller.principal.arn()
            ))
        };
        if caller.principal.is_root() {
            return Err(IamError::AccessDenied(
                "Roles may not be assumed by root accounts.".into(),
            ));
        }
        let (account, role_name) = parse_role_arn(role_arn_text).ok_or_else(|| {
            IamError::Validation(validate::coral(
                role_arn_text,
                "roleArn",
                "Member must have length greater than or equal to 20",
            ))
        })?;
        let role = self.get_role(&account, &role_name).map_err(|_| denied())?;
        let keys = self.request_keys(&caller.principal, &ConditionKeys::new());
        let ctx = RequestContext {
            principal: &caller.principal,
            action: "sts:AssumeRole",
            resource: role_arn_text,
            keys: &keys,
        };
        policy::authorize_with_resource_policy(&caller.policies, &role.trust.parsed, PolicyKind::Trust, &ctx)
            .map_err(|_| denied())?;
        let duration = duration.unwrap_or(3600);
        if duration < 900 {
            return Err(IamError::Validation(validate::coral(
                &duration.to_string(),
                "durationSeconds",
                "Member must have value greater than or equal to 900",
            )));
        }
        if matches!(caller.principal, Principal::AssumedRole { .. }) && duration > 3600 {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                    .into(),
            ));
        }
        if duration > role.max_session_duration {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
            ));
        }
        self.mutate(|s, now| {
            let key = new_access_key("ASIA", now)?;
            let token = SecretString::new(format!(
                "FwoGZXIvYXdzE{}",
                random::string_from(random::SECRET_CHARS, 300)?
            ));
            let session = Session {
                access_key_id: key.id.clone(),
                secret: key.secret.clone(),
                token: token.clone(),
                account: account.clone(),
                role_name: role.name.clone(),
                role_path: role.path.clone(),
                role_id: role.role_id.clone(),
                session_name: session_name.to_owned(),
                issued_ms: now,
                expires_ms: now + duration * 1000,
            };
            s.sessions.insert(key.id.clone(), session);
            Ok(IssuedSession {
                access_key_id: key.id.clone(),
                secret: key.secret.clone(),
                token,
                expires_ms: now + duration * 1000,
                principal: Principal::AssumedRole {
                    account: account.clone(),
                    role_name: role.name.clone(),
                    role_path: role.path.clone(),
                    role_id: role.role_id.clone(),
                    session_name: session_name.to_owned(),
                    issued_at_ms: now,
                },
            })
        })
    }
}

/// What users and roles share for listing.
trait Entity: Clone {
    fn name(&self) -> &str;
    fn path(&self) -> &str;
}

impl Entity for User {
    fn name(&self) -> &str {
        &self.name
    }
    fn path(&self) -> &str {
        &self.path
    }
}

impl Entity for Role {
    fn name(&self) -> &str {
        &self.name
    }
    fn path(&self) -> &str {
        &self.path
    }
}

/// The user or role an inline or attached policy belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    User(&'a str),
    Role(&'a str),
}

impl Target<'_> {
    fn inline_limit(&self) -> usize {
        match self {
            Target::User(_) => 2048,
            Target::Role(_) => 10240,
        }
    }

    fn missing(&self) -> IamError {
        match self {
            Target::User(n) => no_user(n),
            Target::Role(n) => no_role(n),
        }
    }

    fn no_policy(&self, policy: &str) -> IamError {
        match self {
            Target::User(_) => IamError::NoSuchEntity(format!("The user policy with name {policy} cannot be found.")),
            Target::Role(_) => IamError::NoSuchEntity(format!("The role policy with name {policy} cannot be found.")),
        }
    }

    fn inline<'s>(&self, acct: &'s Account) -> Result<&'s std::collections::BTreeMap<String, PolicyDoc>, IamError> {
        match self {
            Target::User(n) => acct.users.get(*n).map(|u| &u.inline),
            Target::Role(n) => acct.roles.get(*n).map(|r| &r.inline),
        }
        .ok_or_else(|| self.missing())
    }

    fn inline_mut<'s>(
        &self,
        acct: &'s mut Account,
    ) -> Result<&'s mut std::collections::BTreeMap<String, PolicyDoc>, IamError> {
        match self {
            Target::User(n) => acct.users.get_mut(*n).map(|u| &mut u.inline),
            Target::Role(n) => acct.roles.get_mut(*n).map(|r| &mut r.inline),
        }
        .ok_or_else(|| self.missing())
    }

    fn attached<'s>(&self, acct: &'s Account) -> Result<&'s std::collections::BTreeSet<String>, IamError> {
        match self {
            Target::User(n) => acct.users.get(*n).map(|u| &u.attached),
            Target::Role(n) => acct.roles.get(*n).map(|r| &r.attached),
        }
        .ok_or_else(|| self.missing())
    }

    fn attached_mut<'s>(&self, acct: &'s mut Account) -> Result<&'s mut std::collections::BTreeSet<String>, IamError> {
        match self {
            Target::User(n) => acct.users.get_mut(*n).map(|u| &mut u.attached),
            Target::Role(n) => acct.roles.get_mut(*n).map(|r| &mut r.attached),
        }
        .ok_or_else(|| self.missing())
    }
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` into the account and the role name.
fn parse_role_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    (policy::document_is_account_id(account) && !name.is_empty()).then(|| (account.to_owned(), name.to_owned()))
}

fn hex_id(name: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:017X}").chars().take(17).collect()
}

fn no_user(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn no_role(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

fn no_policy(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
}

fn no_key(id: &str) -> IamError {
    IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found."))
}
