//! The CloudTrail record model (spec/audit-trail.md section 2 and 3).

use serde_json::Value;

use crate::json_out::{write_object, JsonObject};

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
    /// The fields of `userIdentity`, in CloudTrail's order.
    fn write_fields(&self, invoked_by: Option<&str>, o: &mut JsonObject) {
        match self {
            Identity::Root { account, access_key_id } => {
                o.str("type", "Root");
                o.str("principalId", account);
                o.str("arn", &format!("arn:aws:iam::{account}:root"));
                o.str("accountId", account);
                o.str("accessKeyId", access_key_id);
            }
            Identity::IamUser {
                account,
                principal_id,
                arn,
                user_name,
                access_key_id,
            } => {
                o.str("type", "IAMUser");
                o.str("principalId", principal_id);
                o.str("arn", arn);
                o.str("accountId", account);
                o.str("accessKeyId", access_key_id);
                o.str("userName", user_name);
            }
            Identity::AssumedRole {
                account,
                principal_id,
                arn,
                access_key_id,
                session_created_ms,
                role_id,
                role_arn,
                role_name,
            } => {
                o.str("type", "AssumedRole");
                o.str("principalId", principal_id);
                o.str("arn", arn);
                o.str("accountId", account);
                o.str("accessKeyId", access_key_id);
                o.object("sessionContext", |context| {
                    context.object("attributes", |a| {
                        a.str("mfaAuthenticated", "false");
                        a.str("creationDate", &base::timefmt::iso8601_millis(*session_created_ms));
                    });
                    context.object("sessionIssuer", |issuer| {
                        issuer.str("type", "Role");
                        issuer.str("principalId", role_id);
                        issuer.str("arn", role_arn);
                        issuer.str("accountId", account);
                        issuer.str("userName", role_name);
                    });
                });
            }
            Identity::AwsService { invoked_by: own } => {
                o.str("type", "AWSService");
                // A service acting for itself names itself, unless the call names who invoked it.
                if invoked_by.is_none() {
                    o.str("invokedBy", own);
                }
            }
        }
        if let Some(by) = invoked_by {
            o.str("invokedBy", by);
        }
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
            request_parameters: serde_json::json!({"keyId": "MARKER-KEY-ID"}),
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

    /// The record exactly as CloudTrail writes it, in its field order, as JSON text. Written by hand
    /// rather than through serde: the trail writer does this for every KMS call, and building
    /// `serde_json::Value`s for the identity cost more than the rest of the record.
    pub fn to_record_json(&self) -> String {
        let mut o = JsonObject::new(String::with_capacity(1024));
        o.str("eventVersion", "1.08");
        o.object("userIdentity", |identity| {
            self.identity.write_fields(self.invoked_by.as_deref(), identity)
        });
        o.str("eventTime", &base::timefmt::iso8601_millis(self.time_ms));
        o.str("eventSource", &self.event_source);
        o.str("eventName", &self.event_name);
        o.str("awsRegion", &self.region);
        o.str("sourceIPAddress", &self.source_ip);
        o.str("userAgent", &self.user_agent);
        if let Some(e) = &self.error {
            o.str("errorCode", &e.code);
            o.str("errorMessage", &e.message);
        }
        o.value("requestParameters", &self.request_parameters);
        o.value("responseElements", &self.response_elements);
        if let Some(v) = &self.additional_event_data {
            o.value("additionalEventData", v);
        }
        o.str("requestID", &self.request_id);
        o.str("eventID", &self.event_id);
        o.raw("readOnly", if self.read_only { "true" } else { "false" });
        if !self.resources.is_empty() {
            o.key("resources");
            o.out.push('[');
            for (i, (arn, account)) in self.resources.iter().enumerate() {
                if i > 0 {
                    o.out.push(',');
                }
                write_object(&mut o.out, |r| {
                    r.str("ARN", arn);
                    r.str("accountId", account);
                    r.str("type", "AWS::KMS::Key");
                });
            }
            o.out.push(']');
        }
        o.str("eventType", "AwsApiCall");
        o.raw("managementEvent", "true");
        o.str("recipientAccountId", &self.recipient_account);
        if let Some(id) = &self.shared_event_id {
            o.str("sharedEventID", id);
        }
        o.str("eventCategory", "Management");
        o.finish()
    }
}

