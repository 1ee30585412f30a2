//! The identity store's contents: one sealed document (design.md section 3).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::policy::Policy;

/// A policy document kept as the text the caller sent, with its parsed form beside it.
#[derive(Debug, Clone)]
pub struct PolicyDoc {
    pub text: String,
    pub parsed: Arc<Policy>,
}

impl PolicyDoc {
    pub fn parse(text: &str) -> Result<Self, crate::policy::PolicyError> {
        Ok(Self {
            text: text.to_owned(),
            parsed: Arc::new(Policy::parse(text)?),
        })
    }
}

impl Serialize for PolicyDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PolicyDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PolicyDoc::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: SecretString,
    pub status: KeyStatus,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub path: String,
    pub user_id: String,
    pub created_ms: i64,
    pub inline: BTreeMap<String, PolicyDoc>,
    pub attached: BTreeSet<String>,
    pub access_keys: Vec<AccessKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub role_id: String,
    pub created_ms: i64,
    pub trust: PolicyDoc,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub inline: BTreeMap<String, PolicyDoc>,
    pub attached: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub path: String,
    pub policy_id: String,
    pub created_ms: i64,
    pub description: Option<String>,
    pub doc: PolicyDoc,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    pub secret: SecretString,
    pub token: SecretString,
    pub account: String,
    pub role_name: String,
    pub role_path: String,
    pub role_id: String,
    pub session_name: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Account {
    pub root_keys: Vec<AccessKey>,
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    pub policies: BTreeMap<String, ManagedPolicy>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdentityState {
    pub format_version: u32,
    pub accounts: BTreeMap<String, Account>,
    pub sessions: BTreeMap<String, Session>,
}

pub const FORMAT_VERSION: u32 = 1;
