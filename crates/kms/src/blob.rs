//! Our self-describing ciphertext blob for symmetric keys.
//!
//! ```text
//!  0       1        2              14                   50            54           58           70
//!  +-------+--------+--------------+--------------------+-------------+------------+------------+----------------+
//!  | 0xB1  | format | account (12) | key id (36 ASCII)  | version u32 | header CRC | nonce (12) | AES-GCM ct+tag |
//!  +-------+--------+--------------+--------------------+-------------+------------+------------+----------------+
//! ```
//!
//! The account and key id name the key (its region is the caller's: a blob from another region finds no
//! key). The CRC makes a damaged header an `InvalidCiphertextException` rather than a wrong key lookup; the
//! AES-GCM tag covers everything else: AAD = bytes 0..58 || the canonical encryption context.

use std::collections::BTreeMap;

pub const MAGIC: u8 = 0xB1;
pub const FORMAT_V1: u8 = 1;
pub const KEY_ID_LEN: usize = 36;
pub const ACCOUNT_LEN: usize = 12;
pub const HEADER_LEN: usize = 2 + ACCOUNT_LEN + KEY_ID_LEN + 4 + 4;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob<'a> {
    pub account: &'a str,
    pub key_id: &'a str,
    pub version: u32,
    /// Bytes 0..58, bound as AAD.
    pub header: &'a [u8],
    pub nonce: [u8; NONCE_LEN],
    pub sealed: &'a [u8],
}

/// Parses a blob's frame. `None` means "not one of ours, or damaged": InvalidCiphertextException.
pub fn parse(bytes: &[u8]) -> Option<Blob<'_>> {
    if bytes.len() < OVERHEAD || bytes[0] != MAGIC || bytes[1] != FORMAT_V1 {
        return None;
    }
    let crc = u32::from_be_bytes(bytes[54..58].try_into().ok()?);
    if crc32fast::hash(&bytes[..54]) != crc {
        return None;
    }
    let account = std::str::from_utf8(&bytes[2..14]).ok().filter(|a| valid_account(a))?;
    let key_id = std::str::from_utf8(&bytes[14..50]).ok().filter(|k| valid_key_id(k))?;
    let version = u32::from_be_bytes(bytes[50..54].try_into().ok()?);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&bytes[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
    Some(Blob {
        account,
        key_id,
        version,
        header: &bytes[..HEADER_LEN],
        nonce,
        sealed: &bytes[HEADER_LEN + NONCE_LEN..],
    })
}

fn valid_account(a: &str) -> bool {
    a.len() == ACCOUNT_LEN && a.bytes().all(|b| b.is_ascii_digit())
}

fn valid_key_id(k: &str) -> bool {
    k.len() == KEY_ID_LEN && k.bytes().all(|b| b.is_ascii_graphic())
}

/// The header of a new blob: a 12-digit account and a 36-character key id (a UUID or `mrk-` + 32 hex).
pub fn header(account: &str, key_id: &str, version: u32) -> Option<Vec<u8>> {
    if !valid_account(account) || !valid_key_id(key_id) {
        return None;
    }
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.push(MAGIC);
    h.push(FORMAT_V1);
    h.extend_from_slice(account.as_bytes());
    h.extend_from_slice(key_id.as_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_be_bytes());
    Some(h)
}

/// The encryption context as AAD: sorted pairs, each part length-prefixed, so no two contexts collide.
pub fn canonical_context(ec: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(ec.len() as u32).to_be_bytes());
    for (k, v) in ec {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const ACCT: &str = "111122223333";

    #[test]
    fn header_round_trips_and_a_flipped_header_bit_is_refused() {
        let mut blob = header(ACCT, ID, 7).unwrap();
        blob.extend_from_slice(&[9u8; NONCE_LEN + TAG_LEN + 5]);
        let b = parse(&blob).unwrap();
        assert_eq!((b.account, b.key_id, b.version), (ACCT, ID, 7));
        for i in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut c = blob.clone();
                c[i] ^= 1 << bit;
                assert!(parse(&c).is_none(), "flip at byte {i} bit {bit} accepted");
            }
        }
        assert!(parse(&blob[..OVERHEAD - 1]).is_none());
    }

    #[test]
    fn contexts_with_shifted_boundaries_differ() {
        let a: BTreeMap<String, String> = [("ab".to_string(), "c".to_string())].into();
        let b: BTreeMap<String, String> = [("a".to_string(), "bc".to_string())].into();
        assert_ne!(canonical_context(&a), canonical_context(&b));
    }

    /// Found by the `kms_blob` fuzz target: a valid CRC over a key id that is UTF-8 but not ASCII parsed,
    /// though no blob of ours can hold one.
    #[test]
    fn fuzz_regression_non_ascii_fields_are_refused() {
        let crash: &[u8] = &[
            177, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 117, 115, 204, 143, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 69, 199, 100, 239, 46,
            46, 46, 0, 117, 115, 87, 0, 0, 0, 0, 0, 0, 0, 204, 143, 5, 0, 91, 0, 0, 0, 137, 0, 0, 246, 246, 177, 246,
            246, 177, 214, 246, 246, 246, 246, 246, 246, 246, 246, 0, 0, 0, 0,
        ];
        assert!(parse(crash).is_none());
        // The same shape with ASCII fields and a right CRC still parses.
        let mut ok = header(ACCT, ID, 1).unwrap();
        ok.extend_from_slice(&[0u8; NONCE_LEN + TAG_LEN]);
        assert!(parse(&ok).is_some());
        let mut bad_account = header(ACCT, ID, 1).unwrap();
        bad_account[2] = b'x';
        let crc = crc32fast::hash(&bad_account[..54]);
        bad_account[54..58].copy_from_slice(&crc.to_be_bytes());
        bad_account.extend_from_slice(&[0u8; NONCE_LEN + TAG_LEN]);
        assert!(parse(&bad_account).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn any_version_round_trips(version in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 28..64)) {
            let mut blob = header(ACCT, ID, version).unwrap();
            blob.extend_from_slice(&body);
            let b = parse(&blob).unwrap();
            prop_assert_eq!(b.version, version);
            prop_assert_eq!(b.sealed.len(), body.len() - NONCE_LEN);
        }
    }
}
