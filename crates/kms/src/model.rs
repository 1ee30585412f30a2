//! What a KMS key is: its spec and usage, state, backing material versions, policy, grants and tags.

use std::collections::BTreeMap;

use base::SecretBytes;
use iam::state::PolicyDoc;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::KmsError;

macro_rules! string_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// `[A, B, C]` as coral's enum constraint lists the values.
            pub fn value_set() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                format!("[{}]", names.join(", "))
            }
        }
    };
}

string_enum!(KeySpec {
    SymmetricDefault = "SYMMETRIC_DEFAULT",
    Rsa2048 = "RSA_2048",
    Rsa3072 = "RSA_3072",
    Rsa4096 = "RSA_4096",
    EccNistP256 = "ECC_NIST_P256",
    EccNistP384 = "ECC_NIST_P384",
    EccNistP521 = "ECC_NIST_P521",
    EccSecgP256k1 = "ECC_SECG_P256K1",
    Hmac224 = "HMAC_224",
    Hmac256 = "HMAC_256",
    Hmac384 = "HMAC_384",
    Hmac512 = "HMAC_512",
});

string_enum!(KeyUsage {
    EncryptDecrypt = "ENCRYPT_DECRYPT",
    SignVerify = "SIGN_VERIFY",
    GenerateVerifyMac = "GENERATE_VERIFY_MAC",
});

string_enum!(KeyState {
    Enabled = "Enabled",
    Disabled = "Disabled",
    PendingDeletion = "PendingDeletion",
    PendingImport = "PendingImport",
});

string_enum!(Origin {
    AwsKms = "AWS_KMS",
    External = "EXTERNAL",
});

string_enum!(KeyManager {
    Aws = "AWS",
    Customer = "CUSTOMER",
});

string_enum!(GrantOperation {
    Decrypt = "Decrypt",
    Encrypt = "Encrypt",
    GenerateDataKey = "GenerateDataKey",
    GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext",
    ReEncryptFrom = "ReEncryptFrom",
    ReEncryptTo = "ReEncryptTo",
    Sign = "Sign",
    Verify = "Verify",
    GetPublicKey = "GetPublicKey",
    CreateGrant = "CreateGrant",
    RetireGrant = "RetireGrant",
    DescribeKey = "DescribeKey",
    GenerateDataKeyPair = "GenerateDataKeyPair",
    GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext",
    GenerateMac = "GenerateMac",
    VerifyMac = "VerifyMac",
});

impl KeySpec {
    pub fn is_rsa(self) -> bool {
        matches!(self, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
    }

    pub fn is_ecc(self) -> bool {
        matches!(
            self,
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 | KeySpec::EccSecgP256k1
        )
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512
        )
    }

    /// The usages AWS allows for a spec.
    pub fn allows(self, usage: KeyUsage) -> bool {
        match self {
            KeySpec::SymmetricDefault => usage == KeyUsage::EncryptDecrypt,
            s if s.is_rsa() => matches!(usage, KeyUsage::EncryptDecrypt | KeyUsage::SignVerify),
            s if s.is_ecc() => usage == KeyUsage::SignVerify,
            _ => usage == KeyUsage::GenerateVerifyMac,
        }
    }
}

/// Serialized as hex inside the sealed KMS document, never anywhere else.
#[derive(Clone)]
pub struct Material(pub SecretBytes);

impl Serialize for Material {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0.expose()))
    }
}

impl<'de> Deserialize<'de> for Material {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        hex::decode(text.as_str())
            .map(|b| Material(SecretBytes::new(b)))
            .map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Material(<redacted>)")
    }
}

/// One version of a key's backing material. Rotation adds versions and never drops one, so every old
/// ciphertext still decrypts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub number: u32,
    /// `CurrentKeyMaterialId`: 64 hex characters.
    pub material_id: String,
    pub material: Material,
    pub created_ms: i64,
    /// `AUTOMATIC` or `ON_DEMAND` for rotations; `None` for the first version.
    pub rotation_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    pub subset: Option<BTreeMap<String, String>>,
    pub equals: Option<BTreeMap<String, String>>,
}

impl Constraints {
    /// Whether a request's encryption context satisfies the grant's constraints.
    pub fn allow(&self, ec: &BTreeMap<String, String>) -> bool {
        let subset_ok = self
            .subset
            .as_ref()
            .is_none_or(|s| s.iter().all(|(k, v)| ec.get(k) == Some(v)));
        let equals_ok = self.equals.as_ref().is_none_or(|e| e == ec);
        subset_ok && equals_ok
    }

    pub fn is_empty(&self) -> bool {
        self.subset.is_none() && self.equals.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub grant_id: String,
    pub name: Option<String>,
    pub created_ms: i64,
    pub grantee: String,
    pub retiring: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<GrantOperation>,
    pub constraints: Constraints,
    /// Tokens handed out for this grant (a retried named CreateGrant gets a new one).
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rotation {
    pub period_days: i64,
    pub next_ms: i64,
}

/// Imported material's lifecycle (Origin EXTERNAL).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportState {
    pub valid_to_ms: Option<i64>,
    pub expires: bool,
    /// The wrapping key pairs handed out by GetParametersForImport, by import token.
    pub pending: Vec<PendingImport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingImport {
    pub token: String,
    pub wrapping_algorithm: String,
    pub private_key: Material,
    pub valid_until_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub account: String,
    pub region: String,
    pub description: String,
    pub created_ms: i64,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub origin: Origin,
    pub manager: KeyManager,
    pub state: KeyState,
    pub deletion_ms: Option<i64>,
    pub pending_window_days: Option<i64>,
    pub multi_region: bool,
    pub policy: PolicyDoc,
    pub tags: BTreeMap<String, String>,
    pub rotation: Option<Rotation>,
    pub versions: Vec<Version>,
    pub import: Option<ImportState>,
    pub grants: Vec<Grant>,
    /// For imported material: the first material imported, which every later import must repeat.
    pub import_fingerprint: Option<String>,
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        format!("arn:aws:kms:{}:{}:key/{}", self.region, self.account, self.key_id)
    }

    pub fn current(&self) -> Result<&Version, KmsError> {
        self.versions
            .last()
            .ok_or_else(|| KmsError::InvalidState(format!("{} is pending import.", self.arn())))
    }

    pub fn version(&self, n: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == n)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub target_key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A `(account, region)` namespace's aliases are keyed by full alias name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KmsState {
    pub format_version: u32,
    /// By key ARN.
    pub keys: BTreeMap<String, KeyRecord>,
    /// By `account/region/alias-name`.
    pub aliases: BTreeMap<String, Alias>,
}

pub fn alias_slot(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}
