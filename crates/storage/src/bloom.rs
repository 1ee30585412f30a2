//! Bloom filters over an SST's keys, so a point read skips files that cannot hold the key.
//!
//! The hash is defined here (FNV-1a, then a splitmix64 finish) so filters written by one build read the
//! same in every later one.

const BITS_PER_KEY: usize = 10;
const PROBES: u32 = 7;

fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A key's hash, as the filters probe it. A point read computes it once and hands it to every table it
/// consults, whose filter and row cache both use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub u64);

impl KeyHash {
    pub fn of(key: &[u8]) -> KeyHash {
        KeyHash(hash(key))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    bits: Vec<u8>,
}

impl Bloom {
    pub fn build<'a>(keys: impl Iterator<Item = &'a [u8]>, count: usize) -> Bloom {
        let nbits = (count * BITS_PER_KEY).max(64);
        let mut bits = vec![0u8; nbits.div_ceil(8)];
        let nbits = bits.len() * 8;
        for k in keys {
            let h = hash(k);
            let (h1, h2) = (h as u32, (h >> 32) as u32 | 1);
            for i in 0..PROBES {
                let bit = (h1.wrapping_add(i.wrapping_mul(h2)) as usize) % nbits;
                bits[bit / 8] |= 1 << (bit % 8);
            }
        }
        Bloom { bits }
    }

    pub fn from_bytes(bits: Vec<u8>) -> Bloom {
        Bloom { bits }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// False means the key is certainly absent.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(KeyHash::of(key))
    }

    /// [`Bloom::may_contain`] for a key whose hash is already known.
    pub fn may_contain_hash(&self, KeyHash(h): KeyHash) -> bool {
        let nbits = self.bits.len() * 8;
        if nbits == 0 {
            return true;
        }
        let (h1, h2) = (h as u32, (h >> 32) as u32 | 1);
        (0..PROBES).all(|i| {
            let bit = (h1.wrapping_add(i.wrapping_mul(h2)) as usize) % nbits;
            self.bits[bit / 8] & (1 << (bit % 8)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<Vec<u8>> = (0..10_000).map(|i| format!("key-{i}").into_bytes()).collect();
        let b = Bloom::build(keys.iter().map(|k| k.as_slice()), keys.len());
        assert!(keys.iter().all(|k| b.may_contain(k)));
        let false_positives = (0..10_000)
            .filter(|i| b.may_contain(format!("other-{i}").as_bytes()))
            .count();
        assert!(false_positives < 300, "{false_positives} false positives in 10000");
    }
}
