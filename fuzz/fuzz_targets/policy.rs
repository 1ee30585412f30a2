//! The policy parser and evaluator on arbitrary text: never panics, and evaluation of whatever parses
//! terminates.
#![no_main]
use libfuzzer_sys::fuzz_target;

use iam::policy::{ConditionKeys, Policy, PolicyKind, RequestContext};
use iam::Principal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::parse(text) else { return };
    let _ = policy.validate_identity();
    let _ = policy.validate_resource();
    let principal = Principal::User {
        account: "111122223333".into(),
        name: "fuzz".into(),
        path: "/".into(),
        user_id: "AIDAFUZZ".into(),
    };
    let mut keys = ConditionKeys::new();
    keys.set("kms:ViaService", "dynamodb.us-east-1.amazonaws.com")
        .set("aws:SourceIp", "127.0.0.1")
        .set("aws:CurrentTime", "2026-12-01T00:00:00Z")
        .set_many("kms:EncryptionContextKeys", vec!["a".into(), "b".into()]);
    for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
        let ctx = RequestContext {
            principal: &principal,
            action: "kms:Decrypt",
            resource: "arn:aws:kms:us-east-1:111122223333:key/x",
            keys: &keys,
        };
        let _ = policy.evaluate(kind, &ctx);
    }
});
