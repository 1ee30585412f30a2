//! Random bytes and identifiers from the system CSPRNG (aws-lc-rs).

use crate::secret::SecretBytes;

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| RandomError)
}

pub fn bytes(n: usize) -> Result<Vec<u8>, RandomError> {
    let mut v = vec![0u8; n];
    fill(&mut v)?;
    Ok(v)
}

pub fn secret_bytes(n: usize) -> Result<SecretBytes, RandomError> {
    bytes(n).map(SecretBytes::new)
}

/// `n` characters drawn uniformly from `alphabet` (rejection sampling, so no modulo bias).
pub fn string_from(alphabet: &[u8], n: usize) -> Result<String, RandomError> {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        fill(&mut buf)?;
        for &b in &buf {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    Ok(out)
}

pub const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A random RFC 4122 version-4 UUID in its lower-case text form.
pub fn uuid_v4() -> Result<String, RandomError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_only_the_alphabet_and_have_the_length() {
        let s = string_from(UPPER_ALNUM, 100).unwrap();
        assert_eq!(s.len(), 100);
        assert!(s.bytes().all(|c| UPPER_ALNUM.contains(&c)));
    }

    #[test]
    fn uuids_have_the_v4_form() {
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
