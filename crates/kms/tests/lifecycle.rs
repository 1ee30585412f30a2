//! Time-driven KMS behaviour on a manual clock: deletion windows, automatic rotation, import expiry.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base::{Clock, ManualClock, RootKey};
use iam::{Iam, Principal};
use kms::*;

const ACCOUNT: &str = "111122223333";
const DAY: i64 = 86_400_000;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    kms: Kms,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_millis(1_800_000_000_000);
    let key = Arc::new(RootKey::from_bytes(&[9u8; 32]).unwrap());
    let iam = Arc::new(Iam::open(dir.path(), key.clone(), Arc::new(clock.clone())).unwrap());
    let trail = Arc::new(audit::Trail::open(&dir.path().join("trail"), key.clone()).unwrap());
    let kms = Kms::open(dir.path(), key, Arc::new(clock.clone()), iam, trail).unwrap();
    Fixture { _dir: dir, clock, kms }
}

fn root() -> KmsCaller {
    KmsCaller {
        principal: Principal::Root {
            account: ACCOUNT.into(),
        },
        identity_policies: vec![],
        access_key_id: "AKIAROOT".into(),
        region: "us-west-2".into(),
        via_service: None,
        invoked_by: None,
        source_ip: "127.0.0.1".into(),
        user_agent: "test".into(),
        request_id: "r".into(),
    }
}

fn encrypt(f: &Fixture, key: &str) -> Result<Vec<u8>, KmsError> {
    f.kms
        .encrypt(
            &root(),
            EncryptInput {
                key_id: key.into(),
                plaintext: Some(base::SecretBytes::new(b"data".to_vec())),
                ..Default::default()
            },
        )
        .map(|o| o.ciphertext)
}

fn decrypt(f: &Fixture, ct: &[u8]) -> Result<Vec<u8>, KmsError> {
    f.kms
        .decrypt(
            &root(),
            DecryptInput {
                ciphertext: ct.to_vec(),
                ..Default::default()
            },
        )
        .map(|o| o.plaintext.expose().to_vec())
}

#[test]
fn deletion_window_ends_with_the_key_gone() {
    let f = fixture();
    let m = f.kms.create_key(&root(), CreateKeyInput::default()).unwrap();
    f.kms.create_alias(&root(), "alias/doomed", &m.key_id).unwrap();
    let ct = encrypt(&f, &m.key_id).unwrap();
    let (_, when, days) = f.kms.schedule_key_deletion(&root(), &m.key_id, Some(7)).unwrap();
    assert_eq!((when, days), (1_800_000_000_000 + 7 * DAY, 7));
    assert!(matches!(decrypt(&f, &ct), Err(KmsError::InvalidState(m)) if m.ends_with("is pending deletion.")));

    f.clock.advance_millis(7 * DAY - 1);
    f.kms.tick().unwrap();
    assert_eq!(
        f.kms.describe_key(&root(), &m.key_id, &[]).unwrap().key_state,
        "PendingDeletion"
    );

    f.clock.advance_millis(1);
    f.kms.tick().unwrap();
    assert!(matches!(
        f.kms.describe_key(&root(), &m.key_id, &[]),
        Err(KmsError::NotFound(_))
    ));
    // Its alias went with it, and its ciphertexts are unrecoverable.
    assert!(matches!(
        f.kms.describe_key(&root(), "alias/doomed", &[]),
        Err(KmsError::NotFound(_))
    ));
    assert!(matches!(decrypt(&f, &ct), Err(KmsError::AccessDenied(_))));
}

#[test]
fn cancel_leaves_the_key_disabled() {
    let f = fixture();
    let m = f.kms.create_key(&root(), CreateKeyInput::default()).unwrap();
    f.kms.schedule_key_deletion(&root(), &m.key_id, None).unwrap();
    f.kms.cancel_key_deletion(&root(), &m.key_id).unwrap();
    let d = f.kms.describe_key(&root(), &m.key_id, &[]).unwrap();
    assert_eq!((d.key_state, d.enabled, d.deletion_ms), ("Disabled", false, None));
    f.clock.advance_millis(31 * DAY);
    f.kms.tick().unwrap();
    assert!(f.kms.describe_key(&root(), &m.key_id, &[]).is_ok());
}

