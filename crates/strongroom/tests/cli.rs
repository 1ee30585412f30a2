//! The aws CLI against a real server, as the README shows it.

mod common;

use common::*;

fn aws(s: &Server, args: &[&str]) -> (bool, String, String) {
    let out = aws_cli(s, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn aws_cli_walkthrough() {
    let s = Server::start();
    let (ok, out, err) = aws(&s, &["sts", "get-caller-identity"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Arn"], format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(v["Account"], ACCOUNT);

    let (ok, out, err) = aws(&s, &["iam", "create-user", "--user-name", "cli-user"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["User"]["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/cli-user"));

    let (ok, _, err) = aws(&s, &["iam", "create-user", "--user-name", "cli-user"]);
    assert!(!ok);
    assert!(err.contains("(EntityAlreadyExists)"), "{err}");

    let (ok, out, err) = aws(&s, &["dynamodb", "list-tables"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["TableNames"], serde_json::json!([]));
}
