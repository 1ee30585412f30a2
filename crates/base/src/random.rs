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

/// A random RFC 4122 version-4 UUID in its lower-case text form, from the CSPRNG (for identifiers that
/// must not be guessable).
pub fn uuid_v4() -> Result<String, RandomError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    Ok(uuid_text(b))
}

fn uuid_text(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out
}

thread_local! {
    /// A SplitMix64 state per thread, seeded from the CSPRNG: each output is a bijection of the counter, so a
    /// thread never repeats itself, and random seeds keep threads apart.
    static UNIQUE: std::cell::Cell<u64> = std::cell::Cell::new({
        let mut seed = [0u8; 8];
        // Without the CSPRNG, uniqueness still holds within the process (address and time differ per thread).
        if fill(&mut seed).is_err() {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            seed = (t.as_nanos() as u64 ^ (&seed as *const _ as u64)).to_le_bytes();
        }
        u64::from_le_bytes(seed)
    });
}

fn splitmix64() -> u64 {
    UNIQUE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A unique, random-looking version-4 UUID for identifiers that only need to be unique (request ids, event
/// ids): no CSPRNG call, which is a tenth of the cost of a KMS request at full load.
pub fn unique_uuid() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&splitmix64().to_le_bytes());
    b[8..].copy_from_slice(&splitmix64().to_le_bytes());
    uuid_text(b)
}

/// `n` characters of `alphabet` (at most 64 symbols), unique-looking but not secret: DynamoDB request ids.
pub fn unique_string_from(alphabet: &[u8], n: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 64);
    let mut out = String::with_capacity(n);
    let mut bits = 0u64;
    let mut left = 0;
    while out.len() < n {
        if left == 0 {
            bits = splitmix64();
            left = 10;
        }
        out.push(alphabet[(bits & 63) as usize % alphabet.len()] as char);
        bits >>= 6;
        left -= 1;
    }
    out
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
        let v = unique_uuid();
        assert_eq!((v.len(), &v[14..15]), (36, "4"));
        assert!(matches!(&v[19..20], "8" | "9" | "a" | "b"));
        let bytes: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(uuid_text(bytes), "00010203-0405-4607-8809-0a0b0c0d0e0f");
    }

    #[test]
    fn unique_ids_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            assert!(seen.insert(unique_uuid()));
        }
        let s = unique_string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 52);
        assert_eq!(s.len(), 52);
        assert!(s.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }
}
