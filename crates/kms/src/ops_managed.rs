//! AWS managed keys (`alias/aws/<service>`): made by KMS in the customer's account the first time a
//! service resolves the alias, with the service's fixed key policy, `KeyManager: AWS` and yearly rotation.
//! Only DynamoDB's exists here (spec/kms-api.md section 7, policies-grants.md section 4).

use std::collections::BTreeMap;

use crate::model::{alias_slot, Alias, KeyManager, KeyRecord, KeySpec, KeyState, KeyUsage, Origin, Rotation};
use crate::ops_keys::{new_key_id, new_version, parse_key_policy};
use crate::{Kms, KmsError};

pub const DYNAMODB_MANAGED_ALIAS: &str = "alias/aws/dynamodb";

/// The fixed key policy of `aws/dynamodb`.
pub fn dynamodb_managed_key_policy(account: &str, region: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "auto-dynamodb-1",
        "Statement": [
            {
                "Sid": "Allow access through Amazon DynamoDB for all principals in the account that are authorized to use Amazon DynamoDB",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": format!("dynamodb.{region}.amazonaws.com")}}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*"
            },
            {
                "Sid": "Allow DynamoDB Service with service principal name dynamodb.amazonaws.com to describe the key directly",
                "Effect": "Allow",
                "Principal": {"Service": "dynamodb.amazonaws.com"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }
        ]
    })
    .to_string()
}

impl Kms {
    /// The ARN of `aws/dynamodb` in `account` and `region`, made now if it does not exist yet.
    pub fn dynamodb_managed_key(&self, account: &str, region: &str) -> Result<String, KmsError> {
        let slot = alias_slot(account, region, DYNAMODB_MANAGED_ALIAS);
        {
            let st = self.read();
            if let Some(a) = st.aliases.get(&slot) {
                return Ok(format!("arn:aws:kms:{region}:{account}:key/{}", a.target_key_id));
            }
        }
        let policy = parse_key_policy(&dynamodb_managed_key_policy(account, region))?;
        let key_id = new_key_id(false)?;
        let (account, region) = (account.to_owned(), region.to_owned());
        self.mutate(move |st, now| {
            // Another request may have made it meanwhile.
            if let Some(a) = st.aliases.get(&slot) {
                return Ok(format!("arn:aws:kms:{region}:{account}:key/{}", a.target_key_id));
            }
            let record = KeyRecord {
                key_id: key_id.clone(),
                account: account.clone(),
                region: region.clone(),
                description: "Default key that protects my DynamoDB data when no other key is defined".into(),
                created_ms: now,
                spec: KeySpec::SymmetricDefault,
                usage: KeyUsage::EncryptDecrypt,
                origin: Origin::AwsKms,
                manager: KeyManager::Aws,
                state: KeyState::Enabled,
                deletion_ms: None,
                pending_window_days: None,
                multi_region: false,
                policy,
                tags: BTreeMap::new(),
                rotation: Some(Rotation {
                    period_days: 365,
                    next_ms: now + 365 * 86_400_000,
                }),
                versions: vec![new_version(KeySpec::SymmetricDefault, 1, now, None)?],
                import: None,
                grants: Vec::new(),
                import_fingerprint: None,
            };
            let arn = record.arn();
            st.keys.insert(arn.clone(), record);
            st.aliases.insert(
                slot,
                Alias {
                    name: DYNAMODB_MANAGED_ALIAS.into(),
                    target_key_id: key_id,
                    created_ms: now,
                    updated_ms: now,
                },
            );
            Ok(arn)
        })
    }
}
