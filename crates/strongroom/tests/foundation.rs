//! Issue 2: one port, SigV4, accounts, IAM and STS, driven by the official AWS SDK for Rust.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_request_succeeds_and_carries_request_id_and_crc32() {
    let s = Server::start();
    let out = s.dynamodb(s.root()).list_tables().send().await.expect("ListTables");
    assert!(out.table_names().is_empty());

    let (status, headers, body) = Signed::root().post(&s.url, &[DDB_JSON, LIST_TABLES], b"{}").await;
    assert_eq!(status, 200);
    assert_eq!(body, br#"{"TableNames":[]}"#);
    let crc: u32 = headers["x-amz-crc32"].to_str().unwrap().parse().unwrap();
    assert_eq!(crc, crc32fast::hash(&body));
    assert_eq!(headers["x-amzn-requestid"].len(), 52);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_signature_failure_gets_its_aws_error() {
    let s = Server::start();
    let list = [DDB_JSON, LIST_TABLES];

    // Missing: no Authorization header at all.
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", s.url))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.ListTables")
        .body(b"{}".to_vec())
        .unwrap();
    let (status, headers, body) = send(req).await;
    assert_eq!(status, 400);
    assert_eq!(
        json_error(&body),
        (
            "com.amazon.coral.service#MissingAuthenticationTokenException".into(),
            "Request is missing Authentication Token".into()
        )
    );
    assert_eq!(
        headers["x-amz-crc32"].to_str().unwrap().parse::<u32>().unwrap(),
        crc32fast::hash(&body)
    );

    // Malformed: an Authorization header without its parts.
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", s.url))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.ListTables")
        .header("x-amz-date", "20261201T000000Z")
        .header("authorization", "AWS4-HMAC-SHA256 garbage")
        .body(b"{}".to_vec())
        .unwrap();
    let (_, _, body) = send(req).await;
    let (ty, msg) = json_error(&body);
    assert_eq!(ty, "com.amazon.coral.service#IncompleteSignatureException");
    assert!(
        msg.starts_with("Authorization header requires 'Credential' parameter."),
        "{msg}"
    );

    // Expired: signed 20 minutes ago.
    let old = Signed {
        time: SystemTime::now() - Duration::from_secs(20 * 60),
        ..Signed::root()
    };
    let (_, _, body) = old.post(&s.url, &list, b"{}").await;
    let (ty, msg) = json_error(&body);
    assert_eq!(ty, "com.amazon.coral.service#InvalidSignatureException");
    assert!(msg.starts_with("Signature expired: "), "{msg}");

    // Wrong secret.
    let wrong = Signed {
        secret: "not-the-secret".into(),
        ..Signed::root()
    };
    let (_, _, body) = wrong.post(&s.url, &list, b"{}").await;
    let (ty, msg) = json_error(&body);
    assert_eq!(ty, "com.amazon.coral.service#InvalidSignatureException");
    assert!(
        msg.starts_with("The request signature we calculated does not match"),
        "{msg}"
    );

    // Unknown access key.
    let unknown = Signed {
        key_id: "AKIANOBODY0000000000".into(),
        ..Signed::root()
    };
    let (_, _, body) = unknown.post(&s.url, &list, b"{}").await;
    assert_eq!(
        json_error(&body),
        (
            "com.amazon.coral.service#UnrecognizedClientException".into(),
            "The security token included in the request is invalid.".into()
        )
    );

    // Wrong region scope.
    let region = Signed {
        region: "moon".into(),
        ..Signed::root()
    };
    let (_, _, body) = region.post(&s.url, &list, b"{}").await;
    assert_eq!(
        json_error(&body),
        (
            "com.amazon.coral.service#InvalidSignatureException".into(),
            "Credential should be scoped to a valid region, not 'moon'. ".into()
        )
    );

    // Wrong service scope.
    let service = Signed {
        service: "kms".into(),
        ..Signed::root()
    };
    let (_, _, body) = service.post(&s.url, &list, b"{}").await;
    assert_eq!(
        json_error(&body),
        (
            "com.amazon.coral.service#InvalidSignatureException".into(),
            "Credential should be scoped to correct service: 'dynamodb'. ".into()
        )
    );

    // The same failures through the SDK surface as its typed errors.
    let err = s
        .dynamodb(creds(ROOT_KEY_ID, "bad-secret", None))
        .list_tables()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_and_unknown_targets_get_aws_errors() {
    let s = Server::start();
    let signer = Signed::root();
    let (status, _, body) = signer.post(&s.url, &[DDB_JSON, LIST_TABLES], b"{not json").await;
    assert_eq!(status, 400);
    assert_eq!(json_error(&body).0, "com.amazon.coral.service#SerializationException");

    let (status, _, body) = signer
        .post(&s.url, &[DDB_JSON, LIST_TABLES], br#"{"Limit":"ten"}"#)
        .await;
    assert_eq!(status, 400);
    assert_eq!(json_error(&body).0, "com.amazon.coral.service#SerializationException");

    let (status, _, body) = signer.post(&s.url, &[DDB_JSON, LIST_TABLES], br#"{"Limit":0}"#).await;
    assert_eq!(status, 400);
    assert_eq!(
        json_error(&body),
        (
            "com.amazon.coral.validate#ValidationException".into(),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1".into()
        )
    );

    let (status, _, body) = signer
        .post(
            &s.url,
            &[DDB_JSON, ("x-amz-target", "DynamoDB_20120810.NoSuchThing")],
            b"{}",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        json_error(&body).0,
        "com.amazon.coral.service#UnknownOperationException"
    );

    // A body over 16 MiB is refused before it is read.
    let big = vec![b' '; 16 * 1024 * 1024 + 1];
    let (status, _, _) = signer.post(&s.url, &[DDB_JSON, LIST_TABLES], &big).await;
    assert_eq!(status, 413);

    // Not POST, or no target: dynalite's answer.
    let req = http::Request::builder()
        .method("PUT")
        .uri(format!("{}/", s.url))
        .body(Vec::new())
        .unwrap();
    assert_eq!(send(req).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_liveness_answer_without_credentials() {
    let s = Server::start();
    let r = reqwest::get(format!("{}/health", s.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{}/", s.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        format!("healthy: dynamodb.{REGION}.amazonaws.com ")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_user_is_denied_without_a_policy_and_allowed_with_one() {
    let s = Server::start();
    let iam = s.iam(s.root());
    iam.create_user().user_name("alice").send().await.unwrap();
    let key = iam.create_access_key().user_name("alice").send().await.unwrap();
    let key = key.access_key().unwrap();
    let alice = creds(key.access_key_id(), key.secret_access_key(), None);

    let err = s.dynamodb(alice.clone()).list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(
        err.message(),
        Some(
            format!(
                "User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: dynamodb:ListTables on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/* because no identity-based policy allows the dynamodb:ListTables action"
            )
            .as_str()
        )
    );

    iam.put_user_policy()
        .user_name("alice")
        .policy_name("list")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:List*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    s.dynamodb(alice.clone())
        .list_tables()
        .send()
        .await
        .expect("allowed by the inline policy");

    // An explicit deny in an attached managed policy wins over the allow.
    let deny = iam
        .create_policy()
        .policy_name("no-dynamodb")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"dynamodb:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let deny_arn = deny.policy().unwrap().arn().unwrap().to_owned();
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn(&deny_arn)
        .send()
        .await
        .unwrap();
    let err = s.dynamodb(alice.clone()).list_tables().send().await.unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .ends_with("with an explicit deny in an identity-based policy"),
        "{err:?}"
    );

    // Alice may not manage IAM either.
    let err = s
        .iam(alice)
        .create_user()
        .user_name("mallory")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
}

/// Conditions in identity policies read the request's keys (the principal's and the global ones), which
/// are gathered only when some policy of the caller has a condition.
#[tokio::test(flavor = "multi_thread")]
async fn identity_policy_conditions_see_the_principal_and_the_clock() {
    let s = Server::start();
    let erin = s
        .user(
            "erin",
            Some(
                r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*",
                 "Condition":{"StringEquals":{"aws:username":"erin"},"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}},
                {"Effect":"Allow","Action":"dynamodb:ListBackups","Resource":"*",
                 "Condition":{"StringEquals":{"aws:username":"someone-else"}}},
                {"Effect":"Allow","Action":"dynamodb:DescribeLimits","Resource":"*"},
                {"Effect":"Deny","Action":"dynamodb:DescribeLimits","Resource":"*",
                 "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
            ),
        )
        .await;
    let ddb = s.dynamodb(erin);
    ddb.list_tables().send().await.expect("both conditions hold");
    let err = ddb.list_backups().send().await.unwrap_err();
    assert!(
        err.message()
            .unwrap_or_default()
            .ends_with("because no identity-based policy allows the dynamodb:ListBackups action"),
        "{err:?}"
    );
    let err = ddb.describe_limits().send().await.unwrap_err();
    assert!(
        err.message()
            .unwrap_or_default()
            .ends_with("with an explicit deny in an identity-based policy"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_operations_round_trip_with_aws_errors() {
    let s = Server::start();
    let iam = s.iam(s.root());
    iam.create_user().user_name("bob").path("/team/").send().await.unwrap();
    let err = iam.create_user().user_name("bob").send().await.unwrap_err();
    assert_eq!(err.code(), Some("EntityAlreadyExists"));
    assert_eq!(err.message(), Some("User with name bob already exists."));
    let err = iam.get_user().user_name("nobody").send().await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchEntity"));
    assert_eq!(err.message(), Some("The user with name nobody cannot be found."));
    let err = iam.create_user().user_name("bad name!").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));

    let user = iam.get_user().user_name("bob").send().await.unwrap();
    assert_eq!(
        user.user().unwrap().arn(),
        format!("arn:aws:iam::{ACCOUNT}:user/team/bob")
    );
    assert!(user.user().unwrap().user_id().starts_with("AIDA"));

    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
    iam.put_user_policy()
        .user_name("bob")
        .policy_name("p1")
        .policy_document(doc)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_user_policy()
        .user_name("bob")
        .policy_name("p1")
        .send()
        .await
        .unwrap();
    // IAM hands policy documents back URL-encoded, as AWS does.
    assert_eq!(percent_decode(got.policy_document()), doc);
    let names = iam.list_user_policies().user_name("bob").send().await.unwrap();
    assert_eq!(names.policy_names(), ["p1"]);
    let err = iam
        .put_user_policy()
        .user_name("bob")
        .policy_name("bad")
        .policy_document(r#"{"Statement":[{"Effect":"Allow","Action":"Encrypt","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MalformedPolicyDocument"));

    let key = iam.create_access_key().user_name("bob").send().await.unwrap();
    let key_id = key.access_key().unwrap().access_key_id().to_owned();
    assert!(key_id.starts_with("AKIA"));
    let keys = iam.list_access_keys().user_name("bob").send().await.unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);

    let err = iam.delete_user().user_name("bob").send().await.unwrap_err();
    assert_eq!(err.code(), Some("DeleteConflict"));
    iam.delete_access_key()
        .user_name("bob")
        .access_key_id(&key_id)
        .send()
        .await
        .unwrap();
    iam.delete_user_policy()
        .user_name("bob")
        .policy_name("p1")
        .send()
        .await
        .unwrap();

    let pol = iam
        .create_policy()
        .policy_name("managed")
        .policy_document(doc)
        .send()
        .await
        .unwrap();
    let arn = pol.policy().unwrap().arn().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:policy/managed"));
    iam.attach_user_policy()
        .user_name("bob")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let attached = iam.list_attached_user_policies().user_name("bob").send().await.unwrap();
    assert_eq!(attached.attached_policies()[0].policy_arn(), Some(arn.as_str()));
    let got = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(got.policy().unwrap().attachment_count(), Some(1));
    let err = iam.delete_policy().policy_arn(&arn).send().await.unwrap_err();
    assert_eq!(err.code(), Some("DeleteConflict"));
    iam.detach_user_policy()
        .user_name("bob")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    iam.delete_policy().policy_arn(&arn).send().await.unwrap();
    iam.delete_user().user_name("bob").send().await.unwrap();

    // AWS managed policies attach by their well-known ARNs.
    iam.create_role()
        .role_name("r")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("r")
        .policy_arn("arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess")
        .send()
        .await
        .unwrap();
    let err = iam.delete_role().role_name("r").send().await.unwrap_err();
    assert_eq!(err.code(), Some("DeleteConflict"));

    // Pagination with MaxItems/Marker.
    for i in 0..5 {
        iam.create_user().user_name(format!("u{i}")).send().await.unwrap();
    }
    let first = iam.list_users().max_items(2).send().await.unwrap();
    assert_eq!(first.users().len(), 2);
    assert!(first.is_truncated());
    let mut seen: Vec<String> = first.users().iter().map(|u| u.user_name().to_owned()).collect();
    let mut marker = first.marker().map(str::to_owned);
    while let Some(m) = marker {
        let page = iam.list_users().max_items(2).marker(m).send().await.unwrap();
        seen.extend(page.users().iter().map(|u| u.user_name().to_owned()));
        marker = page.marker().map(str::to_owned);
    }
    assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn assume_role_yields_working_temporary_credentials() {
    let s = Server::start();
    let iam = s.iam(s.root());
    iam.create_user().user_name("carol").send().await.unwrap();
    let key = iam.create_access_key().user_name("carol").send().await.unwrap();
    let key = key.access_key().unwrap();
    let carol = creds(key.access_key_id(), key.secret_access_key(), None);
    iam.create_role()
        .role_name("Admin")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/carol"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("Admin")
        .policy_name("ddb")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    let out = s
        .sts(carol.clone())
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Admin"))
        .role_session_name("user01")
        .send()
        .await
        .expect("AssumeRole");
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let session = creds(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
    );
    let who = s.sts(session.clone()).get_caller_identity().send().await.unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/user01").as_str())
    );
    assert_eq!(who.account(), Some(ACCOUNT));
    assert!(who.user_id().unwrap().ends_with(":user01"));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/user01")
    );

    // The session acts with the role's policies.
    s.dynamodb(session.clone())
        .list_tables()
        .send()
        .await
        .expect("role policy allows ListTables");

    // A wrong or missing session token is refused.
    let no_token = creds(c.access_key_id(), c.secret_access_key(), None);
    let err = s.sts(no_token).get_caller_identity().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));

    // The trust policy decides who may assume.
    iam.create_user().user_name("dave").send().await.unwrap();
    let k = iam.create_access_key().user_name("dave").send().await.unwrap();
    let k = k.access_key().unwrap();
    let err = s
        .sts(creds(k.access_key_id(), k.secret_access_key(), None))
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Admin"))
        .role_session_name("x1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
    assert_eq!(
        err.message(),
        Some(format!("User: arn:aws:iam::{ACCOUNT}:user/dave is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{ACCOUNT}:role/Admin").as_str())
    );

    // The root user may not assume roles; longer than the role allows is refused.
    let err = s
        .sts(s.root())
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Admin"))
        .role_session_name("x1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.message(), Some("Roles may not be assumed by root accounts."));
    let err = s
        .sts(carol)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Admin"))
        .role_session_name("x1")
        .duration_seconds(7200)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));
}

#[tokio::test(flavor = "multi_thread")]
async fn state_survives_a_restart_and_stays_sealed() {
    let mut s = Server::start();
    let iam = s.iam(s.root());
    iam.create_user().user_name("MARKERUSERNAME").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("MARKERUSERNAME")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let (id, secret) = (key.access_key_id().to_owned(), key.secret_access_key().to_owned());
    iam.put_user_policy()
        .user_name("MARKERUSERNAME")
        .policy_name("MARKERPOLICY")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    s.restart();
    s.dynamodb(creds(&id, &secret, None))
        .list_tables()
        .send()
        .await
        .expect("key and policy survive");
    let user = s
        .iam(s.root())
        .get_user()
        .user_name("MARKERUSERNAME")
        .send()
        .await
        .unwrap();
    assert_eq!(user.user().unwrap().user_name(), "MARKERUSERNAME");

    for marker in [secret.as_str(), "MARKERUSERNAME", "MARKERPOLICY", ROOT_SECRET] {
        s.assert_not_at_rest(marker);
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.data_dir.join("root.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn regions_are_separate_namespaces_and_any_valid_region_works() {
    let s = Server::start();
    for region in ["eu-central-1", "ap-southeast-2", "us-gov-west-1"] {
        s.dynamodb_in(s.root(), region)
            .list_tables()
            .send()
            .await
            .expect(region);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_root_credentials_are_printed_once_kept_sealed_and_printed_again() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("STRONGROOM_ROOT_ACCESS_KEY_ID")
        .env_remove("STRONGROOM_ROOT_SECRET_ACCESS_KEY")
        .env("STRONGROOM_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut id, mut secret, mut url) = (String::new(), String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(v) = line.trim().strip_prefix("export AWS_ACCESS_KEY_ID=") {
            id = v.to_owned();
        } else if let Some(v) = line.trim().strip_prefix("export AWS_SECRET_ACCESS_KEY=") {
            secret = v.to_owned();
        } else if let Some(v) = line.strip_prefix("strongroom listening on ") {
            url = v.to_owned();
            break;
        }
    }
    assert!(
        id.starts_with("AKIA") && secret.len() == 40,
        "credentials printed at first start"
    );
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(creds(&id, &secret, None))
        .build();
    let who = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some("arn:aws:iam::000000000000:root"));
    let _ = child.kill();
    let _ = child.wait();

    let again = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["root-credentials", "--data-dir"])
        .arg(dir.path())
        .env_remove("STRONGROOM_ROOT_ACCESS_KEY_ID")
        .env_remove("STRONGROOM_ROOT_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains(&format!("AWS_ACCESS_KEY_ID={id}")) && text.contains(&format!("AWS_SECRET_ACCESS_KEY={secret}"))
    );
    for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if f.path().is_file() {
            let bytes = std::fs::read(f.path()).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret in {:?}",
                f.path()
            );
        }
    }
}

async fn metrics_page(srv: &Server) -> String {
    reqwest::get(format!("{}/metrics", srv.url))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics page")
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_only_when_asked_for() {
    let plain = Server::start();
    let status = reqwest::get(format!("{}/metrics", plain.url)).await.unwrap().status();
    assert_eq!(status.as_u16(), 404, "no metrics unless --metrics");

    let srv = Server::start_with(&["--metrics"]);
    let db = srv.dynamodb(srv.root());
    create_table(
        &db,
        "Counted",
        ("id", aws_sdk_dynamodb::types::ScalarAttributeType::S),
        None,
    )
    .await;
    for i in 0..3 {
        db.put_item()
            .table_name("Counted")
            .item("id", s(&format!("k{i}")))
            .send()
            .await
            .unwrap();
    }
    let _ = db.get_item().table_name("Nope").key("id", s("k")).send().await;
    let text = metrics_page(&srv).await;
    assert!(
        text.contains("strongroom_requests_total{api=\"dynamodb\",operation=\"PutItem\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("strongroom_request_errors_total{api=\"dynamodb\",operation=\"GetItem\"} 1"),
        "{text}"
    );
    assert!(text.contains("strongroom_request_duration_seconds_count{api=\"dynamodb\",operation=\"PutItem\"} 3"));
    assert!(text.contains("strongroom_disk_bytes{part=\"dynamodb/tables\"}"));
    assert!(text.contains("# TYPE strongroom_table_key_cache_hits_total counter"));
    // Every put was one group commit of the table's log at least.
    let value = |name: &str| -> f64 {
        let prefix = format!("{name} ");
        let line = text.lines().find_map(|l| l.strip_prefix(prefix.as_str()));
        line.unwrap_or_else(|| panic!("no {name} in {text}")).parse().unwrap()
    };
    let wal_fsyncs = value("strongroom_wal_fsyncs_total");
    assert!(wal_fsyncs >= 3.0, "{wal_fsyncs}");
    assert!(text.contains("# TYPE strongroom_storage_compactions_total counter"));
    assert!(text.contains("# TYPE strongroom_storage_flushes_total counter"));
    // The three items wait in the table's memtable, under the default write-buffer bound of 256 MiB.
    let memtable = value("strongroom_memtable_bytes");
    assert!(memtable > 0.0, "{memtable}");
    assert!(text.contains("strongroom_memtable_limit_bytes 268435456"));
    // Rows are cached from table files only: none yet, with everything in the memtable.
    assert!(text.contains("# TYPE strongroom_row_cache_hits_total counter"));
    assert_eq!(value("strongroom_row_cache_bytes"), 0.0);
    // KMS calls by caller and key: the root's CreateKey and Encrypt on the key.
    let kms = srv.kms(srv.root());
    let key = new_key_arn(&kms).await;
    kms.encrypt()
        .key_id(&key)
        .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap();
    let text = metrics_page(&srv).await;
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    assert!(
        text.contains(&format!(
            "strongroom_kms_calls_total{{caller=\"{root}\",key=\"{key}\"}} 2"
        )),
        "{text}"
    );
}

#[test]
fn connections_past_the_bound_wait_until_one_closes() {
    use std::io::{Read, Write};
    let s = Server::start_with(&["--max-connections", "2", "--metrics"]);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let health = b"GET /health HTTP/1.1\r\nhost: strongroom\r\n\r\n";
    // Reads one answer's head (the health answer is small and arrives whole).
    let answer = |c: &mut std::net::TcpStream| -> Option<String> {
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    };
    let open = || {
        let c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
        c
    };
    let mut first = open();
    let mut second = open();
    for c in [&mut first, &mut second] {
        c.write_all(health).unwrap();
        assert!(answer(c).unwrap().starts_with("HTTP/1.1 200"));
    }
    // Both kept alive: a third connection is queued, not served and not refused.
    let mut third = open();
    third.write_all(health).unwrap();
    assert_eq!(answer(&mut third), None, "served past the bound");
    drop(first);
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(answer(&mut third).unwrap().starts_with("HTTP/1.1 200"));
    // The metrics page counts what is open (second and third).
    second
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: strongroom\r\n\r\n")
        .unwrap();
    second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut page = String::new();
    while !page.contains("strongroom_connections_open 2") {
        match answer(&mut second) {
            Some(more) => page.push_str(&more),
            None => panic!(
                "no open-connection count of 2 in {}",
                page.lines()
                    .filter(|l| l.contains("connections_open"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
        }
    }
}

/// A keep-alive connection that sends nothing for `--idle-connection-timeout` is closed, freeing its slot;
/// one in use is not.
#[test]
fn idle_connections_are_closed_and_their_slots_freed() {
    use std::io::{Read, Write};
    let s = Server::start_with(&["--max-connections", "2", "--idle-connection-timeout", "1s"]);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let health = b"GET /health HTTP/1.1\r\nhost: strongroom\r\n\r\n";
    let open = || {
        let c = std::net::TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    };
    let ask = |c: &mut std::net::TcpStream| {
        c.write_all(health).unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    };
    let mut idle = open();
    let mut busy = open();
    ask(&mut idle);
    ask(&mut busy);
    // Both slots taken; the busy one keeps asking, the idle one says nothing.
    let started = std::time::Instant::now();
    let mut queued = open();
    queued.write_all(health).unwrap();
    while started.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(300));
        ask(&mut busy);
    }
    // The idle one was closed by the server (end of stream), and the queued one was served in its slot.
    let mut buf = [0u8; 64];
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "the idle connection is still open");
    let n = queued.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    ask(&mut busy);
}
