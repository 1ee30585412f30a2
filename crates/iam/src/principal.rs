//! Who is making a request, as policies and the audit trail see them.

use serde::{Deserialize, Serialize};

use crate::policy::ConditionKeys;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// The account's root user.
    Root { account: String },
    User {
        account: String,
        name: String,
        path: String,
        user_id: String,
    },
    /// A session of a role, from STS AssumeRole.
    AssumedRole {
        account: String,
        role_name: String,
        role_path: String,
        role_id: String,
        session_name: String,
        /// When the session began (ms since the epoch), for CloudTrail's `sessionContext`.
        issued_at_ms: i64,
    },
    /// An AWS service acting on its own account, such as `dynamodb.amazonaws.com`.
    Service { service: String },
}

impl Principal {
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Root { account } | Principal::User { account, .. } | Principal::AssumedRole { account, .. } => {
                Some(account)
            }
            Principal::Service { .. } => None,
        }
    }

    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account } => format!("arn:aws:iam::{account}:root"),
            Principal::User {
                account, name, path, ..
            } => format!("arn:aws:iam::{account}:user{path}{name}"),
            Principal::AssumedRole {
                account,
                role_name,
                session_name,
                ..
            } => format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"),
            Principal::Service { service } => service.clone(),
        }
    }

    /// The role's own ARN, for a role session.
    pub fn role_arn(&self) -> Option<String> {
        match self {
            Principal::AssumedRole {
                account,
                role_name,
                role_path,
                ..
            } => Some(format!("arn:aws:iam::{account}:role{role_path}{role_name}")),
            _ => None,
        }
    }

    /// `UserId` in GetCallerIdentity, `principalId` in CloudTrail.
    pub fn principal_id(&self) -> String {
        match self {
            Principal::Root { account } => account.clone(),
            Principal::User { user_id, .. } => user_id.clone(),
            Principal::AssumedRole {
                role_id, session_name, ..
            } => format!("{role_id}:{session_name}"),
            Principal::Service { service } => service.clone(),
        }
    }

    /// CloudTrail's `userIdentity.type`.
    pub fn identity_type(&self) -> &'static str {
        match self {
            Principal::Root { .. } => "Root",
            Principal::User { .. } => "IAMUser",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::Service { .. } => "AWSService",
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(self, Principal::Root { .. })
    }

    /// The `aws:*` keys that describe the principal.
    pub fn condition_keys(&self, keys: &mut ConditionKeys) {
        match self {
            Principal::Root { account } => {
                keys.set("aws:PrincipalArn", self.arn())
                    .set("aws:PrincipalAccount", account.clone())
                    .set("aws:PrincipalType", "Account")
                    .set("aws:userid", account.clone());
            }
            Principal::User {
                account, name, user_id, ..
            } => {
                keys.set("aws:PrincipalArn", self.arn())
                    .set("aws:PrincipalAccount", account.clone())
                    .set("aws:PrincipalType", "User")
                    .set("aws:username", name.clone())
                    .set("aws:userid", user_id.clone());
            }
            Principal::AssumedRole { account, .. } => {
                keys.set("aws:PrincipalArn", self.role_arn().unwrap_or_default())
                    .set("aws:PrincipalAccount", account.clone())
                    .set("aws:PrincipalType", "AssumedRole")
                    .set("aws:userid", self.principal_id());
            }
            Principal::Service { service } => {
                keys.set("aws:PrincipalServiceName", service.clone())
                    .set("aws:PrincipalType", "Service");
            }
        }
    }
}