#[test]
fn automatic_rotation_keeps_every_old_ciphertext_readable() {
    let f = fixture();
    let m = f.kms.create_key(&root(), CreateKeyInput::default()).unwrap();
    let before = encrypt(&f, &m.key_id).unwrap();
    f.kms.enable_key_rotation(&root(), &m.key_id, Some(90)).unwrap();
    let status = f.kms.get_key_rotation_status(&root(), &m.key_id).unwrap();
    assert_eq!(status.next_ms, Some(1_800_000_000_000 + 90 * DAY));
    f.clock.advance_millis(90 * DAY);
    f.kms.tick().unwrap();
    let (rotations, _) = f.kms.list_key_rotations(&root(), &m.key_id, None, None).unwrap();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].rotation_type, "AUTOMATIC");
    let after = encrypt(&f, &m.key_id).unwrap();
    assert_ne!(before[50..54], after[50..54], "new ciphertexts name the new version");
    assert_eq!(decrypt(&f, &before).unwrap(), b"data");
    assert_eq!(decrypt(&f, &after).unwrap(), b"data");
    f.kms.rotate_key_on_demand(&root(), &m.key_id).unwrap();
    assert_eq!(decrypt(&f, &before).unwrap(), b"data");
    assert_eq!(
        f.kms
            .list_key_rotations(&root(), &m.key_id, None, None)
            .unwrap()
            .0
            .len(),
        2
    );
}

#[test]
fn imported_material_lifecycle_and_expiry() {
    let f = fixture();
    let m = f
        .kms
        .create_key(
            &root(),
            CreateKeyInput {
                origin: Some("EXTERNAL".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(m.key_state, "PendingImport");
    assert!(matches!(encrypt(&f, &m.key_id), Err(KmsError::InvalidState(s)) if s.ends_with("is pending import.")));
    let material = [42u8; 32];
    let import = |valid_to: Option<i64>, model: &str, bytes: &[u8]| {
        let p = f
            .kms
            .get_parameters_for_import(&root(), &m.key_id, "RSAES_OAEP_SHA_256", "RSA_2048")
            .unwrap();
        let wrapped = crypto::rsa_encrypt_with_public(&p.public_key, "RSAES_OAEP_SHA_256", bytes).unwrap();
        f.kms.import_key_material(
            &root(),
            ImportInput {
                key_id: m.key_id.clone(),
                import_token: p.import_token,
                encrypted_key_material: wrapped,
                valid_to_ms: valid_to,
                expiration_model: Some(model.into()),
            },
        )
    };
    import(Some(f.clock.now_millis() + DAY), "KEY_MATERIAL_EXPIRES", &material).unwrap();
    let ct = encrypt(&f, &m.key_id).unwrap();
    assert_eq!(decrypt(&f, &ct).unwrap(), b"data");
    // Other material may never replace the first.
    assert!(matches!(
        import(None, "KEY_MATERIAL_DOES_NOT_EXPIRE", &[7u8; 32]),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));

    f.clock.advance_millis(DAY);
    f.kms.tick().unwrap();
    assert_eq!(
        f.kms.describe_key(&root(), &m.key_id, &[]).unwrap().key_state,
        "PendingImport"
    );
    assert!(decrypt(&f, &ct).is_err());

    // The same material again brings every old ciphertext back.
    import(None, "KEY_MATERIAL_DOES_NOT_EXPIRE", &material).unwrap();
    assert_eq!(decrypt(&f, &ct).unwrap(), b"data");
    f.kms.delete_imported_key_material(&root(), &m.key_id).unwrap();
    assert_eq!(
        f.kms.describe_key(&root(), &m.key_id, &[]).unwrap().key_state,
        "PendingImport"
    );
}
