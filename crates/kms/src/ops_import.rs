//! Imported key material (Origin EXTERNAL): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial.

use aws_lc_rs::digest;
use base64::Engine;
use serde_json::json;

use crate::model::*;
use crate::{crypto, Kms, KmsCaller, KmsError, StateRule};

#[derive(Debug)]
pub struct ImportParameters {
    pub key_arn: String,
    pub import_token: Vec<u8>,
    pub public_key: Vec<u8>,
    pub valid_to_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ImportInput {
    pub key_id: String,
    pub import_token: Vec<u8>,
    pub encrypted_key_material: Vec<u8>,
    pub valid_to_ms: Option<i64>,
    pub expiration_model: Option<String>,
}

const PARAMETERS_LIFETIME_MS: i64 = 24 * 3_600_000;

fn external_only(k: &KeyRecord) -> Result<(), KmsError> {
    if k.origin != Origin::External {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} origin is {} which is not valid for this operation.",
            k.arn(),
            k.origin.as_str()
        )));
    }
    Ok(())
}

impl Kms {
    pub fn get_parameters_for_import(
        &self,
        caller: &KmsCaller,
        key_id: &str,
        wrapping_algorithm: &str,
        wrapping_key_spec: &str,
    ) -> Result<ImportParameters, KmsError> {
        if !matches!(wrapping_algorithm, "RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256") {
            return Err(KmsError::validation(
                wrapping_algorithm,
                "wrappingAlgorithm",
                "Member must satisfy enum value set: [RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256]",
            ));
        }
        let spec = match wrapping_key_spec {
            "RSA_2048" => KeySpec::Rsa2048,
            "RSA_3072" => KeySpec::Rsa3072,
            "RSA_4096" => KeySpec::Rsa4096,
            other => {
                return Err(KmsError::validation(
                    other,
                    "wrappingKeySpec",
                    "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096]",
                ))
            }
        };
        let params =
            json!({ "keyId": key_id, "wrappingAlgorithm": wrapping_algorithm, "wrappingKeySpec": wrapping_key_spec });
        self.update_key(
            caller,
            "GetParametersForImport",
            params,
            key_id,
            StateRule::Manage,
            |k, now| {
                external_only(k)?;
                let private = crypto::generate(spec)?;
                let public = crypto::rsa_public_from_private(&private)?;
                let token = base::random::bytes(64)?;
                let token_text = base64::engine::general_purpose::STANDARD.encode(&token);
                let state = k.import.get_or_insert_with(ImportState::default);
                state.pending.retain(|p| p.valid_until_ms > now);
                state.pending.push(PendingImport {
                    token: token_text,
                    wrapping_algorithm: wrapping_algorithm.to_owned(),
                    private_key: Material(private),
                    valid_until_ms: now + PARAMETERS_LIFETIME_MS,
                });
                Ok(ImportParameters {
                    key_arn: k.arn(),
                    import_token: token,
                    public_key: public,
                    valid_to_ms: now + PARAMETERS_LIFETIME_MS,
                })
            },
        )
    }

    pub fn import_key_material(&self, caller: &KmsCaller, input: ImportInput) -> Result<(), KmsError> {
        let expires = match input.expiration_model.as_deref().unwrap_or("KEY_MATERIAL_EXPIRES") {
            "KEY_MATERIAL_EXPIRES" => true,
            "KEY_MATERIAL_DOES_NOT_EXPIRE" => false,
            other => {
                return Err(KmsError::validation(
                    other,
                    "expirationModel",
                    "Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]",
                ))
            }
        };
        if expires && input.valid_to_ms.is_none() {
            return Err(KmsError::Validation(
                "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
            ));
        }
        if !expires && input.valid_to_ms.is_some() {
            return Err(KmsError::Validation(
                "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
            ));
        }
        let token_text = base64::engine::general_purpose::STANDARD.encode(&input.import_token);
        let params = json!({ "keyId": input.key_id, "expirationModel": input.expiration_model, "validTo": input.valid_to_ms.map(base::timefmt::iso8601_millis) });
        self.update_key(caller, "ImportKeyMaterial", params, &input.key_id, StateRule::Manage, |k, now| {
            external_only(k)?;
            if input.valid_to_ms.is_some_and(|v| v <= now) {
                return Err(KmsError::Validation("The validTo date must be in the future.".into()));
            }
            let state = k.import.get_or_insert_with(ImportState::default);
            let pending = state
                .pending
                .iter()
                .find(|p| p.token == token_text)
                .cloned()
                .ok_or_else(|| KmsError::InvalidImportToken("Invalid import token.".into()))?;
            if pending.valid_until_ms <= now {
                return Err(KmsError::ExpiredImportToken("The import token has expired.".into()));
            }
            let material = crypto::rsa_decrypt(&pending.private_key.0, &pending.wrapping_algorithm, &input.encrypted_key_material)?;
            if material.len() != 32 {
                return Err(KmsError::IncorrectKeyMaterial("Key material must be 256 bits for SYMMETRIC_DEFAULT keys.".into()));
            }
            let fingerprint = hex::encode(digest::digest(&digest::SHA256, material.expose()));
            if k.import_fingerprint.as_ref().is_some_and(|f| *f != fingerprint) {
                return Err(KmsError::IncorrectKeyMaterial(
                    "The key material you are trying to import is different from the key material previously imported into this KMS key.".into(),
                ));
            }
            k.import_fingerprint = Some(fingerprint.clone());
            state.pending.retain(|p| p.token != token_text);
            state.valid_to_ms = input.valid_to_ms;
            state.expires = expires;
            k.versions = vec![Version {
                number: 1,
                material_id: fingerprint,
                material: Material(material),
                created_ms: now,
                rotation_type: None,
            }];
            if k.state == KeyState::PendingImport {
                k.state = KeyState::Enabled;
            }
            Ok(())
        })
    }

    pub fn delete_imported_key_material(&self, caller: &KmsCaller, key_id: &str) -> Result<(), KmsError> {
        self.update_key(
            caller,
            "DeleteImportedKeyMaterial",
            json!({ "keyId": key_id }),
            key_id,
            StateRule::Manage,
            |k, _| {
                external_only(k)?;
                k.versions.clear();
                if k.state != KeyState::PendingDeletion {
                    k.state = KeyState::PendingImport;
                }
                Ok(())
            },
        )
    }
}
