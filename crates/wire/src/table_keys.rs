//! DynamoDB's calls to KMS for a table's key hierarchy, made for one request (spec/encryption-at-rest.md
//! section 3). The owned key goes through [`OwnedKeys`]; a key of the customer's account is used exactly as
//! the seed shows: DescribeKey and CreateGrant as the caller via DynamoDB, GenerateDataKey as the service
//! under that grant, Decrypt of the table key as the caller accessing the table, RetireGrant as the service.
//! Every call goes through KMS's authorization and lands in the trail. KMS's refusals become the errors
//! DynamoDB reports (`KMS key disabled error: ...`), in one place: [`kms_derived`].

use base::SecretBytes;
use dynamodb::tables::{KeyChoice, KeyService, NewTableKey, SseKey, SseKind, TableKeyContext};
use dynamodb::DynamoError;
use iam::Principal;
use kms::{Constraints, CreateGrantInput, DataKeyInput, Kms, KmsCaller, KmsError};

use crate::owned_keys::{context, decrypt_table_key_as, OwnedKeys};
use crate::Caller;

/// The operations of the grant DynamoDB creates on a table's KMS key.
const GRANT_OPERATIONS: [&str; 7] = [
    "DescribeKey",
    "GenerateDataKey",
    "Decrypt",
    "Encrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "RetireGrant",
];

pub struct TableKeys<'a> {
    pub kms: &'a Kms,
    pub owned: &'a OwnedKeys,
    pub caller: &'a Caller,
}

/// A KMS refusal as DynamoDB words it: the KMS exception wrapped in the text of the Java SDK DynamoDB uses.
pub fn kms_derived(e: KmsError) -> DynamoError {
    let request_id = base::random::unique_uuid();
    let code = e.code();
    let message = e.to_string();
    let java = |class: &str, error_code: &str| {
        format!(
            "com.amazonaws.services.kms.model.{class}: {message} (Service: AWSKMS; Status Code: 400; Error Code: {error_code}; Request ID: {request_id}; Proxy: null)"
        )
    };
    match e {
        KmsError::Disabled(_) => {
            DynamoError::Validation(format!("KMS key disabled error: {}", java("DisabledException", code)))
        }
        KmsError::AccessDenied(_) => DynamoError::AccessDenied(format!(
            "KMS key access denied error: {}",
            java("AWSKMSException", code)
        )),
        KmsError::Internal(m) => DynamoError::Storage(format!("KMS failed: {m}")),
        _ => DynamoError::Validation(format!("KMS validation error: {}", java(code, code))),
    }
}

fn service_name(region: &str) -> String {
    format!("dynamodb.{region}.amazonaws.com")
}

/// DynamoDB itself, using a table's grant.
fn as_service(region: &str) -> KmsCaller {
    KmsCaller {
        principal: Principal::Service {
            service: "dynamodb.amazonaws.com".into(),
        },
        identity_policies: Vec::new(),
        access_key_id: String::new(),
        via_service: None,
        invoked_by: Some("dynamodb.amazonaws.com".into()),
        source_ip: "dynamodb.amazonaws.com".into(),
        user_agent: "dynamodb.amazonaws.com".into(),
        request_id: base::random::unique_uuid(),
        region: region.to_owned(),
    }
}

/// The key-health check DynamoDB runs for a table under a customer's key: the table key decrypted by the
/// service under the table's grant. A disabled key, a key pending deletion or a retired or revoked grant
/// fails it.
pub fn check_table_key(kms: &Kms, ctx: TableKeyContext<'_>, sse: &SseKey, blob: &[u8]) -> Result<(), DynamoError> {
    decrypt_table_key_as(kms, &as_service(ctx.region), ctx, &sse.key_arn, blob)
        .map(|_| ())
        .map_err(kms_derived)
}

