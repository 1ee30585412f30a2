//! The cryptography behind each key spec, all with aws-lc-rs.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use aws_lc_rs::{digest, hmac};
use base::{random, SecretBytes};

use crate::error::KmsError;
use crate::model::KeySpec;

fn internal(what: &str) -> KmsError {
    KmsError::Internal(format!("{what} failed"))
}

fn rsa_size(spec: KeySpec) -> Option<KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn hmac_algorithm(spec: KeySpec) -> Option<(hmac::Algorithm, usize, &'static str)> {
    match spec {
        KeySpec::Hmac224 => Some((hmac::HMAC_SHA224, 28, "HMAC_SHA_224")),
        KeySpec::Hmac256 => Some((hmac::HMAC_SHA256, 32, "HMAC_SHA_256")),
        KeySpec::Hmac384 => Some((hmac::HMAC_SHA384, 48, "HMAC_SHA_384")),
        KeySpec::Hmac512 => Some((hmac::HMAC_SHA512, 64, "HMAC_SHA_512")),
        _ => None,
    }
}

/// New key material: 32 random bytes (symmetric), an HMAC key, or a PKCS#8 private key.
pub fn generate(spec: KeySpec) -> Result<SecretBytes, KmsError> {
    if spec == KeySpec::SymmetricDefault {
        return Ok(random::secret_bytes(32)?);
    }
    if let Some((_, len, _)) = hmac_algorithm(spec) {
        return Ok(random::secret_bytes(len)?);
    }
    if let Some(size) = rsa_size(spec) {
        let k = RsaKeyPair::generate(size).map_err(|_| internal("RSA key generation"))?;
        let der: Pkcs8V1Der = k.as_der().map_err(|_| internal("RSA key encoding"))?;
        return Ok(SecretBytes::new(der.as_ref().to_vec()));
    }
    if let Some(alg) = ecdsa_signing(spec) {
        let k = EcdsaKeyPair::generate(alg).map_err(|_| internal("EC key generation"))?;
        let doc = k.to_pkcs8v1().map_err(|_| internal("EC key encoding"))?;
        return Ok(SecretBytes::new(doc.as_ref().to_vec()));
    }
    Err(internal("key generation"))
}

pub fn encryption_algorithms(spec: KeySpec) -> &'static [&'static str] {
    match spec {
        KeySpec::SymmetricDefault => &["SYMMETRIC_DEFAULT"],
        s if s.is_rsa() => &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
        _ => &[],
    }
}

pub fn signing_algorithms(spec: KeySpec) -> &'static [&'static str] {
    match spec {
        s if s.is_rsa() => &[
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
        ],
        KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &["ECDSA_SHA_256"],
        KeySpec::EccNistP384 => &["ECDSA_SHA_384"],
        KeySpec::EccNistP521 => &["ECDSA_SHA_512"],
        _ => &[],
    }
}

/// The `(encryption, signing)` algorithms a key of this spec and usage offers.
pub fn usage_algorithms(spec: KeySpec, usage: crate::model::KeyUsage) -> (Vec<&'static str>, Vec<&'static str>) {
    use crate::model::KeyUsage;
    match usage {
        KeyUsage::EncryptDecrypt => (encryption_algorithms(spec).to_vec(), Vec::new()),
        KeyUsage::SignVerify => (Vec::new(), signing_algorithms(spec).to_vec()),
        KeyUsage::GenerateVerifyMac => (Vec::new(), Vec::new()),
    }
}

pub fn mac_algorithms(spec: KeySpec) -> Vec<&'static str> {
    hmac_algorithm(spec).map(|(_, _, n)| vec![n]).unwrap_or_default()
}

/// AES-256-GCM under a symmetric key version.
pub fn seal(material: &SecretBytes, nonce: [u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material.expose()).map_err(|_| internal("AES key"))?);
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| internal("AES-GCM seal"))?;
    Ok(buf)
}

