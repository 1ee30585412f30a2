//! Issue 3: the key service through aws-sdk-kms, with its errors, key states, policies and grants.

mod common;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, EncryptionAlgorithmSpec, GrantConstraints, GrantOperation, KeySpec, KeyUsageType, MacAlgorithmSpec,
    MessageType, SigningAlgorithmSpec,
};
use common::*;

const ALLOW_ALL_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

async fn new_key(kms: &aws_sdk_kms::Client) -> String {
    let out = kms.create_key().send().await.expect("CreateKey");
    out.key_metadata().expect("KeyMetadata").key_id().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn symmetric_round_trip_with_context_and_its_errors() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let created = kms.create_key().description("orders").send().await.unwrap();
    let meta = created.key_metadata().unwrap();
    assert_eq!(meta.key_manager().unwrap().as_str(), "CUSTOMER");
    assert_eq!(meta.key_spec().unwrap().as_str(), "SYMMETRIC_DEFAULT");
    assert_eq!(
        meta.arn().unwrap(),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", meta.key_id())
    );
    let key = meta.key_id().to_owned();
    kms.create_alias()
        .alias_name("alias/orders")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();

    let enc = kms
        .encrypt()
        .key_id("alias/orders")
        .plaintext(Blob::new("MARKER-PLAINTEXT"))
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(enc.key_id(), meta.arn());
    let blob = enc.ciphertext_blob().unwrap().as_ref().to_vec();

    let dec = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"MARKER-PLAINTEXT");
    assert_eq!(dec.key_id(), meta.arn());

    let err = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .encryption_context("tenant", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidCiphertextException"));
    let err = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidCiphertextException"));
    for i in [0, 20, 60, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[i] ^= 1;
        let err = kms
            .decrypt()
            .ciphertext_blob(Blob::new(bad))
            .encryption_context("tenant", "acme")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidCiphertextException"), "flip at {i}");
    }
    let other = new_key(&kms).await;
    let err = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .encryption_context("tenant", "acme")
        .key_id(&other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("IncorrectKeyException"));

    let re = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(blob))
        .source_encryption_context("tenant", "acme")
        .destination_key_id(&other)
        .send()
        .await
        .unwrap();
    let dec = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"MARKER-PLAINTEXT");

    let dk = kms
        .generate_data_key()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    let back = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), dk.plaintext().unwrap().as_ref());
    let wp = kms
        .generate_data_key_without_plaintext()
        .key_id(&key)
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    let back = kms
        .decrypt()
        .ciphertext_blob(wp.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref().len(), 64);

    for (n, ok) in [(0, false), (1, true), (1024, true), (1025, false)] {
        let r = kms.generate_random().number_of_bytes(n).send().await;
        assert_eq!(r.is_ok(), ok, "GenerateRandom {n}");
    }
    let err = kms.generate_data_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let err = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let err = kms
        .encrypt()
        .key_id("alias/none")
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"));
    assert_eq!(
        err.message(),
        Some(format!("Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none is not found.").as_str())
    );

    s.assert_not_at_rest("MARKER-PLAINTEXT");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_states_and_their_errors() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let key = new_key(&kms).await;
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}");
    kms.disable_key().key_id(&key).send().await.unwrap();
    let err = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DisabledException"));
    assert_eq!(err.message(), Some(format!("{arn} is disabled.").as_str()));
    kms.enable_key().key_id(&key).send().await.unwrap();

    let err = kms
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let out = kms
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_state().unwrap().as_str(), "PendingDeletion");
    assert_eq!(out.pending_window_in_days(), Some(7));
    let err = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSInvalidStateException"));
    assert_eq!(err.message(), Some(format!("{arn} is pending deletion.").as_str()));
    let err = kms.enable_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(err.code(), Some("KMSInvalidStateException"));
    // Describe still works, and shows the deletion date.
    let d = kms.describe_key().key_id(&key).send().await.unwrap();
    assert!(d.key_metadata().unwrap().deletion_date().is_some());

    kms.cancel_key_deletion().key_id(&key).send().await.unwrap();
    let d = kms.describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(d.key_metadata().unwrap().key_state().unwrap().as_str(), "Disabled");
    let err = kms.cancel_key_deletion().key_id(&key).send().await.unwrap_err();
    assert_eq!(err.message(), Some(format!("{arn} is not pending deletion.").as_str()));
    kms.update_key_description()
        .key_id(&key)
        .description("new")
        .send()
        .await
        .unwrap();
    let err = kms
        .describe_key()
        .key_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn asymmetric_and_hmac_keys_follow_their_usage_rules() {
    let s = Server::start();
    let kms = s.kms(s.root());
    for (spec, alg) in [
        (KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPssSha256),
        (KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256),
        (KeySpec::EccSecgP256K1, SigningAlgorithmSpec::EcdsaSha256),
    ] {
        let k = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap();
        let id = k.key_metadata().unwrap().key_id().to_owned();
        let sig = kms
            .sign()
            .key_id(&id)
            .message(Blob::new("message"))
            .signing_algorithm(alg.clone())
            .send()
            .await
            .unwrap();
        let sig = sig.signature().unwrap().clone();
        let ok = kms
            .verify()
            .key_id(&id)
            .message(Blob::new("message"))
            .signature(sig.clone())
            .signing_algorithm(alg.clone())
            .send()
            .await
            .unwrap();
        assert!(ok.signature_valid());
        let err = kms
            .verify()
            .key_id(&id)
            .message(Blob::new("other"))
            .signature(sig)
            .signing_algorithm(alg.clone())
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("KMSInvalidSignatureException"), "{spec:?}");
        let pk = kms.get_public_key().key_id(&id).send().await.unwrap();
        assert!(!pk.public_key().unwrap().as_ref().is_empty());
        let err = kms
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidKeyUsageException"));
    }
    // A digest signs like its message.
    let k = kms
        .create_key()
        .key_spec(KeySpec::EccNistP384)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let id = k.key_metadata().unwrap().key_id().to_owned();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, b"message");
    let sig = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(digest.as_ref()))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await
        .unwrap();
    kms.verify()
        .key_id(&id)
        .message(Blob::new("message"))
        .signature(sig.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await
        .unwrap();

    let rsa = kms
        .create_key()
        .key_spec(KeySpec::Rsa3072)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap();
    let rsa = rsa.key_metadata().unwrap().key_id().to_owned();
    let ct = kms
        .encrypt()
        .key_id(&rsa)
        .plaintext(Blob::new("rsa secret"))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    let pt = kms
        .decrypt()
        .key_id(&rsa)
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"rsa secret");

    let mac_key = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let mac_key = mac_key.key_metadata().unwrap().key_id().to_owned();
    let mac = kms
        .generate_mac()
        .key_id(&mac_key)
        .message(Blob::new("m"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    let v = kms
        .verify_mac()
        .key_id(&mac_key)
        .message(Blob::new("m"))
        .mac(mac.mac().unwrap().clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert!(v.mac_valid());
    let err = kms
        .verify_mac()
        .key_id(&mac_key)
        .message(Blob::new("n"))
        .mac(mac.mac().unwrap().clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSInvalidMacException"));

    let err = kms.create_key().key_spec(KeySpec::Hmac256).send().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("ValidationException"),
        "HMAC keys cannot be ENCRYPT_DECRYPT"
    );

    let sym = new_key(&kms).await;
    let pair = kms
        .generate_data_key_pair()
        .key_id(&sym)
        .key_pair_spec(aws_sdk_kms::types::DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    let private = kms
        .decrypt()
        .ciphertext_blob(pair.private_key_ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        private.plaintext().unwrap().as_ref(),
        pair.private_key_plaintext().unwrap().as_ref()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_policies_decide_direct_use() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let alice = s.user("alice", Some(ALLOW_ALL_KMS)).await;
    let alice_kms = s.kms(alice);

    // A key whose policy lets alice use it only through DynamoDB (the seed's shape).
    let via_dynamodb = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"via dynamodb","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},
          "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant"],
          "Resource":"*","Condition":{{"StringLike":{{"kms:ViaService":"dynamodb.*.amazonaws.com"}}}}}},
        {{"Sid":"admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let k = kms.create_key().policy(&via_dynamodb).send().await.unwrap();
    let key = k.key_metadata().unwrap().key_id().to_owned();
    // Alice's IAM policy allows kms:* and the root statement delegates to IAM, so she is allowed ...
    alice_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
    // ... but without the delegation statement, the ViaService condition refuses direct calls.
    let only_via = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},"Action":["kms:Encrypt","kms:Decrypt"],
          "Resource":"*","Condition":{{"StringLike":{{"kms:ViaService":"dynamodb.*.amazonaws.com"}}}}}},
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":["kms:PutKeyPolicy","kms:GetKeyPolicy","kms:DescribeKey"],"Resource":"*"}}]}}"#
    );
    kms.put_key_policy()
        .key_id(&key)
        .policy(&only_via)
        .send()
        .await
        .unwrap();
    let err = alice_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}");
    assert_eq!(
        err.message(),
        Some(format!("User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: kms:Encrypt on resource: {arn} because no resource-based policy allows the kms:Encrypt action").as_str())
    );
    let got = kms.get_key_policy().key_id(&key).send().await.unwrap();
    assert_eq!(got.policy(), Some(only_via.as_str()));

    // An explicit deny in the key policy wins over alice's IAM allow.
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    let k2 = kms.create_key().policy(&deny).send().await.unwrap();
    let key2 = k2.key_metadata().unwrap().key_id().to_owned();
    let ct = alice_kms
        .encrypt()
        .key_id(&key2)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
    let err = alice_kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .ends_with("with an explicit deny in a resource-based policy"),
        "{err:?}"
    );

    // IAM alone never reaches a key whose policy does not delegate to the account.
    let foreign = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let err = kms.create_key().policy(foreign).send().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("MalformedPolicyDocumentException"),
        "the lockout check refuses it"
    );
    let k3 = kms
        .create_key()
        .policy(foreign)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .unwrap();
    let err = alice_kms
        .encrypt()
        .key_id(k3.key_metadata().unwrap().key_id())
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));

    // Malformed policies are refused with AWS's exception.
    let err = kms
        .put_key_policy()
        .key_id(&key2)
        .policy("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MalformedPolicyDocumentException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_constraints_and_revocation() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let bob = s.user("bob", None).await;
    let bob_kms = s.kms(bob);
    let key = new_key(&kms).await;
    let bob_arn = format!("arn:aws:iam::{ACCOUNT}:user/bob");

    let err = bob_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));

    let grant = kms
        .create_grant()
        .key_id(&key)
        .grantee_principal(&bob_arn)
        .retiring_principal(&bob_arn)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("purpose", "test")
                .build(),
        )
        .name("bob-grant")
        .send()
        .await
        .unwrap();
    let grant_id = grant.grant_id().unwrap().to_owned();
    assert_eq!(grant_id.len(), 64);
    let again = kms
        .create_grant()
        .key_id(&key)
        .grantee_principal(&bob_arn)
        .retiring_principal(&bob_arn)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("purpose", "test")
                .build(),
        )
        .name("bob-grant")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.grant_id(),
        Some(grant_id.as_str()),
        "a named grant is created once"
    );

    let ct = bob_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .encryption_context("purpose", "test")
        .encryption_context("extra", "ok")
        .send()
        .await
        .expect("the subset constraint holds");
    let err = bob_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .encryption_context("purpose", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let err = bob_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let err = bob_kms.describe_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("AccessDeniedException"),
        "the grant does not list DescribeKey"
    );

    let list = kms.list_grants().key_id(&key).send().await.unwrap();
    assert_eq!(list.grants().len(), 1);
    let g = &list.grants()[0];
    assert_eq!(g.grantee_principal(), Some(bob_arn.as_str()));
    assert_eq!(
        g.issuing_account(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(g.name(), Some("bob-grant"));
    let retirable = s
        .kms(s.root())
        .list_retirable_grants()
        .retiring_principal(&bob_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(retirable.grants().len(), 1);

    // Revocation takes effect at once.
    kms.revoke_grant()
        .key_id(&key)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    let err = bob_kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "test")
        .encryption_context("extra", "ok")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let err = kms
        .revoke_grant()
        .key_id(&key)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidGrantIdException"));

    // Retire by token, as the retiring principal.
    let g2 = kms
        .create_grant()
        .key_id(&key)
        .grantee_principal(&bob_arn)
        .retiring_principal(&bob_arn)
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .unwrap();
    bob_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
    bob_kms
        .retire_grant()
        .grant_token(g2.grant_token().unwrap())
        .send()
        .await
        .unwrap();
    assert!(kms.list_grants().key_id(&key).send().await.unwrap().grants().is_empty());
    let err = bob_kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let err = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .grant_tokens("bogus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidGrantTokenException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_tags_rotation_and_pagination() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let a = new_key(&kms).await;
    let b = new_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/app")
        .target_key_id(&a)
        .send()
        .await
        .unwrap();
    let err = kms
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"));
    let err = kms
        .create_alias()
        .alias_name("alias/aws/mine")
        .target_key_id(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidAliasNameException"));
    let err = kms
        .create_alias()
        .alias_name("app")
        .target_key_id(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    kms.update_alias()
        .alias_name("alias/app")
        .target_key_id(&b)
        .send()
        .await
        .unwrap();
    let d = kms
        .describe_key()
        .key_id(format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"))
        .send()
        .await
        .unwrap();
    assert_eq!(d.key_metadata().unwrap().key_id(), b);
    let aliases = kms.list_aliases().key_id(&b).send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    assert_eq!(aliases.aliases()[0].target_key_id(), Some(b.as_str()));
    let all = kms.list_aliases().send().await.unwrap();
    let dynamo = all
        .aliases()
        .iter()
        .find(|x| x.alias_name() == Some("alias/aws/dynamodb"))
        .unwrap();
    assert!(dynamo.target_key_id().is_none(), "predefined, not yet created");
    kms.delete_alias().alias_name("alias/app").send().await.unwrap();

    kms.tag_resource()
        .key_id(&a)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("team")
                .tag_value("db")
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("env")
                .tag_value("dev")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kms.untag_resource().key_id(&a).tag_keys("env").send().await.unwrap();
    let tags = kms.list_resource_tags().key_id(&a).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].tag_key(), "team");

    let ct = kms
        .encrypt()
        .key_id(&a)
        .plaintext(Blob::new("old"))
        .send()
        .await
        .unwrap();
    kms.enable_key_rotation()
        .key_id(&a)
        .rotation_period_in_days(100)
        .send()
        .await
        .unwrap();
    let st = kms.get_key_rotation_status().key_id(&a).send().await.unwrap();
    assert!(st.key_rotation_enabled());
    assert_eq!(st.rotation_period_in_days(), Some(100));
    let err = kms
        .enable_key_rotation()
        .key_id(&a)
        .rotation_period_in_days(80)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    kms.rotate_key_on_demand().key_id(&a).send().await.unwrap();
    let rots = kms.list_key_rotations().key_id(&a).send().await.unwrap();
    assert_eq!(rots.rotations().len(), 1);
    let back = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), b"old");

    for _ in 0..3 {
        new_key(&kms).await;
    }
    let mut seen = 0;
    let mut marker: Option<String> = None;
    loop {
        let page = kms
            .list_keys()
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        seen += page.keys().len();
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_owned);
    }
    assert_eq!(seen, 5);
    let err = kms.list_keys().marker("bogus").send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidMarkerException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_reports_without_doing() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let key = new_key(&kms).await;
    let err = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DryRunOperationException"));
    kms.disable_key().key_id(&key).send().await.unwrap();
    let err = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DisabledException"), "a dry run still checks state");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_material_survives_a_restart_sealed() {
    let mut s = Server::start();
    let key = new_key(&s.kms(s.root())).await;
    let ct = s
        .kms(s.root())
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("persisted"))
        .send()
        .await
        .unwrap();
    s.restart();
    let back = s
        .kms(s.root())
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), b"persisted");
    s.assert_not_at_rest(&key);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_quotas_throttle_when_configured() {
    let s = Server::start_with(&["--kms-quotas", "cryptographic=5,CreateKey=100"]);
    let kms = s.kms(s.root());
    let key = new_key(&kms).await;
    let encrypt = || kms.encrypt().key_id(&key).plaintext(Blob::new("quota")).send();
    // Twenty cryptographic calls at once: at most five a second get through.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (kms, key) = (kms.clone(), key.clone());
        calls.spawn(async move { kms.encrypt().key_id(&key).plaintext(Blob::new("quota")).send().await });
    }
    let outcomes = calls.join_all().await;
    let (passed, throttled): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|r| r.is_ok());
    assert!((5..=10).contains(&passed.len()), "{} passed", passed.len());
    let e = throttled[0].as_ref().unwrap_err();
    assert_eq!(e.code(), Some("ThrottlingException"));
    assert_eq!(
        e.message(),
        Some("You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.")
    );
    // Decrypt shares the quota; DescribeKey has none of its own configured.
    for _ in 0..10 {
        kms.describe_key().key_id(&key).send().await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let blob = encrypt().await.unwrap().ciphertext_blob().unwrap().clone();
    kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
}
