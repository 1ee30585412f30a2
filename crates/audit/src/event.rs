//! The CloudTrail record model (spec/audit-trail.md section 2 and 3).

use serde_json::{json, Map, Value};

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

impl AuditEvent {
    /// The record exactly as CloudTrail writes it.
    pub fn to_record(&self) -> Value {
        let mut r = Map::new();
        r.insert("eventVersion".into(), json!("1.08"));
        r.insert("userIdentity".into(), self.identity.to_json(self.invoked_by.as_deref()));
        r.insert("eventTime".into(), json!(base::timefmt::iso8601_millis(self.time_ms)));
        r.insert("eventSource".into(), json!(self.event_source));
        r.insert("eventName".into(), json!(self.event_name));
        r.insert("awsRegion".into(), json!(self.region));
        r.insert("sourceIPAddress".into(), json!(self.source_ip));
        r.insert("userAgent".into(), json!(self.user_agent));
        if let Some(e) = &self.error {
            r.insert("errorCode".into(), json!(e.code));
            r.insert("errorMessage".into(), json!(e.message));
        }
        r.insert("requestParameters".into(), self.request_parameters.clone());
        r.insert("responseElements".into(), self.response_elements.clone());
        if let Some(a) = &self.additional_event_data {
            r.insert("additionalEventData".into(), a.clone());
        }
        r.insert("requestID".into(), json!(self.request_id));
        r.insert("eventID".into(), json!(self.event_id));
        r.insert("readOnly".into(), json!(self.read_only));
        if !self.resources.is_empty() {
            let res: Vec<Value> = self
                .resources
                .iter()
                .map(|(arn, acct)| json!({"ARN": arn, "accountId": acct, "type": "AWS::KMS::Key"}))
                .collect();
            r.insert("resources".into(), Value::Array(res));
        }
        r.insert("eventType".into(), json!("AwsApiCall"));
        r.insert("managementEvent".into(), json!(true));
        r.insert("recipientAccountId".into(), json!(self.recipient_account));
        if let Some(s) = &self.shared_event_id {
            r.insert("sharedEventID".into(), json!(s));
        }
        r.insert("eventCategory".into(), json!("Management"));
        Value::Object(r)
    }
}
