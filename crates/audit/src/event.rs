//! The CloudTrail record model (spec/audit-trail.md section 2 and 3).

use serde::Serialize;
use serde_json::{json, Value};

/// Who made the call, in CloudTrail's `userIdentity` terms.
#[derive(Debug, Clone)]
pub enum Identity {
    Root {
        account: String,
        access_key_id: String,
    },
    IamUser {
        account: String,
        principal_id: String,
        arn: String,
        user_name: String,
        access_key_id: String,
    },
    AssumedRole {
        account: String,
        principal_id: String,
        arn: String,
        access_key_id: String,
        session_created_ms: i64,
        role_id: String,
        role_arn: String,
        role_name: String,
    },
    /// A service acting for itself (`invokedBy` names it).
    AwsService {
        invoked_by: String,
    },
}

impl Identity {
    fn to_json(&self, invoked_by: Option<&str>) -> Value {
        let mut v = match self {
            Identity::Root { account, access_key_id } => json!({
                "type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"),
                "accountId": account, "accessKeyId": access_key_id,
            }),
            Identity::IamUser {
                account,
                principal_id,
                arn,
                user_name,
                access_key_id,
            } => json!({
                "type": "IAMUser", "principalId": principal_id, "arn": arn, "accountId": account,
                "accessKeyId": access_key_id, "userName": user_name,
            }),
            Identity::AssumedRole {
                account,
                principal_id,
                arn,
                access_key_id,
                session_created_ms,
                role_id,
                role_arn,
                role_name,
            } => json!({
                "type": "AssumedRole", "principalId": principal_id, "arn": arn, "accountId": account,
                "accessKeyId": access_key_id,
                "sessionContext": {
                    "attributes": {"mfaAuthenticated": "false", "creationDate": base::timefmt::iso8601_millis(*session_created_ms)},
                    "sessionIssuer": {"type": "Role", "principalId": role_id, "arn": role_arn, "accountId": account, "userName": role_name},
                },
            }),
            Identity::AwsService { invoked_by } => json!({"type": "AWSService", "invokedBy": invoked_by}),
        };
        if let (Some(by), Some(obj)) = (invoked_by, v.as_object_mut()) {
            obj.insert("invokedBy".into(), Value::String(by.to_owned()));
        }
        v
    }

    /// LookupEvents' `Username`.
    pub fn username(&self) -> Option<String> {
        match self {
            Identity::Root { .. } => Some("root".into()),
            Identity::IamUser { user_name, .. } => Some(user_name.clone()),
            Identity::AssumedRole { arn, .. } => arn.rsplit('/').next().map(str::to_owned),
            Identity::AwsService { .. } => None,
        }
    }

    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            Identity::Root { access_key_id, .. }
            | Identity::IamUser { access_key_id, .. }
            | Identity::AssumedRole { access_key_id, .. } => Some(access_key_id),
            Identity::AwsService { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

/// One API call to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub time_ms: i64,
    pub event_source: String,
    pub event_name: String,
    pub region: String,
    pub identity: Identity,
    /// Set when a service made the call on the identity's behalf (`dynamodb.amazonaws.com`).
    pub invoked_by: Option<String>,
    pub source_ip: String,
    pub user_agent: String,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub additional_event_data: Option<Value>,
    pub request_id: String,
    pub event_id: String,
    pub read_only: bool,
    /// `(ARN, account)` of each KMS key the call touched.
    pub resources: Vec<(String, String)>,
    pub recipient_account: String,
    pub shared_event_id: Option<String>,
    pub error: Option<ErrorInfo>,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The record in CloudTrail's field order, borrowed from the event: serialized straight to text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: Value,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a Value,
    response_elements: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<&'a Value>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<Resource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    #[serde(rename = "sharedEventID", skip_serializing_if = "Option::is_none")]
    shared_event_id: Option<&'a str>,
    event_category: &'static str,
}

impl AuditEvent {
    /// A root user's read-only KMS call named `name`, for tests.
    #[cfg(test)]
    pub(crate) fn sample(name: &str) -> AuditEvent {
        AuditEvent {
            time_ms: 1_700_000_000_000,
            event_source: "kms.amazonaws.com".into(),
            event_name: name.into(),
            region: "us-west-2".into(),
            identity: Identity::Root {
                account: "111122223333".into(),
                access_key_id: "AKIAEXAMPLE".into(),
            },
            invoked_by: None,
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            request_parameters: json!({"keyId": "MARKER-KEY-ID"}),
            response_elements: Value::Null,
            additional_event_data: None,
            request_id: "r".into(),
            event_id: format!("e-{name}"),
            read_only: true,
            resources: vec![],
            recipient_account: "111122223333".into(),
            shared_event_id: None,
            error: None,
        }
    }

    /// The record exactly as CloudTrail writes it, as JSON text.
    pub fn to_record_json(&self) -> String {
        let r = Record {
            event_version: "1.08",
            user_identity: self.identity.to_json(self.invoked_by.as_deref()),
            event_time: base::timefmt::iso8601_millis(self.time_ms),
            event_source: &self.event_source,
            event_name: &self.event_name,
            aws_region: &self.region,
            source_ip_address: &self.source_ip,
            user_agent: &self.user_agent,
            error_code: self.error.as_ref().map(|e| e.code.as_str()),
            error_message: self.error.as_ref().map(|e| e.message.as_str()),
            request_parameters: &self.request_parameters,
            response_elements: &self.response_elements,
            additional_event_data: self.additional_event_data.as_ref(),
            request_id: &self.request_id,
            event_id: &self.event_id,
            read_only: self.read_only,
            resources: self
                .resources
                .iter()
                .map(|(arn, acct)| Resource {
                    arn,
                    account_id: acct,
                    kind: "AWS::KMS::Key",
                })
                .collect(),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: &self.recipient_account,
            shared_event_id: self.shared_event_id.as_deref(),
            event_category: "Management",
        };
        serde_json::to_string(&r).unwrap_or_default()
    }
}
