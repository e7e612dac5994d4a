//! The `wagw-emulator` binary: clap-generated `--help` naming the environment variables,
//! refusals of bad arguments, and a scenario file's numbers, templates and webhook settings
//! in effect on a running emulator.
#![cfg(feature = "emulator")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wagw_meta::emulator::ScenarioFile;

const BIN: &str = env!("CARGO_BIN_EXE_wagw-emulator");

#[test]
fn help_lists_options_and_their_environment_variables() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for words in [
        "--config",
        "WAGW_EMULATOR_CONFIG",
        "--port",
        "WAGW_EMULATOR_PORT",
        "--webhook-url",
        "WAGW_EMULATOR_APP_SECRET",
        "--number <PNID:DISPLAY:WABA>",
        "--throughput",
    ] {
        assert!(help.contains(words), "help lacks {words}:\n{help}");
    }
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    for (args, words) in [
        (&["--number", "only-two:parts"][..], "PNID:DISPLAY:WABA"),
        (&["--throughput", "fast"], "messages/s"),
        (&["--webhook-url", "http://x/hook"], "--app-secret"),
        (&["--port", "99999"], "99999"),
        (&["--frobnicate"], "--frobnicate"),
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env_remove("WAGW_EMULATOR_APP_SECRET")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
    let dir = std::env::temp_dir().join(format!("wagw-emulator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "numbers: []\nwebhook: {url: http://x, app_secret: ''}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("app_secret"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scenario_files_are_checked() {
    let unknown = ScenarioFile::parse("numbers: []\nnumbrs: []\n", true).unwrap_err();
    assert_eq!(unknown.code(), "INVALID_CONFIG");
    assert!(unknown.to_string().contains("numbrs"), "{unknown}");
    let throughput = ScenarioFile::parse(
        r#"{"numbers": [{"id": "1", "display_phone_number": "2", "waba_id": "3", "throughput": 0}]}"#,
        false,
    )
    .unwrap_err();
    assert!(
        throughput.to_string().contains("throughput"),
        "{throughput}"
    );
    let file = ScenarioFile::parse(
        r#"{"numbers": [{"id": "1", "display_phone_number": "2", "waba_id": "3", "throughput": "off"}]}"#,
        false,
    )
    .unwrap();
    assert_eq!(file.numbers.len(), 1);
}

/// Kills the child on drop (only this process, by its id).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_scenario_file_sets_numbers_and_templates() {
    let dir = std::env::temp_dir().join(format!("wagw-emulator-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scenario.yaml");
    std::fs::write(
        &file,
        r#"
numbers:
  - id: "555000111"
    display_phone_number: "6281299990001"
    waba_id: "777000111"
    verified_name: Toko Maju
    throughput: 20
templates:
  - waba_id: "777000111"
    name: pesanan_dikirim
    language: id
    components: [{type: BODY, text: "Pesanan {{1}} dikirim"}]
webhook:
  url: http://127.0.0.1:9/webhook
  app_secret: file-secret
"#,
    )
    .unwrap();
    let mut child = Child(
        Command::new(BIN)
            .args(["--port", "0", "--token", "cli-token", "--config"])
            .arg(&file)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("http://127.0.0.1:") {
                let url: String = line[at..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let url = url.split("/v23.0").next().unwrap_or_default().to_owned();
                let _ = tx.send(url);
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        if let Ok(url) = rx.recv_timeout(Duration::from_millis(100)) {
            break url;
        }
        assert!(Instant::now() < deadline, "the emulator did not start");
    };
    let base = base.trim_end_matches(['/', ';', ',']).to_owned();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            let response = http
                .get(path)
                .bearer_auth("cli-token")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    let (status, numbers) = get(format!("{base}/v23.0/777000111/phone_numbers")).await;
    assert_eq!(status, 200, "{numbers}");
    assert_eq!(numbers["data"][0]["id"], "555000111");
    assert_eq!(numbers["data"][0]["verified_name"], "Toko Maju");
    let (status, templates) = get(format!("{base}/v23.0/777000111/message_templates")).await;
    assert_eq!(status, 200, "{templates}");
    assert_eq!(templates["data"][0]["name"], "pesanan_dikirim");
    assert_eq!(templates["data"][0]["status"], "APPROVED");
    let sent = http
        .post(format!("{base}/v23.0/555000111/messages"))
        .bearer_auth("cli-token")
        .header("content-type", "application/json")
        .body(
            json!({"messaging_product": "whatsapp", "to": "628123456789", "type": "template",
            "template": {"name": "pesanan_dikirim", "language": {"code": "id"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1"}]}]}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 200, "{:?}", sent.text().await);
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}
