//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateDataKeyPair*,
//! GenerateRandom, Sign, Verify, GetPublicKey, GenerateMac, VerifyMac.

use base::SecretBytes;
use iam::policy::ConditionKeys;
use serde_json::{json, Map, Value};

use crate::model::*;
use crate::{blob, check_state, crypto, ec_json, Audit, Check, EncryptionContext, Kms, KmsCaller, KmsError, StateRule};

const DRY_RUN: &str = "The request would have succeeded, but the DryRun option is set.";

#[derive(Debug, Clone, Default)]
pub struct EncryptInput {
    pub key_id: String,
    pub plaintext: Option<SecretBytes>,
    pub encryption_context: EncryptionContext,
    pub grant_tokens: Vec<String>,
    pub algorithm: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct EncryptOutput {
    pub ciphertext: Vec<u8>,
    pub key_arn: String,
    pub algorithm: String,
}

#[derive(Debug, Clone, Default)]
pub struct DecryptInput {
    pub ciphertext: Vec<u8>,
    pub encryption_context: EncryptionContext,
    pub grant_tokens: Vec<String>,
    pub key_id: Option<String>,
    pub algorithm: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct DecryptOutput {
    pub plaintext: SecretBytes,
    pub key_arn: String,
    pub algorithm: String,
}

#[derive(Debug, Clone, Default)]
pub struct ReEncryptInput {
    pub ciphertext: Vec<u8>,
    pub source_encryption_context: EncryptionContext,
    pub source_key_id: Option<String>,
    pub source_algorithm: Option<String>,
    pub destination_key_id: String,
    pub destination_encryption_context: EncryptionContext,
    pub destination_algorithm: Option<String>,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct ReEncryptOutput {
    pub ciphertext: Vec<u8>,
    pub source_key_arn: String,
    pub key_arn: String,
    pub source_algorithm: String,
    pub destination_algorithm: String,
}

#[derive(Debug, Clone, Default)]
pub struct DataKeyInput {
    pub key_id: String,
    pub key_spec: Option<String>,
    pub number_of_bytes: Option<i64>,
    pub encryption_context: EncryptionContext,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct DataKeyOutput {
    pub ciphertext: Vec<u8>,
    /// `None` for GenerateDataKeyWithoutPlaintext.
    pub plaintext: Option<SecretBytes>,
    pub key_arn: String,
}

#[derive(Debug, Clone, Default)]
pub struct DataKeyPairInput {
    pub key_id: String,
    pub key_pair_spec: String,
    pub encryption_context: EncryptionContext,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct DataKeyPairOutput {
    pub private_key_ciphertext: Vec<u8>,
    pub private_key_plaintext: Option<SecretBytes>,
    pub public_key: Vec<u8>,
    pub key_arn: String,
    pub key_pair_spec: String,
}

#[derive(Debug, Clone, Default)]
pub struct SignInput {
    pub key_id: String,
    pub message: Vec<u8>,
    pub message_type: Option<String>,
    pub algorithm: String,
    pub signature: Vec<u8>,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MacInput {
    pub key_id: String,
    pub message: Vec<u8>,
    pub algorithm: String,
    pub mac: Vec<u8>,
    pub grant_tokens: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct PublicKeyOutput {
    pub key_arn: String,
    pub public_key: Vec<u8>,
    pub key_spec: &'static str,
    pub key_usage: &'static str,
    pub encryption_algorithms: Vec<&'static str>,
    pub signing_algorithms: Vec<&'static str>,
}

fn usage_error(k: &KeyRecord, op: &str) -> KmsError {
    KmsError::InvalidKeyUsage(format!(
        "{} key usage is {} which is not valid for {op}.",
        k.arn(),
        k.usage.as_str()
    ))
}

fn check_plaintext(p: &[u8], path: &str) -> Result<(), KmsError> {
    if p.is_empty() {
        return Err(KmsError::validation(
            "",
            path,
            "Member must have length greater than or equal to 1",
        ));
    }
    if p.len() > 4096 {
        return Err(KmsError::validation(
            "...",
            path,
            "Member must have length less than or equal to 4096",
        ));
    }
    Ok(())
}

fn params_with_ec(mut base: Map<String, Value>, ec: &EncryptionContext) -> Value {
    if !ec.is_empty() {
        base.insert("encryptionContext".into(), ec_json(ec));
    }
    Value::Object(base)
}

/// Encrypts with a symmetric key's current version into our blob format.
pub(crate) fn seal_blob(k: &KeyRecord, ec: &EncryptionContext, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    let v = k.current()?;
    let mut out = blob::header(&k.account, &k.key_id, v.number)
        .ok_or_else(|| KmsError::Internal("key id does not fit the blob".into()))?;
    let mut nonce = [0u8; blob::NONCE_LEN];
    base::random::fill(&mut nonce)?;
    let mut aad = out.clone();
    aad.extend_from_slice(&blob::canonical_context(ec));
    let sealed = crypto::seal(&v.material.0, nonce, &aad, plaintext)?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// A ciphertext to open and what the caller said about it.
#[derive(Clone, Copy)]
struct Sealed<'a> {
    ciphertext: &'a [u8],
    ec: &'a EncryptionContext,
    key_id: Option<&'a str>,
    algorithm: Option<&'a str>,
}

impl Kms {
    /// Resolve, check tokens, authorize, check state: the preamble of every operation on one key.
    #[allow(clippy::too_many_arguments)]
    fn key_for<'s>(
        &self,
        st: &'s KmsState,
        caller: &KmsCaller,
        audit: &mut Audit,
        key_id: &str,
        action: &str,
        op: GrantOperation,
        ec: Option<&EncryptionContext>,
        tokens: &[String],
    ) -> Result<&'s KeyRecord, KmsError> {
        self.check_grant_tokens(st, tokens)?;
        let k = self.resolve(st, caller, key_id, true)?;
        audit.key(k);
        let mut extra = ConditionKeys::new();
        if key_id.starts_with("alias/") || key_id.contains(":alias/") {
            extra.set(
                "kms:RequestAlias",
                key_id.rsplit(':').next().unwrap_or(key_id).to_owned(),
            );
        }
        self.authorize(
            st,
            caller,
            k,
            &Check {
                action,
                grant_op: Some(op),
                ec,
                extra: &extra,
            },
        )?;
        check_state(k, StateRule::Crypto)?;
        Ok(k)
    }

