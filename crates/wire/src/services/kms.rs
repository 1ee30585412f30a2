//! KMS (TrentService, awsJson 1.1): decode each operation's input, call `kms`, encode its output.

use kms::{
    Constraints, CreateGrantInput, CreateKeyInput, DataKeyInput, DataKeyPairInput, DecryptInput, EncryptInput,
    GrantEntry, ImportInput, KeyMetadata, KmsCaller, MacInput, ReEncryptInput, SignInput,
};
use serde_json::{json, Map, Value};

use crate::services::input::{b64, epoch, Input};
use crate::{unknown_operation, Api, ApiError, App, Caller, Reply};

pub fn caller(c: &Caller) -> KmsCaller {
    KmsCaller {
        principal: c.entry.principal.clone(),
        identity_policies: c.entry.policies.clone(),
        access_key_id: c.entry.access_key_id.clone(),
        region: c.region.clone(),
        via_service: None,
        invoked_by: None,
        source_ip: c.source_ip.clone(),
        user_agent: c.user_agent.clone(),
        request_id: c.request_id.clone(),
    }
}

pub fn metadata_json(m: &KeyMetadata) -> Value {
    let mut o = Map::new();
    o.insert("AWSAccountId".into(), json!(m.account));
    o.insert("KeyId".into(), json!(m.key_id));
    o.insert("Arn".into(), json!(m.arn));
    o.insert("CreationDate".into(), epoch(m.creation_ms));
    o.insert("Enabled".into(), json!(m.enabled));
    o.insert("Description".into(), json!(m.description));
    o.insert("KeyUsage".into(), json!(m.key_usage));
    o.insert("KeyState".into(), json!(m.key_state));
    if let Some(d) = m.deletion_ms {
        o.insert("DeletionDate".into(), epoch(d));
    }
    if let Some(v) = m.valid_to_ms {
        o.insert("ValidTo".into(), epoch(v));
    }
    o.insert("Origin".into(), json!(m.origin));
    if let Some(e) = m.expiration_model {
        o.insert("ExpirationModel".into(), json!(e));
    }
    o.insert("KeyManager".into(), json!(m.key_manager));
    o.insert("CustomerMasterKeySpec".into(), json!(m.key_spec));
    o.insert("KeySpec".into(), json!(m.key_spec));
    if !m.encryption_algorithms.is_empty() {
        o.insert("EncryptionAlgorithms".into(), json!(m.encryption_algorithms));
    }
    if !m.signing_algorithms.is_empty() {
        o.insert("SigningAlgorithms".into(), json!(m.signing_algorithms));
    }
    if !m.mac_algorithms.is_empty() {
        o.insert("MacAlgorithms".into(), json!(m.mac_algorithms));
    }
    o.insert("MultiRegion".into(), json!(m.multi_region));
    if let Some(w) = m.pending_window_days {
        o.insert("PendingDeletionWindowInDays".into(), json!(w));
    }
    if let Some(id) = &m.current_key_material_id {
        o.insert("CurrentKeyMaterialId".into(), json!(id));
    }
    Value::Object(o)
}

fn grant_json(e: &GrantEntry) -> Value {
    let g = &e.grant;
    let mut o = Map::new();
    o.insert("KeyId".into(), json!(e.key_arn));
    o.insert("GrantId".into(), json!(g.grant_id));
    if let Some(n) = &g.name {
        o.insert("Name".into(), json!(n));
    }
    o.insert("CreationDate".into(), epoch(g.created_ms));
    o.insert("GranteePrincipal".into(), json!(g.grantee));
    if let Some(r) = &g.retiring {
        o.insert("RetiringPrincipal".into(), json!(r));
    }
    o.insert("IssuingAccount".into(), json!(g.issuing_account));
    let ops: Vec<&str> = g.operations.iter().map(|op| op.as_str()).collect();
    o.insert("Operations".into(), json!(ops));
    let mut c = Map::new();
    if let Some(s) = &g.constraints.subset {
        c.insert("EncryptionContextSubset".into(), json!(s));
    }
    if let Some(eq) = &g.constraints.equals {
        c.insert("EncryptionContextEquals".into(), json!(eq));
    }
    if !c.is_empty() {
        o.insert("Constraints".into(), Value::Object(c));
    }
    Value::Object(o)
}

fn paged(mut body: Map<String, Value>, next: Option<String>) -> Value {
    body.insert("Truncated".into(), json!(next.is_some()));
    if let Some(m) = next {
        body.insert("NextMarker".into(), json!(m));
    }
    Value::Object(body)
}

