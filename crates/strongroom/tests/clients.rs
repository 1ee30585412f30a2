//! Other real clients against the server: the AWS Encryption SDK for Python and the aws CLI's KMS commands.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn aws_encryption_sdk_for_python_round_trips_through_our_kms() {
    let s = Server::start();
    let key = s.kms(s.root()).create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let out = python(&s, "esdk_round_trip.py", &[&arn]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["round_trip"], true);
    assert_eq!(v["ciphertext_differs"], true);
    assert_eq!(v["context_kept"], true);
    assert_eq!(v["data_keys"], serde_json::json!([arn]));
    // The SDK's GenerateDataKey and Decrypt went through our KMS and its trail.
    let events = s.cloudtrail(s.root()).lookup_events().send().await.unwrap();
    let names: Vec<&str> = events.events().iter().filter_map(|e| e.event_name()).collect();
    assert!(
        names.contains(&"GenerateDataKey") && names.contains(&"Decrypt"),
        "{names:?}"
    );
}

fn aws(s: &Server, args: &[&str]) -> serde_json::Value {
    let out = aws_cli(s, args);
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout).expect("aws CLI JSON output")
    }
}

/// The README's KMS walk-through, step by step.
#[test]
fn aws_cli_kms_walkthrough() {
    let s = Server::start();
    let key = aws(&s, &["kms", "create-key", "--description", "walkthrough"]);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    aws(
        &s,
        &[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/walkthrough",
            "--target-key-id",
            &key_id,
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let pt = dir.path().join("pt");
    std::fs::write(&pt, b"hello").unwrap();
    let enc = aws(
        &s,
        &[
            "kms",
            "encrypt",
            "--key-id",
            "alias/walkthrough",
            "--plaintext",
            &format!("fileb://{}", pt.display()),
            "--encryption-context",
            "purpose=demo",
        ],
    );
    let ct_path = dir.path().join("ct");
    use base64::Engine;
    let ct = base64::engine::general_purpose::STANDARD
        .decode(enc["CiphertextBlob"].as_str().unwrap())
        .unwrap();
    std::fs::write(&ct_path, ct).unwrap();
    let dec = aws(
        &s,
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", ct_path.display()),
            "--encryption-context",
            "purpose=demo",
        ],
    );
    let plain = base64::engine::general_purpose::STANDARD
        .decode(dec["Plaintext"].as_str().unwrap())
        .unwrap();
    assert_eq!(plain, b"hello");
    let grant = aws(
        &s,
        &[
            "kms",
            "create-grant",
            "--key-id",
            &key_id,
            "--grantee-principal",
            &format!("arn:aws:iam::{ACCOUNT}:user/someone"),
            "--operations",
            "Decrypt",
        ],
    );
    assert_eq!(grant["GrantId"].as_str().unwrap().len(), 64);
    aws(&s, &["kms", "disable-key", "--key-id", &key_id]);
    let d = aws(&s, &["kms", "describe-key", "--key-id", "alias/walkthrough"]);
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
    let events = aws(
        &s,
        &[
            "cloudtrail",
            "lookup-events",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=DisableKey",
        ],
    );
    assert_eq!(events["Events"].as_array().unwrap().len(), 1);
}
