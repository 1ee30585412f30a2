//! DynamoDB's owned key (design.md section 4): one symmetric KMS key per region in a service account,
//! through which every table without its own SSE key gets its table key. The calls go through KMS's own
//! authorization and audit path as the service account, so they land in that account's trail, never in
//! the customer's (as with AWS owned keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base::SecretBytes;
use dynamodb::tables::TableKeyContext;
use dynamodb::DynamoError;
use iam::Principal;
use kms::{CreateKeyInput, DataKeyInput, DecryptInput, EncryptionContext, Kms, KmsCaller, KmsError};

/// The account the owned keys live in: not a customer account.
pub const OWNED_KEY_ACCOUNT: &str = "000000000001";
const ALIAS: &str = "alias/dynamodb/owned-key";

pub struct OwnedKeys {
    kms: Arc<Kms>,
    /// Key ARN per region, once found or made.
    keys: Mutex<HashMap<String, String>>,
}

fn kms_failure(e: KmsError) -> DynamoError {
    DynamoError::Storage(format!("the owned table key could not be used: {e}"))
}

impl OwnedKeys {
    pub fn new(kms: Arc<Kms>) -> OwnedKeys {
        OwnedKeys {
            kms,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn caller(region: &str) -> KmsCaller {
        KmsCaller {
            principal: Principal::Root {
                account: OWNED_KEY_ACCOUNT.to_owned(),
            },
            identity_policies: Vec::new(),
            access_key_id: String::new(),
            region: region.to_owned(),
            via_service: Some(format!("dynamodb.{region}.amazonaws.com")),
            invoked_by: Some("dynamodb.amazonaws.com".to_owned()),
            source_ip: "dynamodb.amazonaws.com".to_owned(),
            user_agent: "dynamodb.amazonaws.com".to_owned(),
            request_id: base::random::unique_uuid(),
        }
    }

    /// The region's owned key, made on first use.
    fn key_arn(&self, region: &str) -> Result<String, DynamoError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(arn) = keys.get(region) {
            return Ok(arn.clone());
        }
        let caller = Self::caller(region);
        let arn = match self.kms.describe_key(&caller, ALIAS, &[]) {
            Ok(m) => m.arn,
            Err(KmsError::NotFound(_)) => {
                let made = self
                    .kms
                    .create_key(
                        &caller,
                        CreateKeyInput {
                            description: Some(
                                "Default key that protects DynamoDB tables when no other key is given".into(),
                            ),
                            ..Default::default()
                        },
                    )
                    .map_err(kms_failure)?;
                self.kms
                    .create_alias(&caller, ALIAS, &made.key_id)
                    .map_err(kms_failure)?;
                made.arn
            }
            Err(e) => return Err(kms_failure(e)),
        };
        keys.insert(region.to_owned(), arn.clone());
        Ok(arn)
    }
}

/// The encryption context DynamoDB binds every table key to.
pub fn context(ctx: TableKeyContext<'_>) -> EncryptionContext {
    EncryptionContext::from([
        ("aws:dynamodb:tableName".to_owned(), ctx.table_name.to_owned()),
        ("aws:dynamodb:subscriberId".to_owned(), ctx.account.to_owned()),
    ])
}

impl OwnedKeys {
    /// A new table key under the region's owned key: its blob and plaintext.
    pub fn generate_table_key(&self, ctx: TableKeyContext<'_>) -> Result<(Vec<u8>, SecretBytes), DynamoError> {
        let arn = self.key_arn(ctx.region)?;
        let out = self
            .kms
            .generate_data_key(
                &Self::caller(ctx.region),
                DataKeyInput {
                    key_id: arn,
                    key_spec: Some("AES_256".into()),
                    number_of_bytes: None,
                    encryption_context: context(ctx),
                    grant_tokens: Vec::new(),
                    dry_run: false,
                },
                true,
            )
            .map_err(kms_failure)?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| DynamoError::Storage("GenerateDataKey returned no plaintext".into()))?;
        Ok((out.ciphertext, plaintext))
    }

    pub fn decrypt_table_key(&self, ctx: TableKeyContext<'_>, blob: &[u8]) -> Result<SecretBytes, DynamoError> {
        let arn = self.key_arn(ctx.region)?;
        decrypt_table_key_as(&self.kms, &Self::caller(ctx.region), ctx, &arn, blob).map_err(kms_failure)
    }
}

/// Decrypts a table key's blob under `key_arn` with the table's encryption context, as `caller`.
pub fn decrypt_table_key_as(
    kms: &Kms,
    caller: &KmsCaller,
    ctx: TableKeyContext<'_>,
    key_arn: &str,
    blob: &[u8],
) -> Result<SecretBytes, KmsError> {
    kms.decrypt(
        caller,
        DecryptInput {
            ciphertext: blob.to_vec(),
            encryption_context: context(ctx),
            grant_tokens: Vec::new(),
            key_id: Some(key_arn.to_owned()),
            algorithm: None,
            dry_run: false,
        },
    )
    .map(|out| out.plaintext)
}
