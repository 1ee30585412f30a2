//! The ciphertext-blob parser on arbitrary bytes: never panics, and whatever parses re-encodes to the
//! same header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(b) = kms::blob::parse(data) {
        let header = kms::blob::header(b.account, b.key_id, b.version).expect("a parsed header re-encodes");
        assert_eq!(header.as_slice(), b.header);
        assert_eq!(b.sealed.len(), data.len() - kms::blob::HEADER_LEN - kms::blob::NONCE_LEN);
    }
});