/// `None` when the tag does not verify: the caller reports InvalidCiphertextException.
pub fn open(material: &SecretBytes, nonce: [u8; 12], aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material.expose()).ok()?);
    let mut buf = sealed.to_vec();
    let n = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .ok()?
        .len();
    buf.truncate(n);
    Some(SecretBytes::new(buf))
}

/// The SubjectPublicKeyInfo (X.509 DER) of an asymmetric key.
pub fn public_key_der(spec: KeySpec, material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
    if spec.is_rsa() {
        let k = RsaKeyPair::from_pkcs8(material.expose()).map_err(|_| internal("RSA key parse"))?;
        let der: PublicKeyX509Der = k.public_key().as_der().map_err(|_| internal("RSA public key"))?;
        return Ok(der.as_ref().to_vec());
    }
    if let Some(alg) = ecdsa_signing(spec) {
        let k = EcdsaKeyPair::from_pkcs8(alg, material.expose()).map_err(|_| internal("EC key parse"))?;
        let der: PublicKeyX509Der = k.public_key().as_der().map_err(|_| internal("EC public key"))?;
        return Ok(der.as_ref().to_vec());
    }
    Err(KmsError::UnsupportedOperation("This key has no public key.".into()))
}

fn digest_alg(name: &str) -> Option<&'static digest::Algorithm> {
    match name {
        n if n.ends_with("SHA_256") => Some(&digest::SHA256),
        n if n.ends_with("SHA_384") => Some(&digest::SHA384),
        n if n.ends_with("SHA_512") => Some(&digest::SHA512),
        _ => None,
    }
}

fn rsa_signing(name: &str) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match name {
        "RSASSA_PSS_SHA_256" => &signature::RSA_PSS_SHA256,
        "RSASSA_PSS_SHA_384" => &signature::RSA_PSS_SHA384,
        "RSASSA_PSS_SHA_512" => &signature::RSA_PSS_SHA512,
        "RSASSA_PKCS1_V1_5_SHA_256" => &signature::RSA_PKCS1_SHA256,
        "RSASSA_PKCS1_V1_5_SHA_384" => &signature::RSA_PKCS1_SHA384,
        "RSASSA_PKCS1_V1_5_SHA_512" => &signature::RSA_PKCS1_SHA512,
        _ => return None,
    })
}

fn verification(spec: KeySpec, name: &str) -> Option<&'static dyn signature::VerificationAlgorithm> {
    Some(match (spec, name) {
        (s, "RSASSA_PSS_SHA_256") if s.is_rsa() => &signature::RSA_PSS_2048_8192_SHA256,
        (s, "RSASSA_PSS_SHA_384") if s.is_rsa() => &signature::RSA_PSS_2048_8192_SHA384,
        (s, "RSASSA_PSS_SHA_512") if s.is_rsa() => &signature::RSA_PSS_2048_8192_SHA512,
        (s, "RSASSA_PKCS1_V1_5_SHA_256") if s.is_rsa() => &signature::RSA_PKCS1_2048_8192_SHA256,
        (s, "RSASSA_PKCS1_V1_5_SHA_384") if s.is_rsa() => &signature::RSA_PKCS1_2048_8192_SHA384,
        (s, "RSASSA_PKCS1_V1_5_SHA_512") if s.is_rsa() => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeySpec::EccNistP256, "ECDSA_SHA_256") => &signature::ECDSA_P256_SHA256_ASN1,
        (KeySpec::EccSecgP256k1, "ECDSA_SHA_256") => &signature::ECDSA_P256K1_SHA256_ASN1,
        (KeySpec::EccNistP384, "ECDSA_SHA_384") => &signature::ECDSA_P384_SHA384_ASN1,
        (KeySpec::EccNistP521, "ECDSA_SHA_512") => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return None,
    })
}

/// The digest a signature covers: of `message`, or `message` itself when the caller sent a digest.
fn digest_for(algorithm: &str, message: &[u8], is_digest: bool) -> Result<digest::Digest, KmsError> {
    let dalg = digest_alg(algorithm).ok_or_else(|| invalid_alg(algorithm))?;
    if !is_digest {
        return Ok(digest::digest(dalg, message));
    }
    if message.len() != dalg.output_len() {
        return Err(KmsError::Validation(format!(
            "Digest is invalid length for algorithm {algorithm}."
        )));
    }
    digest::Digest::import_less_safe(message, dalg).map_err(|_| internal("digest import"))
}