impl TableKeys<'_> {
    /// The caller, acting through DynamoDB (`kms:ViaService`, `invokedBy`).
    fn as_caller(&self) -> KmsCaller {
        KmsCaller {
            via_service: Some(service_name(&self.caller.region)),
            invoked_by: Some("dynamodb.amazonaws.com".into()),
            source_ip: "dynamodb.amazonaws.com".into(),
            user_agent: "dynamodb.amazonaws.com".into(),
            request_id: base::random::unique_uuid(),
            ..crate::services::kms::caller(self.caller)
        }
    }

    fn as_service(&self) -> KmsCaller {
        as_service(&self.caller.region)
    }

    fn customer_key(&self, ctx: TableKeyContext<'_>, key_id: &str, kind: SseKind) -> Result<NewTableKey, DynamoError> {
        let caller = self.as_caller();
        // A key ARN names its region; a key of another region is not this region's DynamoDB's to use.
        if let Some(rest) = key_id.strip_prefix("arn:aws:kms:") {
            let region = rest.split(':').next().unwrap_or_default();
            if region != ctx.region {
                return Err(kms_derived(KmsError::NotFound(format!("Invalid arn {region}"))));
            }
        }
        let meta = self.kms.describe_key(&caller, key_id, &[]).map_err(kms_derived)?;
        if meta.key_spec != "SYMMETRIC_DEFAULT" || meta.key_usage != "ENCRYPT_DECRYPT" {
            // AWS answers a 500 here (KMS refuses the grant's encryption-context constraint); a 400 is the
            // deliberate, documented deviation.
            return Err(kms_derived(KmsError::Validation(
                "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.".into(),
            )));
        }
        let service = service_name(ctx.region);
        let (grant_id, token) = self
            .kms
            .create_grant(
                &caller,
                CreateGrantInput {
                    key_id: meta.arn.clone(),
                    grantee_principal: service.clone(),
                    retiring_principal: Some(service),
                    operations: GRANT_OPERATIONS.iter().map(|s| s.to_string()).collect(),
                    constraints: Constraints {
                        subset: Some(context(ctx)),
                        equals: None,
                    },
                    grant_tokens: Vec::new(),
                    name: None,
                    dry_run: false,
                },
            )
            .map_err(kms_derived)?;
        let generated = self.kms.generate_data_key(
            &self.as_service(),
            DataKeyInput {
                key_id: meta.arn.clone(),
                key_spec: Some("AES_256".into()),
                number_of_bytes: None,
                encryption_context: context(ctx),
                grant_tokens: vec![token],
                dry_run: false,
            },
            true,
        );
        let sse = SseKey {
            kind,
            key_arn: meta.arn,
            grant_id,
        };
        let out = match generated {
            Ok(out) => out,
            Err(e) => {
                let _ = self.release_table_key(ctx, &sse);
                return Err(kms_derived(e));
            }
        };
        let key = out
            .plaintext
            .ok_or_else(|| DynamoError::Storage("GenerateDataKey returned no plaintext".into()))?;
        Ok(NewTableKey {
            sse: Some(sse),
            blob: out.ciphertext,
            key,
        })
    }
}

impl KeyService for TableKeys<'_> {
    fn create_table_key(&self, ctx: TableKeyContext<'_>, choice: &KeyChoice) -> Result<NewTableKey, DynamoError> {
        match choice {
            KeyChoice::Owned => {
                let (blob, key) = self.owned.generate_table_key(ctx)?;
                Ok(NewTableKey { sse: None, blob, key })
            }
            KeyChoice::Managed => {
                let arn = self
                    .kms
                    .dynamodb_managed_key(ctx.account, ctx.region)
                    .map_err(kms_derived)?;
                self.customer_key(ctx, &arn, SseKind::Managed)
            }
            KeyChoice::Customer(id) => self.customer_key(ctx, id, SseKind::Customer),
        }
    }

    fn decrypt_table_key(
        &self,
        ctx: TableKeyContext<'_>,
        sse: Option<&SseKey>,
        blob: &[u8],
    ) -> Result<SecretBytes, DynamoError> {
        let Some(sse) = sse else {
            return self.owned.decrypt_table_key(ctx, blob);
        };
        decrypt_table_key_as(self.kms, &self.as_caller(), ctx, &sse.key_arn, blob).map_err(kms_derived)
    }

    fn principal(&self) -> String {
        self.caller.entry.principal.arn()
    }

    fn release_table_key(&self, _ctx: TableKeyContext<'_>, sse: &SseKey) -> Result<(), DynamoError> {
        self.kms
            .retire_grant(&self.as_service(), None, Some(&sse.key_arn), Some(&sse.grant_id), false)
            .map_err(kms_derived)
    }
}

/// DynamoDB's own use of table keys, with no caller (the TTL sweeper): the owned key as the service
/// account, a customer's key as the service under the table's grant.
pub struct ServiceKeys<'a> {
    pub kms: &'a Kms,
    pub owned: &'a OwnedKeys,
}

impl KeyService for ServiceKeys<'_> {
    fn create_table_key(&self, _: TableKeyContext<'_>, _: &KeyChoice) -> Result<NewTableKey, DynamoError> {
        Err(DynamoError::Storage("background work does not create tables".into()))
    }

    fn decrypt_table_key(
        &self,
        ctx: TableKeyContext<'_>,
        sse: Option<&SseKey>,
        blob: &[u8],
    ) -> Result<SecretBytes, DynamoError> {
        match sse {
            None => self.owned.decrypt_table_key(ctx, blob),
            Some(sse) => {
                decrypt_table_key_as(self.kms, &as_service(ctx.region), ctx, &sse.key_arn, blob).map_err(kms_derived)
            }
        }
    }

    fn release_table_key(&self, _: TableKeyContext<'_>, _: &SseKey) -> Result<(), DynamoError> {
        Err(DynamoError::Storage("background work does not delete tables".into()))
    }

    fn principal(&self) -> String {
        "dynamodb.amazonaws.com".into()
    }
}
