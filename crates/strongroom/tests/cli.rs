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

/// The DynamoDB walk-through of the README, command for command.
#[test]
fn aws_cli_dynamodb_walkthrough() {
    let s = Server::start();
    let run = |args: &[&str]| -> serde_json::Value {
        let (ok, out, err) = aws(&s, args);
        assert!(ok, "{args:?}: {err}");
        if out.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&out).unwrap()
        }
    };
    let created = run(&[
        "dynamodb",
        "create-table",
        "--table-name",
        "Music",
        "--attribute-definitions",
        "AttributeName=Artist,AttributeType=S",
        "AttributeName=SongTitle,AttributeType=S",
        "--key-schema",
        "AttributeName=Artist,KeyType=HASH",
        "AttributeName=SongTitle,KeyType=RANGE",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    assert_eq!(created["TableDescription"]["TableName"], "Music");
    run(&[
        "dynamodb",
        "put-item",
        "--table-name",
        "Music",
        "--item",
        r#"{"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Happy Day"}, "Plays": {"N": "1"}}"#,
    ]);
    let updated = run(&[
        "dynamodb",
        "update-item",
        "--table-name",
        "Music",
        "--key",
        r#"{"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Happy Day"}}"#,
        "--update-expression",
        "ADD Plays :one",
        "--expression-attribute-values",
        r#"{":one": {"N": "1"}}"#,
        "--return-values",
        "UPDATED_NEW",
    ]);
    assert_eq!(updated["Attributes"]["Plays"]["N"], "2");
    let queried = run(&[
        "dynamodb",
        "query",
        "--table-name",
        "Music",
        "--key-condition-expression",
        "Artist = :a AND begins_with(SongTitle, :t)",
        "--expression-attribute-values",
        r#"{":a": {"S": "Acme Band"}, ":t": {"S": "Happy"}}"#,
    ]);
    assert_eq!(queried["Count"], 1);
    assert_eq!(queried["Items"][0]["SongTitle"]["S"], "Happy Day");
    let scanned = run(&[
        "dynamodb",
        "scan",
        "--table-name",
        "Music",
        "--filter-expression",
        "Plays > :n",
        "--expression-attribute-values",
        r#"{":n": {"N": "1"}}"#,
    ]);
    assert_eq!(scanned["Count"], 1);
    let deleted = run(&["dynamodb", "delete-table", "--table-name", "Music"]);
    assert_eq!(deleted["TableDescription"]["TableStatus"], "DELETING");
}

#[test]
fn json_logs_carry_each_requests_id_and_operation() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let s = Server::start_logging(&["--log-format", "json", "--log", "wire=debug"], Some(&log));
    let (ok, out, err) = aws(&s, &["dynamodb", "list-tables", "--debug"]);
    assert!(ok, "{out} {err}");
    // The CLI's debug output shows the response headers, the request id among them.
    let id = err
        .split(['\'', '"', ',', ' ', '\n'])
        .skip_while(|w| !w.eq_ignore_ascii_case("x-amzn-RequestId"))
        .find(|w| w.len() == 52)
        .unwrap_or_else(|| panic!("no request id in {err}"))
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let answered = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["span"]["id"] == id.as_str());
        if let Some(v) = answered {
            assert_eq!(v["span"]["op"], "ListTables");
            assert_eq!(v["fields"]["message"], "answered");
            assert_eq!(v["fields"]["status"], 200);
            assert_eq!(v["level"], "DEBUG");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no JSON line for {id} in:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = Server::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another strongroom process"), "{err}");
    // The first server is untouched.
    let (ok, out, err) = aws(&s, &["dynamodb", "list-tables"]);
    assert!(ok, "{out} {err}");
}