    fn encrypt_with(
        &self,
        k: &KeyRecord,
        ec: &EncryptionContext,
        algorithm: Option<&str>,
        plaintext: &[u8],
        op: &str,
    ) -> Result<(Vec<u8>, String), KmsError> {
        if k.usage != KeyUsage::EncryptDecrypt {
            return Err(usage_error(k, op));
        }
        if k.spec == KeySpec::SymmetricDefault {
            if let Some(a) = algorithm.filter(|a| *a != "SYMMETRIC_DEFAULT") {
                return Err(KmsError::InvalidKeyUsage(format!(
                    "The specified algorithm {a} is not supported for this key."
                )));
            }
            return Ok((seal_blob(k, ec, plaintext)?, "SYMMETRIC_DEFAULT".into()));
        }
        if !ec.is_empty() {
            return Err(KmsError::Validation(
                "EncryptionContext is not supported with asymmetric KMS keys.".into(),
            ));
        }
        let alg = algorithm
            .ok_or_else(|| KmsError::Validation("EncryptionAlgorithm is required for asymmetric KMS keys.".into()))?;
        Ok((
            crypto::rsa_encrypt(&k.current()?.material.0, alg, plaintext)?,
            alg.to_owned(),
        ))
    }

    pub fn encrypt(&self, caller: &KmsCaller, input: EncryptInput) -> Result<EncryptOutput, KmsError> {
        let mut p = Map::new();
        p.insert("keyId".into(), json!(input.key_id));
        p.insert(
            "encryptionAlgorithm".into(),
            json!(input.algorithm.clone().unwrap_or_else(|| "SYMMETRIC_DEFAULT".into())),
        );
        self.audited(
            caller,
            "Encrypt",
            true,
            params_with_ec(p, &input.encryption_context),
            |audit| {
                let plaintext = input
                    .plaintext
                    .as_ref()
                    .ok_or_else(|| KmsError::validation("null", "plaintext", "Member must not be null"))?;
                check_plaintext(plaintext.expose(), "plaintext")?;
                let st = self.read();
                let k = self.key_for(
                    &st,
                    caller,
                    audit,
                    &input.key_id,
                    "kms:Encrypt",
                    GrantOperation::Encrypt,
                    Some(&input.encryption_context),
                    &input.grant_tokens,
                )?;
                let (ciphertext, algorithm) = self.encrypt_with(
                    k,
                    &input.encryption_context,
                    input.algorithm.as_deref(),
                    plaintext.expose(),
                    "Encrypt",
                )?;
                if input.dry_run {
                    return Err(KmsError::DryRun(DRY_RUN.into()));
                }
                Ok(EncryptOutput {
                    ciphertext,
                    key_arn: k.arn(),
                    algorithm,
                })
            },
        )
    }

