//! The audit trail: every KMS call as a CloudTrail record, LookupEvents, and `strongroom trail verify`.

mod common;

use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_kms::primitives::Blob;
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn kms_calls_are_recorded_and_looked_up() {
    let s = Server::start();
    let kms = s.kms(s.root());
    let key = new_key_arn(&kms).await;
    let eve = s.user("eve", None).await;
    kms.encrypt()
        .key_id(&key)
        .plaintext(Blob::new("MARKER-AUDITED-PLAINTEXT"))
        .encryption_context("aws:dynamodb:tableName", "Books")
        .send()
        .await
        .unwrap();
    let _ = s
        .kms(eve)
        .decrypt()
        .ciphertext_blob(Blob::new(vec![1u8; 80]))
        .key_id(&key)
        .send()
        .await;
    let _ = s
        .kms(s.user("mallory", None).await)
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await;

    let ct = s.cloudtrail(s.root());
    let out = ct
        .lookup_events()
        .lookup_attributes(
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::EventName)
                .attribute_value("Encrypt")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.events().len(), 2, "the allowed and the refused Encrypt");
    let newest = &out.events()[0];
    assert_eq!(newest.username(), Some("mallory"));
    let record: Value = serde_json::from_str(newest.cloud_trail_event().unwrap()).unwrap();
    assert_eq!(record["errorCode"], "AccessDeniedException");
    assert_eq!(record["userIdentity"]["type"], "IAMUser");
    assert_eq!(record["userIdentity"]["userName"], "mallory");

    let allowed = &out.events()[1];
    assert_eq!(allowed.username(), Some("root"));
    assert_eq!(allowed.read_only(), Some("true"));
    assert_eq!(allowed.event_source(), Some("kms.amazonaws.com"));
    assert!(allowed.event_time().is_some());
    assert_eq!(allowed.resources()[0].resource_name(), Some(key.as_str()));
    assert_eq!(allowed.resources()[0].resource_type(), Some("AWS::KMS::Key"));
    let record: Value = serde_json::from_str(allowed.cloud_trail_event().unwrap()).unwrap();
    assert_eq!(record["eventVersion"], "1.08");
    assert_eq!(record["eventSource"], "kms.amazonaws.com");
    assert_eq!(record["awsRegion"], REGION);
    assert_eq!(record["recipientAccountId"], ACCOUNT);
    assert_eq!(record["eventType"], "AwsApiCall");
    assert_eq!(record["readOnly"], true);
    assert_eq!(record["userIdentity"]["type"], "Root");
    assert_eq!(record["userIdentity"]["accessKeyId"], ROOT_KEY_ID);
    assert_eq!(
        record["requestParameters"]["encryptionContext"]["aws:dynamodb:tableName"],
        "Books"
    );
    assert_eq!(record["requestParameters"]["keyId"], key);
    assert_eq!(record["resources"][0]["ARN"], key);
    assert_eq!(record["responseElements"], Value::Null);
    assert!(!newest.cloud_trail_event().unwrap().contains("MARKER-AUDITED-PLAINTEXT"));

    // A resource's history, newest first, a page at a time.
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = ct
            .lookup_events()
            .lookup_attributes(
                LookupAttribute::builder()
                    .attribute_key(LookupAttributeKey::ResourceName)
                    .attribute_value(&key)
                    .build()
                    .unwrap(),
            )
            .max_results(1)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        names.extend(page.events().iter().map(|e| e.event_name().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["Encrypt", "Decrypt", "Encrypt", "CreateKey"]);

    let err = ct.lookup_events().max_results(51).send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidMaxResultsException"));
    let err = ct
        .lookup_events()
        .start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(2_000_000_000))
        .end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(1_000_000_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidTimeRangeException"));
    s.assert_not_at_rest("MARKER-AUDITED-PLAINTEXT");
    s.assert_not_at_rest("aws:dynamodb:tableName");
}

#[tokio::test(flavor = "multi_thread")]
async fn trail_verify_detects_tampering() {
    let mut s = Server::start();
    let kms = s.kms(s.root());
    for _ in 0..3 {
        kms.create_key().send().await.unwrap();
    }
    // A restart (SIGKILL) keeps what was synced; wait for the one-second sync first.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    s.restart();
    let found = s.cloudtrail(s.root()).lookup_events().send().await.unwrap();
    assert_eq!(found.events().len(), 3);
    drop(s.kms(s.root()));
    let verify = |dir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args(["trail", "verify", "--data-dir"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let ok = verify(&s.data_dir);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("3 records"));

    let log = s.data_dir.join("trail/events.log");
    let mut raw = std::fs::read(&log).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 0x01;
    std::fs::write(&log, &raw).unwrap();
    let bad = verify(&s.data_dir);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("trail damaged"));
}
