//! Runs the README's five-minute tour (the shell block between the `walkthrough` markers)
//! with bash and curl against a fresh sandbox on a loopback port: every command must succeed
//! (`curl -f` fails on any 4xx/5xx).

mod common;

use std::process::Command;

use common::TestGateway;

fn tour() -> String {
    let readme = include_str!("../README.md");
    let start = readme.find("<!-- walkthrough -->").expect("start marker");
    let end = readme.find("<!-- /walkthrough -->").expect("end marker");
    readme[start..end]
        .lines()
        .filter(|l| !l.starts_with("```") && !l.starts_with("<!--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_runs_against_the_sandbox() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "curl is required under CI"
        );
        println!("skipped: curl is not installed");
        return;
    }
    let gw = TestGateway::start(true).await;
    let script = format!("set -euo pipefail\n{}\n", tour());
    let key = gw.key.clone();
    let channel = gw.channel.clone();
    let base = format!("http://{}", gw.addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("GW", base)
            .env("KEY", key)
            .env("CH", channel)
            .output()
    })
    .await
    .expect("join")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the tour failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // What the tour promises shows up in its output.
    assert!(stdout.contains("\"status\":\"queued\""), "{stdout}");
    // Budi wrote in before the import, so the pipeline already knows him: one new, one
    // updated, the bad row refused.
    assert!(
        stdout.contains("\"inserted\":1,\"rejected\":1,\"updated\":1"),
        "contacts imported: {stdout}"
    );
    assert!(
        stdout.contains("\"line\":4"),
        "the bad row is reported by line: {stdout}"
    );
    assert!(
        stdout.contains("\"added\":2"),
        "campaign audience: {stdout}"
    );
    assert!(stdout.contains("POST /v1/campaigns"), "activity: {stdout}");
    gw.stop().await;
}