/// Signs `message` (or, with `is_digest`, an already computed digest).
pub fn sign(
    spec: KeySpec,
    material: &SecretBytes,
    algorithm: &str,
    message: &[u8],
    is_digest: bool,
) -> Result<Vec<u8>, KmsError> {
    let d = digest_for(algorithm, message, is_digest)?;
    if spec.is_rsa() {
        let enc = rsa_signing(algorithm).ok_or_else(|| invalid_alg(algorithm))?;
        let k = RsaKeyPair::from_pkcs8(material.expose()).map_err(|_| internal("RSA key parse"))?;
        let mut sig = vec![0u8; k.public_modulus_len()];
        k.sign_digest(enc, &d, &mut sig).map_err(|_| internal("RSA sign"))?;
        return Ok(sig);
    }
    let alg = ecdsa_signing(spec).ok_or_else(|| invalid_alg(algorithm))?;
    if verification(spec, algorithm).is_none() {
        return Err(invalid_alg(algorithm));
    }
    let k = EcdsaKeyPair::from_pkcs8(alg, material.expose()).map_err(|_| internal("EC key parse"))?;
    let sig = k.sign_digest(&d).map_err(|_| internal("EC sign"))?;
    Ok(sig.as_ref().to_vec())
}

pub fn verify(
    spec: KeySpec,
    material: &SecretBytes,
    algorithm: &str,
    message: &[u8],
    is_digest: bool,
    sig: &[u8],
) -> Result<bool, KmsError> {
    let valg = verification(spec, algorithm).ok_or_else(|| invalid_alg(algorithm))?;
    let d = digest_for(algorithm, message, is_digest)?;
    let public = public_key_der(spec, material)?;
    Ok(UnparsedPublicKey::new(valg, &public).verify_digest(&d, sig).is_ok())
}

fn invalid_alg(name: &str) -> KmsError {
    KmsError::InvalidKeyUsage(format!("The specified algorithm {name} is not supported for this key."))
}

fn oaep(name: &str) -> Result<&'static aws_lc_rs::rsa::OaepAlgorithm, KmsError> {
    match name {
        "RSAES_OAEP_SHA_1" => Ok(&OAEP_SHA1_MGF1SHA1),
        "RSAES_OAEP_SHA_256" => Ok(&OAEP_SHA256_MGF1SHA256),
        other => Err(invalid_alg(other)),
    }
}

