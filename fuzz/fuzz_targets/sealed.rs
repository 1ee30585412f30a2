//! Opening arbitrary bytes as a sealed document: an error, never a panic, never plaintext.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = base::RootKey::from_bytes(&[7u8; 32]).expect("key");
    assert!(key.open(b"strongroom/identities/v1", data).is_err());
});