#[cfg(test)]
mod tests {
    //! The record writer against the serde structs it replaced: the same JSON, field for field.
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    fn identity_json(identity: &Identity, invoked_by: Option<&str>) -> Value {
        let mut v = match identity {
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

    fn serde_record(e: &AuditEvent) -> String {
        let r = Record {
            event_version: "1.08",
            user_identity: identity_json(&e.identity, e.invoked_by.as_deref()),
            event_time: base::timefmt::iso8601_millis(e.time_ms),
            event_source: &e.event_source,
            event_name: &e.event_name,
            aws_region: &e.region,
            source_ip_address: &e.source_ip,
            user_agent: &e.user_agent,
            error_code: e.error.as_ref().map(|e| e.code.as_str()),
            error_message: e.error.as_ref().map(|e| e.message.as_str()),
            request_parameters: &e.request_parameters,
            response_elements: &e.response_elements,
            additional_event_data: e.additional_event_data.as_ref(),
            request_id: &e.request_id,
            event_id: &e.event_id,
            read_only: e.read_only,
            resources: e
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
            recipient_account_id: &e.recipient_account,
            shared_event_id: e.shared_event_id.as_deref(),
            event_category: "Management",
        };
        serde_json::to_string(&r).unwrap_or_default()
    }

    fn identities() -> Vec<Identity> {
        vec![
            Identity::Root {
                account: "111122223333".into(),
                access_key_id: "AKIA\"quoted\"".into(),
            },
            Identity::IamUser {
                account: "111122223333".into(),
                principal_id: "AIDAEXAMPLE".into(),
                arn: "arn:aws:iam::111122223333:user/Alice".into(),
                user_name: "Alice\u{1}ünicode".into(),
                access_key_id: "AKIAALICE".into(),
            },
            Identity::AssumedRole {
                account: "111122223333".into(),
                principal_id: "AROAEXAMPLE:session".into(),
                arn: "arn:aws:sts::111122223333:assumed-role/R/session".into(),
                access_key_id: "ASIAEXAMPLE".into(),
                session_created_ms: 1_700_000_000_123,
                role_id: "AROAEXAMPLE".into(),
                role_arn: "arn:aws:iam::111122223333:role/R".into(),
                role_name: "R".into(),
            },
            Identity::AwsService {
                invoked_by: "dynamodb.amazonaws.com".into(),
            },
        ]
    }

    #[test]
    fn the_record_is_the_json_the_serde_model_gave() {
        for identity in identities() {
            for invoked_by in [None, Some("dynamodb.amazonaws.com")] {
                for variant in 0..2 {
                    let mut e = AuditEvent::sample("Encrypt");
                    e.identity = identity.clone();
                    e.invoked_by = invoked_by.map(str::to_owned);
                    if variant == 1 {
                        e.error = Some(ErrorInfo {
                            code: "AccessDenied".into(),
                            message: "line\nbreak \\ and \"quotes\"".into(),
                        });
                        e.additional_event_data = Some(json!({"keyMaterialId": "x"}));
                        e.resources = vec![("arn:aws:kms:us-west-2:111122223333:key/k".into(), "111122223333".into())];
                        e.shared_event_id = Some("shared".into());
                        e.read_only = false;
                        e.response_elements = json!({"keyId": "k", "n": [1, 2.5, null]});
                    }
                    let ours = e.to_record_json();
                    let parsed: Value = serde_json::from_str(&ours).unwrap();
                    let theirs: Value = serde_json::from_str(&serde_record(&e)).unwrap();
                    assert_eq!(parsed, theirs, "{ours}");
                }
            }
        }
    }

    #[test]
    fn top_level_fields_are_in_cloudtrails_order() {
        let record = AuditEvent::sample("Decrypt").to_record_json();
        let at = |k: &str| record.find(&format!("\"{k}\":")).unwrap();
        let order = [
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "requestParameters",
            "responseElements",
            "requestID",
            "eventID",
            "readOnly",
            "eventType",
            "managementEvent",
            "recipientAccountId",
            "eventCategory",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{record}");
        assert!(record.starts_with(
            r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"#
        ));
    }
}