/// RSA-OAEP with the key's public half.
pub fn rsa_encrypt(material: &SecretBytes, algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    let alg = oaep(algorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(material.expose()).map_err(|_| internal("RSA key parse"))?;
    rsa_encrypt_to(&private.public_key(), alg, plaintext)
}

/// RSA-OAEP under a public key given as X.509 DER (import wrapping keys, data key pairs' checks).
pub fn rsa_encrypt_with_public(public_der: &[u8], algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    let alg = oaep(algorithm)?;
    let public = PublicEncryptingKey::from_der(public_der).map_err(|_| internal("RSA public key parse"))?;
    rsa_encrypt_to(&public, alg, plaintext)
}

fn rsa_encrypt_to(
    public: &PublicEncryptingKey,
    alg: &'static aws_lc_rs::rsa::OaepAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let key = OaepPublicEncryptingKey::new(public.clone()).map_err(|_| internal("OAEP key"))?;
    let max = key.max_plaintext_size(alg);
    if plaintext.len() > max {
        return Err(KmsError::Validation(format!(
            "Plaintext is too long for algorithm; the maximum is {max} bytes."
        )));
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| internal("OAEP encrypt"))?
        .len();
    out.truncate(n);
    Ok(out)
}

pub fn rsa_decrypt(material: &SecretBytes, algorithm: &str, ciphertext: &[u8]) -> Result<SecretBytes, KmsError> {
    let alg = oaep(algorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(material.expose()).map_err(|_| internal("RSA key parse"))?;
    let key = OaepPrivateDecryptingKey::new(private).map_err(|_| internal("OAEP key"))?;
    let mut out = vec![0u8; key.min_output_size()];
    let n = key
        .decrypt(alg, ciphertext, &mut out, None)
        .map_err(|_| KmsError::InvalidCiphertext(String::new()))?
        .len();
    out.truncate(n);
    Ok(SecretBytes::new(out))
}

pub fn rsa_public_from_private(material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
    let private = PrivateDecryptingKey::from_pkcs8(material.expose()).map_err(|_| internal("RSA key parse"))?;
    let der: PublicKeyX509Der = private.public_key().as_der().map_err(|_| internal("RSA public key"))?;
    Ok(der.as_ref().to_vec())
}

pub fn generate_mac(
    spec: KeySpec,
    material: &SecretBytes,
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let (alg, _, name) = hmac_algorithm(spec).ok_or_else(|| invalid_alg(algorithm))?;
    if name != algorithm {
        return Err(invalid_alg(algorithm));
    }
    Ok(hmac::sign(&hmac::Key::new(alg, material.expose()), message)
        .as_ref()
        .to_vec())
}

pub fn verify_mac(
    spec: KeySpec,
    material: &SecretBytes,
    algorithm: &str,
    message: &[u8],
    mac: &[u8],
) -> Result<bool, KmsError> {
    let (alg, _, name) = hmac_algorithm(spec).ok_or_else(|| invalid_alg(algorithm))?;
    if name != algorithm {
        return Err(invalid_alg(algorithm));
    }
    Ok(hmac::verify(&hmac::Key::new(alg, material.expose()), message, mac).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asymmetric_spec_signs_and_verifies_both_message_types() {
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
        ] {
            let m = generate(spec).unwrap();
            for alg in signing_algorithms(spec) {
                let sig = sign(spec, &m, alg, b"message", false).unwrap();
                assert!(
                    verify(spec, &m, alg, b"message", false, &sig).unwrap(),
                    "{spec:?} {alg}"
                );
                assert!(!verify(spec, &m, alg, b"other", false, &sig).unwrap(), "{spec:?} {alg}");
                let d = digest::digest(digest_alg(alg).unwrap(), b"message");
                // A signature over the message verifies as a signature over its digest, and back.
                assert!(
                    verify(spec, &m, alg, d.as_ref(), true, &sig).unwrap(),
                    "{spec:?} {alg} digest"
                );
                let sig2 = sign(spec, &m, alg, d.as_ref(), true).unwrap();
                assert!(verify(spec, &m, alg, b"message", false, &sig2).unwrap());
            }
            assert!(!public_key_der(spec, &m).unwrap().is_empty());
        }
    }

    #[test]
    fn rsa_oaep_round_trips() {
        let m = generate(KeySpec::Rsa2048).unwrap();
        for alg in encryption_algorithms(KeySpec::Rsa2048) {
            let ct = rsa_encrypt(&m, alg, b"secret").unwrap();
            assert_eq!(rsa_decrypt(&m, alg, &ct).unwrap().expose(), b"secret");
        }
        let public = rsa_public_from_private(&m).unwrap();
        let ct = rsa_encrypt_with_public(&public, "RSAES_OAEP_SHA_256", b"x").unwrap();
        assert_eq!(rsa_decrypt(&m, "RSAES_OAEP_SHA_256", &ct).unwrap().expose(), b"x");
    }

    #[test]
    fn hmac_matches_and_refuses() {
        for spec in [KeySpec::Hmac224, KeySpec::Hmac256, KeySpec::Hmac384, KeySpec::Hmac512] {
            let m = generate(spec).unwrap();
            let alg = mac_algorithms(spec)[0];
            let mac = generate_mac(spec, &m, alg, b"msg").unwrap();
            assert!(verify_mac(spec, &m, alg, b"msg", &mac).unwrap());
            assert!(!verify_mac(spec, &m, alg, b"msh", &mac).unwrap());
        }
    }
}
