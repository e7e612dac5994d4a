//! Queues on fresh key prefixes of the test Redis, and private Redis servers to kill.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ChannelStore, TenantStore};
use wagw_queue_redis::RedisQueue;
use wagw_store_memory::MemoryStore;

/// How every private `redis-server` of these tests runs: on loopback, saving nothing (as
/// the machine's shared server, and as a restart must find it empty).
const LOOPBACK_NO_PERSISTENCE: [&str; 6] =
    ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];

/// The Redis URL for tests, or `None` when it is not configured (the caller says it skipped).
/// Panics when `CI=true`: CI must run the Redis tests.
pub fn redis_url() -> Option<String> {
    match std::env::var("WAGW_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but WAGW_TEST_REDIS_URL is unset: Redis tests cannot be skipped in CI"
                );
            }
            None
        }
    }
}

/// The URL, or `None` after printing that the test was skipped.
pub fn url_or_skip() -> Option<String> {
    let url = redis_url();
    if url.is_none() {
        eprintln!("skipped: WAGW_TEST_REDIS_URL is unset (e.g. redis://127.0.0.1:6379)");
    }
    url
}

fn secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A fresh queue name: `test-<secs>-<random>`, so sweeps can tell old ones.
pub fn fresh_name() -> String {
    format!(
        "test-{}-{}",
        secs(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A queue on a key prefix of its own, or `None` when Redis is not configured. Test queues
/// that earlier runs left behind for over an hour are deleted on the way (never `FLUSHDB`:
/// the server is shared).
pub async fn fresh_queue() -> Option<RedisQueue> {
    let url = redis_url()?;
    sweep_old(&url).await;
    Some(
        RedisQueue::connect(&url, &fresh_name())
            .await
            .expect("connect to redis"),
    )
}

async fn sweep_old(url: &str) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    let mut cursor = 0u64;
    let now = secs();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("{wagw:test-*}:meta")
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await
            .expect("scan");
        for key in keys {
            let name = key
                .trim_start_matches("{wagw:")
                .trim_end_matches("}:meta")
                .to_owned();
            let born = name.split('-').nth(1).and_then(|s| s.parse::<u64>().ok());
            if born.is_some_and(|b| now.saturating_sub(b) > 3_600)
                && let Ok(old) = RedisQueue::connect(url, &name).await
            {
                let _ = old.destroy().await;
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// A private `redis-server` without persistence on a spare port, killed (`kill -9`) on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts one on a free port and waits until it answers.
    pub async fn start() -> Self {
        let port = spare_port();
        let mut server = Self { port, child: None };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server as a crash would: SIGKILL, nothing saved.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: it persists nothing).
    pub async fn restart(&mut self) {
        self.kill();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(LOOPBACK_NO_PERSISTENCE)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server (is it installed?)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "private redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spare_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The `n`-th test number: `62812…`.
pub fn phone(n: u64) -> PhoneNumber {
    PhoneNumber::from_wa_id(&(6_281_200_000_000u64 + n).to_string()).expect("number")
}

/// A memory store with one tenant and one number sending at `rate` per second.
pub async fn one_number(rate: u32) -> (Arc<MemoryStore>, Tenant, Channel) {
    let store = Arc::new(MemoryStore::new());
    let tenant = Tenant::new("Toko Maju", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let mut channel = Channel::new(
        tenant.id,
        "cs",
        "106540352242922",
        "102290129340398",
        phone(9_000),
    );
    channel.throughput = Throughput::per_second(rate).expect("rate");
    store.create_channel(&channel).await.expect("channel");
    (store, tenant, channel)
}

/// Whether `redis-server` can be started here. Prints why a test skips when it cannot;
/// panics under `CI=true`, where the tests that start their own server must run.
pub fn redis_server_or_skip() -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but redis-server is not installed: these tests start their own");
        }
        eprintln!("skipped: redis-server is not installed (these tests start their own)");
    }
    found
}

/// A private `redis-server` configured by the test (TLS, cluster mode), in a temporary
/// folder of its own, on a spare port.
///
/// It runs under a small shell that kills it (SIGKILL) and removes the folder as soon as its
/// standard input closes: when this value is dropped, or when the test process ends — also
/// for a server kept in a `static`, which is never dropped.
pub struct OwnServer {
    pub port: u16,
    pub dir: std::path::PathBuf,
    shell: std::process::Child,
}

impl OwnServer {
    /// A fresh folder for the server's files (certificates, cluster state, log).
    pub fn folder() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wagw-redis-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ));
        std::fs::create_dir_all(&dir).expect("server folder");
        dir
    }

    /// Starts `redis-server` on `port` with `args` (after `--bind 127.0.0.1`, no persistence,
    /// `--dir dir`) and waits until `port` takes TCP connections. Panics with the server's
    /// log when it does not come up.
    pub fn start(dir: std::path::PathBuf, port: u16, args: &[String]) -> Self {
        let shell = std::process::Command::new("sh")
            .arg("-c")
            .arg(
                "redis-server \"$@\" >\"$WAGW_DIR/log\" 2>&1 & pid=$!; \
                 read _; kill -9 $pid; wait $pid; rm -rf \"$WAGW_DIR\"",
            )
            .arg("sh")
            .args(LOOPBACK_NO_PERSISTENCE)
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .env("WAGW_DIR", &dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server under sh");
        let server = Self { port, dir, shell };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(server.dir.join("log")).unwrap_or_default();
                panic!("private redis-server did not come up on port {port}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// A spare port.
    pub fn spare_port() -> u16 {
        spare_port()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // Closing its standard input tells the shell to kill the server and clean up.
        drop(self.shell.stdin.take());
        let _ = self.shell.wait();
    }
}
