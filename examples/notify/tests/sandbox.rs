//! Runs the `notify` binary against the sandbox (the in-process Cloud API emulator) and
//! checks what it prints and writes.

use std::path::Path;
use std::process::{Command, Output};

fn notify(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_notify"))
        .current_dir(dir)
        .env_remove("WHATSAPP_TOKEN")
        .env(
            "NOTIFY_DB",
            format!("sqlite://{}", dir.join("notify.db").display()),
        )
        .args(args)
        .output()
        .expect("run notify");
    assert!(
        output.status.success(),
        "notify failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wagw-notify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const CUSTOMERS: &str = "\
id,name,phone,node,active
1,Budi Santoso,0812-3456-7801,ODP-001,1
2,Siti Aminah,+62 812 3456 7802,ODP-001,ya
3,Andi,0,ODP-001,1
4,Dewi,,ODP-001,1
5,Rudi,0812 3456 7805,ODP-001,1
6,Tono,0812-3456-7806,ODP-001,0
7,Wati,0812-3456-7807,ODP-002,1
8,Joko,12ab,ODP-001,1
";

const NOTICES: &str = "\
id,title,text
1,Gangguan jaringan,\"Halo {nama}, jaringan di {node} sedang gangguan. Teknisi kami sedang menanganinya.\"
";

#[test]
fn notifies_a_node_and_reports_final_statuses() {
    let dir = temp_dir("node");
    std::fs::write(dir.join("customers.csv"), CUSTOMERS).expect("customers");
    std::fs::write(dir.join("notices.csv"), NOTICES).expect("notices");
    let output = notify(
        &dir,
        &[
            "--customers",
            "customers.csv",
            "--notices",
            "notices.csv",
            "--report",
            "report.json",
            "--wait",
            "60",
            // Rudi's number is not on WhatsApp in this sandbox.
            "--sandbox-unreachable",
            "081234567805",
            "node",
            "ODP-001",
            "--notice",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Tono is inactive and Wati is on another node: six customers, two sent, Rudi failed,
    // Andi ("0"), Dewi (empty) and Joko (not a number) skipped.
    assert!(
        stdout.starts_with("total 6  sent 2  failed 1  skipped 3\n"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["total"], 6);
    assert_eq!(
        (
            report["sent"].as_u64(),
            report["failed"].as_u64(),
            report["skipped"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    let rows = report["results"].as_array().expect("rows");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["customer_id"] == id)
            .unwrap_or_else(|| panic!("row {id}: {report}"))
    };
    for (id, phone) in [("1", "+6281234567801"), ("2", "+6281234567802")] {
        let r = row(id);
        assert_eq!(r["phone"], phone, "E.164 with +: {r}");
        assert_eq!(r["success"], true, "{r}");
        assert!(
            matches!(r["status"].as_str(), Some("delivered" | "read")),
            "a final status from the webhooks, not the send call: {r}"
        );
        assert!(r["error"].is_null(), "{r}");
        assert!(stdout.contains(phone), "printed as E.164: {stdout}");
    }
    let rudi = row("5");
    assert_eq!(
        (
            rudi["phone"].as_str(),
            rudi["success"].as_bool(),
            rudi["status"].as_str()
        ),
        (Some("+6281234567805"), Some(false), Some("failed"))
    );
    assert!(
        rudi["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("131026")),
        "Meta's reason: {rudi}"
    );
    for id in ["3", "4"] {
        assert_eq!(row(id)["status"], "skipped");
        assert_eq!(row(id)["error"], "no phone number");
    }
    assert_eq!(row("8")["status"], "skipped");
    assert!(
        row("8")["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid number"))
    );
    assert!(
        rows.iter()
            .all(|r| r["customer_id"] != "6" && r["customer_id"] != "7")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn notifies_customers_by_id_from_the_isp_database_and_one_phone() {
    let dir = temp_dir("db");
    let db = dir.join("isp.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new().filename(&db).create_if_missing(true),
        )
        .await
        .expect("isp db");
        for sql in [
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT, node TEXT, active INTEGER)",
            "CREATE TABLE notices (id INTEGER PRIMARY KEY, title TEXT, text TEXT)",
            "INSERT INTO customers VALUES (10, 'Rina', '0813-1111-2222', 'ODP-003', 1), (11, 'Bayu', NULL, 'ODP-003', 1), (12, 'Eka', '0813-1111-3333', 'ODP-003', 0)",
            "INSERT INTO notices VALUES (1, 'Pemulihan', 'Halo {nama}, layanan sudah pulih.')",
        ] {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
    });
    let url = format!("sqlite://{}", db.display());
    let output = notify(
        &dir,
        &[
            "--customers-db",
            &url,
            "--json",
            "ids",
            "10",
            "11",
            "12",
            "--notice",
            "1",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    // Named ids are sent to even when inactive (Eka); Bayu has no number.
    assert_eq!(
        (
            report["total"].as_u64(),
            report["sent"].as_u64(),
            report["skipped"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(report["results"][0]["phone"], "+6281311112222");
    assert_eq!(report["results"][0]["name"], "Rina");

    let output = notify(
        &dir,
        &[
            "phone",
            "0857 0000 1234",
            "--name",
            "Budi",
            "--message",
            "Halo {nama}, teknisi menuju lokasi.",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("total 1  sent 1  failed 0  skipped 0\n"),
        "{stdout}"
    );
    assert!(stdout.contains("+6285700001234"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_refused_with_a_code_and_sends_nothing() {
    let dir = temp_dir("bad");
    std::fs::write(dir.join("customers.csv"), CUSTOMERS).expect("customers");
    let output = Command::new(env!("CARGO_BIN_EXE_notify"))
        .current_dir(&dir)
        .env_remove("WHATSAPP_TOKEN")
        .args([
            "--customers",
            "customers.csv",
            "ids",
            "99",
            "--message",
            "Halo",
        ])
        .output()
        .expect("run notify");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[INVALID_INPUT]") && stderr.contains("no customer with id 99"),
        "{stderr}"
    );
    assert!(
        !dir.join("notify.db").exists(),
        "nothing was opened or stored"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_readme_command_runs_on_the_shipped_files() {
    let dir = temp_dir("readme");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let customers = manifest.join("customers.csv");
    let notices = manifest.join("notices.csv");
    let output = notify(
        &dir,
        &[
            "--customers",
            customers.to_str().expect("path"),
            "--notices",
            notices.to_str().expect("path"),
            "node",
            "ODP-001",
            "--notice",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Rudi is inactive; Andi ("0") and Dewi (empty) are skipped.
    assert!(
        stdout.starts_with("total 5  sent 3  failed 0  skipped 2\n"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