fn tags(i: &Input<'_>) -> Result<Vec<(String, String)>, ApiError> {
    i.list("Tags")?
        .iter()
        .map(|t| {
            Ok((
                t.str("TagKey")?.to_owned(),
                t.opt_str("TagValue")?.unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

pub fn dispatch(app: &App, c: &Caller, op: &str, input: &Value) -> Result<Reply, ApiError> {
    let kms = &app.kms;
    app.limits
        .kms_quotas
        .admit(c.account(), &c.region, op, app.clock.now_millis())?;
    let who = caller(c);
    let i = Input(input);
    let tokens = i.str_list("GrantTokens")?;
    let out: Value = match op {
        "CreateKey" => {
            let m = kms.create_key(
                &who,
                CreateKeyInput {
                    policy: i.opt_str("Policy")?.map(str::to_owned),
                    description: i.opt_str("Description")?.map(str::to_owned),
                    key_usage: i.opt_str("KeyUsage")?.map(str::to_owned),
                    key_spec: i
                        .opt_str("KeySpec")?
                        .or(i.opt_str("CustomerMasterKeySpec")?)
                        .map(str::to_owned),
                    origin: i.opt_str("Origin")?.map(str::to_owned),
                    bypass_policy_lockout_safety_check: i.bool("BypassPolicyLockoutSafetyCheck")?,
                    tags: tags(&i)?,
                    multi_region: i.bool("MultiRegion")?,
                },
            )?;
            json!({ "KeyMetadata": metadata_json(&m) })
        }
        "DescribeKey" => json!({ "KeyMetadata": metadata_json(&kms.describe_key(&who, i.str("KeyId")?, &tokens)?) }),
        "ListKeys" => {
            let (keys, next) = kms.list_keys(&who, i.opt_i64("Limit")?, i.opt_str("Marker")?)?;
            let list: Vec<Value> = keys
                .iter()
                .map(|(id, arn)| json!({ "KeyId": id, "KeyArn": arn }))
                .collect();
            let mut body = Map::new();
            body.insert("Keys".into(), json!(list));
            paged(body, next)
        }
        "UpdateKeyDescription" => {
            kms.update_key_description(&who, i.str("KeyId")?, i.str("Description")?)?;
            json!({})
        }
        "EnableKey" => {
            kms.enable_key(&who, i.str("KeyId")?)?;
            json!({})
        }
        "DisableKey" => {
            kms.disable_key(&who, i.str("KeyId")?)?;
            json!({})
        }
        "ScheduleKeyDeletion" => {
            let (arn, when, days) =
                kms.schedule_key_deletion(&who, i.str("KeyId")?, i.opt_i64("PendingWindowInDays")?)?;
            json!({ "KeyId": arn, "DeletionDate": epoch(when), "KeyState": "PendingDeletion", "PendingWindowInDays": days })
        }
        "CancelKeyDeletion" => json!({ "KeyId": kms.cancel_key_deletion(&who, i.str("KeyId")?)? }),
        "Encrypt" => {
            let o = kms.encrypt(
                &who,
                EncryptInput {
                    key_id: i.str("KeyId")?.to_owned(),
                    plaintext: i.opt_blob("Plaintext")?.map(base::SecretBytes::new),
                    encryption_context: i.str_map("EncryptionContext")?,
                    grant_tokens: tokens,
                    algorithm: i.opt_str("EncryptionAlgorithm")?.map(str::to_owned),
                    dry_run: i.bool("DryRun")?,
                },
            )?;
            json!({ "CiphertextBlob": b64(&o.ciphertext), "KeyId": o.key_arn, "EncryptionAlgorithm": o.algorithm })
        }
        "Decrypt" => {
            let o = kms.decrypt(
                &who,
                DecryptInput {
                    ciphertext: i.blob("CiphertextBlob")?,
                    encryption_context: i.str_map("EncryptionContext")?,
                    grant_tokens: tokens,
                    key_id: i.opt_str("KeyId")?.map(str::to_owned),
                    algorithm: i.opt_str("EncryptionAlgorithm")?.map(str::to_owned),
                    dry_run: i.bool("DryRun")?,
                },
            )?;
            json!({ "Plaintext": b64(o.plaintext.expose()), "KeyId": o.key_arn, "EncryptionAlgorithm": o.algorithm })
        }
        "ReEncrypt" => {
            let o = kms.re_encrypt(
                &who,
                ReEncryptInput {
                    ciphertext: i.blob("CiphertextBlob")?,
                    source_encryption_context: i.str_map("SourceEncryptionContext")?,
                    source_key_id: i.opt_str("SourceKeyId")?.map(str::to_owned),
                    source_algorithm: i.opt_str("SourceEncryptionAlgorithm")?.map(str::to_owned),
                    destination_key_id: i.str("DestinationKeyId")?.to_owned(),
                    destination_encryption_context: i.str_map("DestinationEncryptionContext")?,
                    destination_algorithm: i.opt_str("DestinationEncryptionAlgorithm")?.map(str::to_owned),
                    grant_tokens: tokens,
                    dry_run: i.bool("DryRun")?,
                },
            )?;
            json!({
                "CiphertextBlob": b64(&o.ciphertext), "SourceKeyId": o.source_key_arn, "KeyId": o.key_arn,
                "SourceEncryptionAlgorithm": o.source_algorithm, "DestinationEncryptionAlgorithm": o.destination_algorithm,
            })
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let o = kms.generate_data_key(
                &who,
                DataKeyInput {
                    key_id: i.str("KeyId")?.to_owned(),
                    key_spec: i.opt_str("KeySpec")?.map(str::to_owned),
                    number_of_bytes: i.opt_i64("NumberOfBytes")?,
                    encryption_context: i.str_map("EncryptionContext")?,
                    grant_tokens: tokens,
                    dry_run: i.bool("DryRun")?,
                },
                op == "GenerateDataKey",
            )?;
            let mut body = Map::new();
            body.insert("CiphertextBlob".into(), json!(b64(&o.ciphertext)));
            if let Some(p) = &o.plaintext {
                body.insert("Plaintext".into(), json!(b64(p.expose())));
            }
            body.insert("KeyId".into(), json!(o.key_arn));
            Value::Object(body)
        }
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            let o = kms.generate_data_key_pair(
                &who,
                DataKeyPairInput {
                    key_id: i.str("KeyId")?.to_owned(),
                    key_pair_spec: i.str("KeyPairSpec")?.to_owned(),
                    encryption_context: i.str_map("EncryptionContext")?,
                    grant_tokens: tokens,
                    dry_run: i.bool("DryRun")?,
                },
                op == "GenerateDataKeyPair",
            )?;
            let mut body = Map::new();
            body.insert("PrivateKeyCiphertextBlob".into(), json!(b64(&o.private_key_ciphertext)));
            if let Some(p) = &o.private_key_plaintext {
                body.insert("PrivateKeyPlaintext".into(), json!(b64(p.expose())));
            }
            body.insert("PublicKey".into(), json!(b64(&o.public_key)));
            body.insert("KeyId".into(), json!(o.key_arn));
            body.insert("KeyPairSpec".into(), json!(o.key_pair_spec));
            Value::Object(body)
        }
        "GenerateRandom" => {
            json!({ "Plaintext": b64(kms.generate_random(&who, i.opt_i64("NumberOfBytes")?)?.expose()) })
        }
        "Sign" | "Verify" => {
            let input = SignInput {
                key_id: i.str("KeyId")?.to_owned(),
                message: i.blob("Message")?,
                message_type: i.opt_str("MessageType")?.map(str::to_owned),
                algorithm: i.str("SigningAlgorithm")?.to_owned(),
                signature: if op == "Verify" {
                    i.blob("Signature")?
                } else {
                    Vec::new()
                },
                grant_tokens: tokens,
                dry_run: i.bool("DryRun")?,
            };
            let alg = input.algorithm.clone();
            if op == "Sign" {
                let (arn, sig) = kms.sign(&who, input)?;
                json!({ "KeyId": arn, "Signature": b64(&sig), "SigningAlgorithm": alg })
            } else {
                let arn = kms.verify(&who, input)?;
                json!({ "KeyId": arn, "SignatureValid": true, "SigningAlgorithm": alg })
            }
        }
        "GetPublicKey" => {
            let o = kms.get_public_key(&who, i.str("KeyId")?, &tokens)?;
            let mut body = Map::new();
            body.insert("KeyId".into(), json!(o.key_arn));
            body.insert("PublicKey".into(), json!(b64(&o.public_key)));
            body.insert("CustomerMasterKeySpec".into(), json!(o.key_spec));
            body.insert("KeySpec".into(), json!(o.key_spec));
            body.insert("KeyUsage".into(), json!(o.key_usage));
            if !o.encryption_algorithms.is_empty() {
                body.insert("EncryptionAlgorithms".into(), json!(o.encryption_algorithms));
            }
            if !o.signing_algorithms.is_empty() {
                body.insert("SigningAlgorithms".into(), json!(o.signing_algorithms));
            }
            Value::Object(body)
        }
        "GenerateMac" | "VerifyMac" => {
            let input = MacInput {
                key_id: i.str("KeyId")?.to_owned(),
                message: i.blob("Message")?,
                algorithm: i.str("MacAlgorithm")?.to_owned(),
                mac: if op == "VerifyMac" { i.blob("Mac")? } else { Vec::new() },
                grant_tokens: tokens,
                dry_run: i.bool("DryRun")?,
            };
            let alg = input.algorithm.clone();
            if op == "GenerateMac" {
                let (arn, mac) = kms.generate_mac(&who, input)?;
                json!({ "KeyId": arn, "Mac": b64(&mac), "MacAlgorithm": alg })
            } else {
                let arn = kms.verify_mac(&who, input)?;
                json!({ "KeyId": arn, "MacValid": true, "MacAlgorithm": alg })
            }
        }
        "CreateGrant" => {
            let constraints = match i.object("Constraints")? {
                None => Constraints::default(),
                Some(c) => {
                    let subset = c.str_map("EncryptionContextSubset")?;
                    let equals = c.str_map("EncryptionContextEquals")?;
                    Constraints {
                        subset: c.0.get("EncryptionContextSubset").map(|_| subset),
                        equals: c.0.get("EncryptionContextEquals").map(|_| equals),
                    }
                }
            };
            let (id, token) = kms.create_grant(
                &who,
                CreateGrantInput {
                    key_id: i.str("KeyId")?.to_owned(),
                    grantee_principal: i.str("GranteePrincipal")?.to_owned(),
                    retiring_principal: i.opt_str("RetiringPrincipal")?.map(str::to_owned),
                    operations: i.str_list("Operations")?,
                    constraints,
                    grant_tokens: tokens,
                    name: i.opt_str("Name")?.map(str::to_owned),
                    dry_run: i.bool("DryRun")?,
                },
            )?;
            json!({ "GrantId": id, "GrantToken": token })
        }
        "ListGrants" | "ListRetirableGrants" => {
            let (grants, next) = if op == "ListGrants" {
                kms.list_grants(
                    &who,
                    i.str("KeyId")?,
                    i.opt_i64("Limit")?,
                    i.opt_str("Marker")?,
                    i.opt_str("GrantId")?,
                    i.opt_str("GranteePrincipal")?,
                )?
            } else {
                kms.list_retirable_grants(
                    &who,
                    i.str("RetiringPrincipal")?,
                    i.opt_i64("Limit")?,
                    i.opt_str("Marker")?,
                )?
            };
            let list: Vec<Value> = grants.iter().map(grant_json).collect();
            let mut body = Map::new();
            body.insert("Grants".into(), json!(list));
            paged(body, next)
        }
        "RetireGrant" => {
            kms.retire_grant(
                &who,
                i.opt_str("GrantToken")?,
                i.opt_str("KeyId")?,
                i.opt_str("GrantId")?,
                i.bool("DryRun")?,
            )?;
            json!({})
        }
        "RevokeGrant" => {
            kms.revoke_grant(&who, i.str("KeyId")?, i.str("GrantId")?, i.bool("DryRun")?)?;
            json!({})
        }
        "CreateAlias" => {
            kms.create_alias(&who, i.str("AliasName")?, i.str("TargetKeyId")?)?;
            json!({})
        }
        "UpdateAlias" => {
            kms.update_alias(&who, i.str("AliasName")?, i.str("TargetKeyId")?)?;
            json!({})
        }
        "DeleteAlias" => {
            kms.delete_alias(&who, i.str("AliasName")?)?;
            json!({})
        }
        "ListAliases" => {
            let (aliases, next) =
                kms.list_aliases(&who, i.opt_str("KeyId")?, i.opt_i64("Limit")?, i.opt_str("Marker")?)?;
            let list: Vec<Value> = aliases
                .iter()
                .map(|a| {
                    let mut o = Map::new();
                    o.insert("AliasName".into(), json!(a.name));
                    o.insert("AliasArn".into(), json!(a.arn));
                    if let Some(t) = &a.target_key_id {
                        o.insert("TargetKeyId".into(), json!(t));
                    }
                    if let Some(c) = a.created_ms {
                        o.insert("CreationDate".into(), epoch(c));
                    }
                    if let Some(u) = a.updated_ms {
                        o.insert("LastUpdatedDate".into(), epoch(u));
                    }
                    Value::Object(o)
                })
                .collect();
            let mut body = Map::new();
            body.insert("Aliases".into(), json!(list));
            paged(body, next)
        }
        "TagResource" => {
            kms.tag_resource(&who, i.str("KeyId")?, &tags(&i)?)?;
            json!({})
        }
        "UntagResource" => {
            kms.untag_resource(&who, i.str("KeyId")?, &i.str_list("TagKeys")?)?;
            json!({})
        }
        "ListResourceTags" => {
            let (t, next) = kms.list_resource_tags(&who, i.str("KeyId")?, i.opt_i64("Limit")?, i.opt_str("Marker")?)?;
            let list: Vec<Value> = t.iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
            let mut body = Map::new();
            body.insert("Tags".into(), json!(list));
            paged(body, next)
        }
        "GetKeyPolicy" => {
            let name = i.opt_str("PolicyName")?;
            json!({ "Policy": kms.get_key_policy(&who, i.str("KeyId")?, name)?, "PolicyName": name.unwrap_or("default") })
        }
        "PutKeyPolicy" => {
            kms.put_key_policy(
                &who,
                i.str("KeyId")?,
                i.str("Policy")?,
                i.opt_str("PolicyName")?,
                i.bool("BypassPolicyLockoutSafetyCheck")?,
            )?;
            json!({})
        }
        "ListKeyPolicies" => {
            let names = kms.list_key_policies(&who, i.str("KeyId")?)?;
            json!({ "PolicyNames": names, "Truncated": false })
        }
        "EnableKeyRotation" => {
            kms.enable_key_rotation(&who, i.str("KeyId")?, i.opt_i64("RotationPeriodInDays")?)?;
            json!({})
        }
        "DisableKeyRotation" => {
            kms.disable_key_rotation(&who, i.str("KeyId")?)?;
            json!({})
        }
        "GetKeyRotationStatus" => {
            let s = kms.get_key_rotation_status(&who, i.str("KeyId")?)?;
            let mut body = Map::new();
            body.insert("KeyRotationEnabled".into(), json!(s.enabled));
            body.insert("KeyId".into(), json!(s.key_arn));
            if let Some(p) = s.period_days {
                body.insert("RotationPeriodInDays".into(), json!(p));
            }
            if let Some(n) = s.next_ms {
                body.insert("NextRotationDate".into(), epoch(n));
            }
            Value::Object(body)
        }
        "RotateKeyOnDemand" => json!({ "KeyId": kms.rotate_key_on_demand(&who, i.str("KeyId")?)? }),
        "ListKeyRotations" => {
            let (rots, next) =
                kms.list_key_rotations(&who, i.str("KeyId")?, i.opt_i64("Limit")?, i.opt_str("Marker")?)?;
            let list: Vec<Value> = rots
                .iter()
                .map(|r| json!({ "KeyId": r.key_arn, "RotationDate": epoch(r.rotation_ms), "RotationType": r.rotation_type, "KeyMaterialId": r.material_id }))
                .collect();
            let mut body = Map::new();
            body.insert("Rotations".into(), json!(list));
            paged(body, next)
        }
        "GetParametersForImport" => {
            let p = kms.get_parameters_for_import(
                &who,
                i.str("KeyId")?,
                i.str("WrappingAlgorithm")?,
                i.str("WrappingKeySpec")?,
            )?;
            json!({ "KeyId": p.key_arn, "ImportToken": b64(&p.import_token), "PublicKey": b64(&p.public_key), "ParametersValidTo": epoch(p.valid_to_ms) })
        }
        "ImportKeyMaterial" => {
            kms.import_key_material(
                &who,
                ImportInput {
                    key_id: i.str("KeyId")?.to_owned(),
                    import_token: i.blob("ImportToken")?,
                    encrypted_key_material: i.blob("EncryptedKeyMaterial")?,
                    valid_to_ms: i.opt_timestamp_ms("ValidTo")?,
                    expiration_model: i.opt_str("ExpirationModel")?.map(str::to_owned),
                },
            )?;
            json!({})
        }
        "DeleteImportedKeyMaterial" => {
            kms.delete_imported_key_material(&who, i.str("KeyId")?)?;
            json!({})
        }
        _ => return Err(unknown_operation(Api::Kms, op)),
    };
    Ok(Reply::Json(out))
}
