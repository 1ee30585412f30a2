//! Block payload codecs: what a sealed block holds is `codec u8 || payload`, compressed before sealing
//! (ciphertext does not compress).

use crate::error::{Result, StorageError};

const RAW: u8 = 0;
const LZ4: u8 = 1;
/// A block never expands past this when decompressed; anything claiming more is corrupt.
const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// LZ4 when it saves at least an eighth, raw otherwise.
pub fn compress(plain: &[u8]) -> Vec<u8> {
    if let Some(c) = lz4_if_it_pays(plain) {
        return c;
    }
    let mut out = Vec::with_capacity(plain.len() + 1);
    out.push(RAW);
    out.extend_from_slice(plain);
    out
}

/// The LZ4 block of `plain`, if it saves at least an eighth.
fn lz4_if_it_pays(plain: &[u8]) -> Option<Vec<u8>> {
    if plain.len() < 64 {
        return None;
    }
    let c = lz4_flex::block::compress_prepend_size(plain);
    if c.len() + c.len() / 8 >= plain.len() {
        return None;
    }
    let mut out = Vec::with_capacity(c.len() + 1);
    out.push(LZ4);
    out.extend_from_slice(&c);
    Some(out)
}

/// Compression for a stream of blocks that stops trying on data that does not compress (random or
/// already-compressed values), retrying now and then in case the data changes.
#[derive(Default)]
pub struct Adaptive {
    misses: u32,
    skipped: u32,
}

impl Adaptive {
    const GIVE_UP_AFTER: u32 = 4;
    const RETRY_EVERY: u32 = 32;

    /// `framed` is one byte of room for the codec, then the plaintext; the result is a block. Raw blocks
    /// are `framed` itself with its first byte set, so a block that does not compress is never copied.
    pub fn frame(&mut self, mut framed: Vec<u8>) -> Vec<u8> {
        if framed.is_empty() {
            return vec![RAW];
        }
        let skip = self.misses >= Self::GIVE_UP_AFTER && self.skipped < Self::RETRY_EVERY;
        if skip {
            self.skipped += 1;
        } else {
            self.skipped = 0;
            if let Some(c) = lz4_if_it_pays(&framed[1..]) {
                self.misses = 0;
                return c;
            }
            self.misses = self.misses.saturating_add(1);
        }
        framed[0] = RAW;
        framed
    }
}

/// A block's plaintext in a buffer of its own, and where in it the plaintext starts: a raw block (most data
/// blocks of incompressible values) keeps the buffer it came in, past its codec byte, so reading one copies
/// nothing.
pub fn into_payload(block: Vec<u8>, file: &str) -> Result<(Vec<u8>, usize)> {
    if block.first() == Some(&RAW) {
        return Ok((block, 1));
    }
    decompress(&block, file).map(|plain| (plain, 0))
}

pub fn decompress(block: &[u8], file: &str) -> Result<Vec<u8>> {
    match block.split_first() {
        Some((&RAW, rest)) => Ok(rest.to_vec()),
        Some((&LZ4, rest)) => {
            if rest.len() < 4 {
                return Err(StorageError::corrupt(file, "block", "truncated compressed block"));
            }
            let declared = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if declared > MAX_DECOMPRESSED {
                return Err(StorageError::corrupt(
                    file,
                    "block",
                    "compressed block claims an impossible size",
                ));
            }
            lz4_flex::block::decompress_size_prepended(rest)
                .map_err(|e| StorageError::corrupt(file, "block", format!("bad compressed block: {e}")))
        }
        Some((other, _)) => Err(StorageError::corrupt(file, "block", format!("unknown codec {other}"))),
        None => Err(StorageError::corrupt(file, "block", "empty block")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compressible_blocks_shrink() {
        let plain = vec![b'a'; 4096];
        let c = compress(&plain);
        assert!(c.len() < 200);
        assert_eq!(decompress(&c, "t").unwrap(), plain);
    }

    proptest! {
        #[test]
        fn round_trips(plain in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(decompress(&compress(&plain), "t").unwrap(), plain);
        }

        #[test]
        fn framed_blocks_round_trip(blocks in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..3000), any::<bool>()), 1..50)) {
            // Runs of compressible and random blocks drive the adaptive codec through giving up and retrying.
            let mut codec = Adaptive::default();
            for (plain, repeat) in blocks {
                let plain = if repeat { plain.iter().flat_map(|b| [*b; 8]).collect() } else { plain };
                let mut framed = vec![0xAA];
                framed.extend_from_slice(&plain);
                prop_assert_eq!(decompress(&codec.frame(framed), "t").unwrap(), plain);
            }
        }

        #[test]
        fn into_payload_reads_as_decompress(plain in proptest::collection::vec(any::<u8>(), 0..3000), repeat in any::<bool>()) {
            let plain: Vec<u8> = if repeat { plain.iter().flat_map(|b| [*b; 8]).collect() } else { plain };
            let block = compress(&plain);
            let (buf, start) = into_payload(block, "t").unwrap();
            prop_assert_eq!(&buf[start..], &plain[..]);
        }

        #[test]
        fn decompress_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decompress(&raw, "t");
        }
    }
}