    /// Finds the key of a ciphertext (ours by its blob header, an RSA ciphertext by the KeyId given) and
    /// decrypts it, authorized as `action` / `op`. Returns the plaintext, the key ARN and the algorithm.
    fn decrypt_inner(
        &self,
        st: &KmsState,
        caller: &KmsCaller,
        audit: &mut Audit,
        c: &Sealed<'_>,
        action: &str,
        op: GrantOperation,
    ) -> Result<(SecretBytes, String, String), KmsError> {
        let Sealed {
            ciphertext,
            ec,
            key_id,
            algorithm,
        } = *c;
        if ciphertext.is_empty() || ciphertext.len() > 6144 {
            return Err(KmsError::validation(
                "...",
                "ciphertextBlob",
                "Member must have length less than or equal to 6144",
            ));
        }
        if let Some(b) = blob::parse(ciphertext) {
            let arn = format!("arn:aws:kms:{}:{}:key/{}", caller.region, b.account, b.key_id);
            let k = st.keys.get(&arn).ok_or_else(|| {
                KmsError::AccessDenied("The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.".into())
            })?;
            audit.key(k);
            if let Some(asked) = key_id {
                let named = self.resolve(st, caller, asked, true)?;
                if named.arn() != k.arn() {
                    return Err(KmsError::IncorrectKey(
                        "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                    ));
                }
            }
            self.authorize(
                st,
                caller,
                k,
                &Check {
                    action,
                    grant_op: Some(op),
                    ec: Some(ec),
                    extra: &ConditionKeys::new(),
                },
            )?;
            check_state(k, StateRule::Crypto)?;
            if k.spec != KeySpec::SymmetricDefault {
                return Err(KmsError::InvalidCiphertext(String::new()));
            }
            if let Some(a) = algorithm.filter(|a| *a != "SYMMETRIC_DEFAULT") {
                return Err(KmsError::InvalidKeyUsage(format!(
                    "The specified algorithm {a} is not supported for this key."
                )));
            }
            let v = k
                .version(b.version)
                .ok_or_else(|| KmsError::InvalidCiphertext(String::new()))?;
            let mut aad = b.header.to_vec();
            aad.extend_from_slice(&blob::canonical_context(ec));
            let plain = crypto::open(&v.material.0, b.nonce, &aad, b.sealed)
                .ok_or_else(|| KmsError::InvalidCiphertext(String::new()))?;
            return Ok((plain, k.arn(), "SYMMETRIC_DEFAULT".into()));
        }
        // Not our blob: only an RSA ciphertext with its key named can be decrypted.
        let Some(asked) = key_id else {
            return Err(KmsError::InvalidCiphertext(String::new()));
        };
        let k = self.resolve(st, caller, asked, true)?;
        audit.key(k);
        self.authorize(
            st,
            caller,
            k,
            &Check {
                action,
                grant_op: Some(op),
                ec: Some(ec),
                extra: &ConditionKeys::new(),
            },
        )?;
        check_state(k, StateRule::Crypto)?;
        if k.usage != KeyUsage::EncryptDecrypt {
            return Err(usage_error(k, "Decrypt"));
        }
        if !k.spec.is_rsa() {
            return Err(KmsError::InvalidCiphertext(String::new()));
        }
        let alg = algorithm
            .ok_or_else(|| KmsError::Validation("EncryptionAlgorithm is required for asymmetric KMS keys.".into()))?;
        let plain = crypto::rsa_decrypt(&k.current()?.material.0, alg, ciphertext)?;
        Ok((plain, k.arn(), alg.to_owned()))
    }

    pub fn decrypt(&self, caller: &KmsCaller, input: DecryptInput) -> Result<DecryptOutput, KmsError> {
        let mut p = Map::new();
        if let Some(k) = &input.key_id {
            p.insert("keyId".into(), json!(k));
        }
        if caller.invoked_by.is_none() {
            p.insert(
                "encryptionAlgorithm".into(),
                json!(input.algorithm.clone().unwrap_or_else(|| "SYMMETRIC_DEFAULT".into())),
            );
        }
        self.audited(
            caller,
            "Decrypt",
            true,
            params_with_ec(p, &input.encryption_context),
            |audit| {
                let st = self.read();
                self.check_grant_tokens(&st, &input.grant_tokens)?;
                let (plaintext, key_arn, algorithm) = self.decrypt_inner(
                    &st,
                    caller,
                    audit,
                    &Sealed {
                        ciphertext: &input.ciphertext,
                        ec: &input.encryption_context,
                        key_id: input.key_id.as_deref(),
                        algorithm: input.algorithm.as_deref(),
                    },
                    "kms:Decrypt",
                    GrantOperation::Decrypt,
                )?;
                if input.dry_run {
                    return Err(KmsError::DryRun(DRY_RUN.into()));
                }
                Ok(DecryptOutput {
                    plaintext,
                    key_arn,
                    algorithm,
                })
            },
        )
    }

    pub fn re_encrypt(&self, caller: &KmsCaller, input: ReEncryptInput) -> Result<ReEncryptOutput, KmsError> {
        let mut p = Map::new();
        p.insert("destinationKeyId".into(), json!(input.destination_key_id));
        if !input.source_encryption_context.is_empty() {
            p.insert(
                "sourceEncryptionContext".into(),
                ec_json(&input.source_encryption_context),
            );
        }
        if !input.destination_encryption_context.is_empty() {
            p.insert(
                "destinationEncryptionContext".into(),
                ec_json(&input.destination_encryption_context),
            );
        }
        self.audited(caller, "ReEncrypt", true, Value::Object(p), |audit| {
            let st = self.read();
            self.check_grant_tokens(&st, &input.grant_tokens)?;
            let sealed = Sealed {
                ciphertext: &input.ciphertext,
                ec: &input.source_encryption_context,
                key_id: input.source_key_id.as_deref(),
                algorithm: input.source_algorithm.as_deref(),
            };
            let (plain, source_arn, source_alg) = self.decrypt_inner(
                &st,
                caller,
                audit,
                &sealed,
                "kms:ReEncryptFrom",
                GrantOperation::ReEncryptFrom,
            )?;
            let dest = self.key_for(
                &st,
                caller,
                audit,
                &input.destination_key_id,
                "kms:ReEncryptTo",
                GrantOperation::ReEncryptTo,
                Some(&input.destination_encryption_context),
                &[],
            )?;
            let (ciphertext, dest_alg) = self.encrypt_with(
                dest,
                &input.destination_encryption_context,
                input.destination_algorithm.as_deref(),
                plain.expose(),
                "ReEncrypt",
            )?;
            if input.dry_run {
                return Err(KmsError::DryRun(DRY_RUN.into()));
            }
            Ok(ReEncryptOutput {
                ciphertext,
                source_key_arn: source_arn,
                key_arn: dest.arn(),
                source_algorithm: source_alg,
                destination_algorithm: dest_alg,
            })
        })
    }

    /// GenerateDataKey (`with_plaintext`) and GenerateDataKeyWithoutPlaintext.
    pub fn generate_data_key(
        &self,
        caller: &KmsCaller,
        input: DataKeyInput,
        with_plaintext: bool,
    ) -> Result<DataKeyOutput, KmsError> {
        let (event, op) = if with_plaintext {
            ("GenerateDataKey", GrantOperation::GenerateDataKey)
        } else {
            (
                "GenerateDataKeyWithoutPlaintext",
                GrantOperation::GenerateDataKeyWithoutPlaintext,
            )
        };
        let mut p = Map::new();
        p.insert("keyId".into(), json!(input.key_id));
        if let Some(s) = &input.key_spec {
            p.insert("keySpec".into(), json!(s));
        }
        if let Some(n) = input.number_of_bytes {
            p.insert("numberOfBytes".into(), json!(n));
        }
        self.audited(
            caller,
            event,
            true,
            params_with_ec(p, &input.encryption_context),
            |audit| {
                let len = match (input.key_spec.as_deref(), input.number_of_bytes) {
                    (Some("AES_256"), None) => 32,
                    (Some("AES_128"), None) => 16,
                    (Some(other), None) => {
                        return Err(KmsError::validation(
                            other,
                            "keySpec",
                            "Member must satisfy enum value set: [AES_256, AES_128]",
                        ))
                    }
                    (None, Some(n)) if (1..=1024).contains(&n) => n as usize,
                    (None, Some(n)) => {
                        let c = if n < 1 {
                            "Member must have value greater than or equal to 1"
                        } else {
                            "Member must have value less than or equal to 1024"
                        };
                        return Err(KmsError::validation(&n.to_string(), "numberOfBytes", c));
                    }
                    _ => {
                        return Err(KmsError::Validation(
                            "Please specify either number of bytes or key spec.".into(),
                        ))
                    }
                };
                let st = self.read();
                let k = self.key_for(
                    &st,
                    caller,
                    audit,
                    &input.key_id,
                    &format!("kms:{event}"),
                    op,
                    Some(&input.encryption_context),
                    &input.grant_tokens,
                )?;
                if k.spec != KeySpec::SymmetricDefault || k.usage != KeyUsage::EncryptDecrypt {
                    return Err(usage_error(k, event));
                }
                let plaintext = base::random::secret_bytes(len)?;
                let ciphertext = seal_blob(k, &input.encryption_context, plaintext.expose())?;
                if input.dry_run {
                    return Err(KmsError::DryRun(DRY_RUN.into()));
                }
                Ok(DataKeyOutput {
                    ciphertext,
                    plaintext: with_plaintext.then_some(plaintext),
                    key_arn: k.arn(),
                })
            },
        )
    }

    pub fn generate_data_key_pair(
        &self,
        caller: &KmsCaller,
        input: DataKeyPairInput,
        with_plaintext: bool,
    ) -> Result<DataKeyPairOutput, KmsError> {
        let (event, op) = if with_plaintext {
            ("GenerateDataKeyPair", GrantOperation::GenerateDataKeyPair)
        } else {
            (
                "GenerateDataKeyPairWithoutPlaintext",
                GrantOperation::GenerateDataKeyPairWithoutPlaintext,
            )
        };
        let mut p = Map::new();
        p.insert("keyId".into(), json!(input.key_id));
        p.insert("keyPairSpec".into(), json!(input.key_pair_spec));
        self.audited(caller, event, true, params_with_ec(p, &input.encryption_context), |audit| {
            let spec = KeySpec::parse(&input.key_pair_spec)
                .filter(|s| s.is_rsa() || s.is_ecc())
                .ok_or_else(|| {
                    KmsError::validation(
                        &input.key_pair_spec,
                        "keyPairSpec",
                        "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1]",
                    )
                })?;
            let st = self.read();
            let k = self.key_for(&st, caller, audit, &input.key_id, &format!("kms:{event}"), op, Some(&input.encryption_context), &input.grant_tokens)?;
            if k.spec != KeySpec::SymmetricDefault || k.usage != KeyUsage::EncryptDecrypt {
                return Err(usage_error(k, event));
            }
            let private = crypto::generate(spec)?;
            let public = crypto::public_key_der(spec, &private)?;
            let ciphertext = seal_blob(k, &input.encryption_context, private.expose())?;
            if input.dry_run {
                return Err(KmsError::DryRun(DRY_RUN.into()));
            }
            Ok(DataKeyPairOutput {
                private_key_ciphertext: ciphertext,
                private_key_plaintext: with_plaintext.then_some(private),
                public_key: public,
                key_arn: k.arn(),
                key_pair_spec: spec.as_str().to_owned(),
            })
        })
    }

    pub fn generate_random(&self, caller: &KmsCaller, n: Option<i64>) -> Result<SecretBytes, KmsError> {
        self.audited(caller, "GenerateRandom", true, json!({ "numberOfBytes": n }), |_| {
            let n = n.unwrap_or(0);
            if !(1..=1024).contains(&n) {
                let c = if n < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 1024"
                };
                return Err(KmsError::validation(&n.to_string(), "numberOfBytes", c));
            }
            self.authorize_iam(caller, "kms:GenerateRandom")?;
            Ok(base::random::secret_bytes(n as usize)?)
        })
    }

    fn message_kind(input: &SignInput) -> Result<bool, KmsError> {
        match input.message_type.as_deref().unwrap_or("RAW") {
            "RAW" => Ok(false),
            "DIGEST" => Ok(true),
            other => Err(KmsError::validation(
                other,
                "messageType",
                "Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]",
            )),
        }
    }

    pub fn sign(&self, caller: &KmsCaller, input: SignInput) -> Result<(String, Vec<u8>), KmsError> {
        let p = json!({ "keyId": input.key_id, "messageType": input.message_type.clone().unwrap_or_else(|| "RAW".into()), "signingAlgorithm": input.algorithm });
        self.audited(caller, "Sign", true, p, |audit| {
            check_plaintext(&input.message, "message")?;
            let digest = Self::message_kind(&input)?;
            let st = self.read();
            let k = self.key_for(
                &st,
                caller,
                audit,
                &input.key_id,
                "kms:Sign",
                GrantOperation::Sign,
                None,
                &input.grant_tokens,
            )?;
            if k.usage != KeyUsage::SignVerify {
                return Err(usage_error(k, "Sign"));
            }
            let sig = crypto::sign(
                k.spec,
                &k.current()?.material.0,
                &input.algorithm,
                &input.message,
                digest,
            )?;
            if input.dry_run {
                return Err(KmsError::DryRun(DRY_RUN.into()));
            }
            Ok((k.arn(), sig))
        })
    }

    pub fn verify(&self, caller: &KmsCaller, input: SignInput) -> Result<String, KmsError> {
        let p = json!({ "keyId": input.key_id, "messageType": input.message_type.clone().unwrap_or_else(|| "RAW".into()), "signingAlgorithm": input.algorithm });
        self.audited(caller, "Verify", true, p, |audit| {
            check_plaintext(&input.message, "message")?;
            let digest = Self::message_kind(&input)?;
            let st = self.read();
            let k = self.key_for(
                &st,
                caller,
                audit,
                &input.key_id,
                "kms:Verify",
                GrantOperation::Verify,
                None,
                &input.grant_tokens,
            )?;
            if k.usage != KeyUsage::SignVerify {
                return Err(usage_error(k, "Verify"));
            }
            let ok = crypto::verify(
                k.spec,
                &k.current()?.material.0,
                &input.algorithm,
                &input.message,
                digest,
                &input.signature,
            )?;
            if input.dry_run {
                return Err(KmsError::DryRun(DRY_RUN.into()));
            }
            if !ok {
                return Err(KmsError::InvalidSignature(String::new()));
            }
            Ok(k.arn())
        })
    }

    pub fn get_public_key(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        grant_tokens: &[String],
    ) -> Result<PublicKeyOutput, KmsError> {
        self.audited(caller, "GetPublicKey", true, json!({ "keyId": key_id }), |audit| {
            let st = self.read();
            let k = self.key_for(
                &st,
                caller,
                audit,
                key_id,
                "kms:GetPublicKey",
                GrantOperation::GetPublicKey,
                None,
                grant_tokens,
            )?;
            if !(k.spec.is_rsa() || k.spec.is_ecc()) {
                return Err(KmsError::UnsupportedOperation(format!(
                    "{} key spec is {} which is not valid for GetPublicKey.",
                    k.arn(),
                    k.spec.as_str()
                )));
            }
            Ok(PublicKeyOutput {
                key_arn: k.arn(),
                public_key: crypto::public_key_der(k.spec, &k.current()?.material.0)?,
                key_spec: k.spec.as_str(),
                key_usage: k.usage.as_str(),
                encryption_algorithms: crypto::usage_algorithms(k.spec, k.usage).0,
                signing_algorithms: crypto::usage_algorithms(k.spec, k.usage).1,
            })
        })
    }

    pub fn generate_mac(&self, caller: &KmsCaller, input: MacInput) -> Result<(String, Vec<u8>), KmsError> {
        let p = json!({ "keyId": input.key_id, "macAlgorithm": input.algorithm });
        self.audited(caller, "GenerateMac", true, p, |audit| {
            check_plaintext(&input.message, "message")?;
            let st = self.read();
            let k = self.key_for(
                &st,
                caller,
                audit,
                &input.key_id,
                "kms:GenerateMac",
                GrantOperation::GenerateMac,
                None,
                &input.grant_tokens,
            )?;
            if k.usage != KeyUsage::GenerateVerifyMac {
                return Err(usage_error(k, "GenerateMac"));
            }
            let mac = crypto::generate_mac(k.spec, &k.current()?.material.0, &input.algorithm, &input.message)?;
            if input.dry_run {
                return Err(KmsError::DryRun(DRY_RUN.into()));
            }
            Ok((k.arn(), mac))
        })
    }

    pub fn verify_mac(&self, caller: &KmsCaller, input: MacInput) -> Result<String, KmsError> {
        let p = json!({ "keyId": input.key_id, "macAlgorithm": input.algorithm });
        self.audited(caller, "VerifyMac", true, p, |audit| {
            check_plaintext(&input.message, "message")?;
            let st = self.read();
            let k = self.key_for(
                &st,
                caller,
                audit,
                &input.key_id,
                "kms:VerifyMac",
                GrantOperation::VerifyMac,
                None,
                &input.grant_tokens,
            )?;
            if k.usage != KeyUsage::GenerateVerifyMac {
                return Err(usage_error(k, "VerifyMac"));
            }
            let ok = crypto::verify_mac(
                k.spec,
                &k.current()?.material.0,
                &input.algorithm,
                &input.message,
                &input.mac,
            )?;
            if input.dry_run {
                return Err(KmsError::DryRun(DRY_RUN.into()));
            }
            if !ok {
                return Err(KmsError::InvalidMac(String::new()));
            }
            Ok(k.arn())
        })
    }
}
