//! Runs the `blast` binary against the sandbox (the in-process Cloud API emulator): a blast
//! to the end, a blast paused with Ctrl-C (SIGINT) and resumed without re-sending, a template
//! blast, and the CSV report.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wagw-blast-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn blast(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blast"));
    command.current_dir(dir).env_remove("WHATSAPP_TOKEN").env(
        "BLAST_DB",
        format!("sqlite://{}", dir.join("blast.db").display()),
    );
    command
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "blast failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `n` contacts numbered from 0812-0000-1000, as people type them.
fn contacts(n: u64) -> String {
    let mut csv = String::from("nama,nomor,tagihan\n");
    for i in 0..n {
        csv.push_str(&format!(
            "Pelanggan {i},0812-0000-{:04},Rp {}.000\n",
            1000 + i,
            100 + i
        ));
    }
    csv
}

/// The number after `label ` in `text`.
fn figure(text: &str, label: &str) -> u64 {
    let at = text
        .find(&format!("{label} "))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    text[at + label.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure after {label:?} in {text}"))
}

#[test]
fn a_text_blast_runs_to_the_end_and_reports_every_row() {
    let dir = temp_dir("text");
    let mut csv = contacts(20);
    csv.push_str("Salah,12ab,Rp 1\nDobel,+62 812-0000-1000,Rp 2\n");
    std::fs::write(dir.join("contacts.csv"), csv).expect("csv");
    let stdout = ok(blast(&dir)
        .args([
            "--sandbox-unreachable",
            "0812-0000-1003",
            "send",
            "--csv",
            "contacts.csv",
            "--text",
            "Halo {nama}, tagihan Anda {tagihan}.",
        ])
        .output()
        .expect("run"));
    assert!(
        stdout.contains(" completed: total 22  pending 0  sent 0 "),
        "{stdout}"
    );
    assert_eq!(
        figure(&stdout, "delivered") + figure(&stdout, "read"),
        19,
        "{stdout}"
    );
    assert_eq!(
        (figure(&stdout, "failed"), figure(&stdout, "skipped")),
        (1, 2),
        "{stdout}"
    );
    assert_eq!(figure(&stdout, "this run sent"), 20, "{stdout}");

    let stdout = ok(blast(&dir)
        .args(["report", "--out", "report.csv"])
        .output()
        .expect("run"));
    assert!(stdout.contains("report written to report.csv"), "{stdout}");
    let mut report = csv_rows(&dir.join("report.csv"));
    let header = report.remove(0);
    assert_eq!(
        header,
        [
            "phone",
            "status",
            "reason",
            "message_id",
            "updated_at",
            "line",
            "input"
        ]
    );
    assert_eq!(report.len(), 22, "one row per input row");
    assert!(
        report
            .iter()
            .filter(|r| !r[0].is_empty())
            .all(|r| r[0].starts_with("+62812")),
        "E.164 with +"
    );
    let failed: Vec<_> = report.iter().filter(|r| r[1] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0][0], "+6281200001003");
    assert_eq!(
        failed[0][2], "Message Undeliverable.",
        "Meta's reason: {:?}",
        failed[0]
    );
    let refused: Vec<_> = report.iter().filter(|r| r[1] == "skipped").collect();
    assert_eq!(refused.len(), 2);
    assert!(
        refused
            .iter()
            .any(|r| r[5] == "22" && r[6] == "12ab" && r[2].starts_with("invalid number")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r[5] == "23" && r[2].starts_with("duplicate")),
        "{refused:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    csv_reader(&std::fs::read_to_string(path).expect("report"))
}

/// A small CSV reader for the report (fields are quoted only when they hold commas).
fn csv_reader(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        field.push('"');
                        chars.next();
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => fields.push(std::mem::take(&mut field)),
                    (c, _) => field.push(c),
                }
            }
            fields.push(field);
            fields
        })
        .collect()
}

#[test]
fn ctrl_c_pauses_and_resume_sends_the_rest_once() {
    let dir = temp_dir("pause");
    std::fs::write(dir.join("contacts.csv"), contacts(60)).expect("csv");
    // 10 messages a second: the blast takes about six seconds, time enough to interrupt it.
    let mut child = blast(&dir)
        .args([
            "--rate",
            "10",
            "send",
            "--csv",
            "contacts.csv",
            "--text",
            "Halo {nama}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !line.contains("Ctrl-C pauses") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "blast ended early"
        );
        assert!(Instant::now() < deadline);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let signal = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signal.success());
    let output = child.wait_with_output().expect("wait");
    let first = ok(output);
    assert!(first.contains(" paused: total 60 "), "{first}");
    let pending = figure(&first, "pending");
    let sent_first = figure(&first, "this run sent");
    assert!(pending > 0 && sent_first > 0, "{first}");

    let second = ok(blast(&dir).args(["resume"]).output().expect("resume"));
    assert!(
        second.contains(" completed: total 60  pending 0 "),
        "{second}"
    );
    let sent_second = figure(&second, "this run sent");
    assert_eq!(
        sent_first + sent_second,
        60,
        "every recipient sent exactly once across the pause: {first}\n{second}"
    );
    let nothing = blast(&dir).args(["resume"]).output().expect("resume");
    assert!(!nothing.status.success(), "nothing left to resume");
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("[INVALID_INPUT]"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_template_blast_fills_parameters_per_row() {
    let dir = temp_dir("template");
    std::fs::write(dir.join("contacts.csv"), contacts(5)).expect("csv");
    let stdout = ok(blast(&dir)
        .args([
            "send",
            "--csv",
            "contacts.csv",
            "--template",
            "tagihan",
            "--lang",
            "id",
            "--param",
            "{nama}",
            "--param",
            "{tagihan}",
        ])
        .output()
        .expect("run"));
    assert!(
        stdout.contains(" completed: total 5  pending 0  sent 0 "),
        "{stdout}"
    );
    assert_eq!(
        figure(&stdout, "delivered") + figure(&stdout, "read"),
        5,
        "{stdout}"
    );

    // The stored template declares two body parameters: three are refused before anything.
    let refused = blast(&dir)
        .args([
            "send",
            "--csv",
            "contacts.csv",
            "--template",
            "tagihan",
            "--param",
            "a",
            "--param",
            "b",
            "--param",
            "c",
        ])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("[TEMPLATE_PARAM_MISMATCH]"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_csv_without_a_phone_column_is_refused_and_leaves_nothing_behind() {
    let dir = temp_dir("bad");
    std::fs::write(dir.join("contacts.csv"), "nama,kota\nBudi,Bandung\n").expect("csv");
    let refused = blast(&dir)
        .args(["send", "--csv", "contacts.csv", "--text", "Halo {nama}"])
        .output()
        .expect("run");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("[INVALID_INPUT]") && stderr.contains("no phone column"),
        "{stderr}"
    );
    let report = blast(&dir).args(["report"]).output().expect("run");
    assert!(!report.status.success());
    assert!(
        String::from_utf8_lossy(&report.stderr).contains("no campaign in this database yet"),
        "the draft was removed: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
