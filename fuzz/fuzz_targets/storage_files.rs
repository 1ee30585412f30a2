//! The storage decoders on arbitrary bytes, as they would meet a damaged or hostile file after its
//! authentication passed (or before it is checked): WAL batches, SST data blocks, manifests, the key
//! registry. Never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            if let Ok((seq, batch)) = storage::batch::decode(rest, "fuzz") {
                // What decodes re-encodes to the same bytes.
                assert_eq!(storage::batch::encode(seq, &batch), rest);
            }
        }
        1 => {
            let _ = storage::sst::decode_block(rest, "fuzz");
        }
        2 => {
            if let Ok(m) = storage::manifest::decode(rest, "fuzz") {
                let _ = storage::manifest::encode(&m);
            }
        }
        _ => {
            let _ = storage::keys::parse(rest);
        }
    }
});
