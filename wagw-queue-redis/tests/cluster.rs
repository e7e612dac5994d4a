//! Redis Cluster safety: a private `redis-server --cluster-enabled yes` owning all 16,384
//! slots runs the whole queue conformance suite and the fleet limits. Redis 7 in cluster mode
//! refuses a script that touches keys of two slots ("Script attempted to access keys that do
//! not hash to the same slot"), so every script passing here shows that a queue's keys share
//! one slot; a test also checks the slot of every key the queue left behind. Skipped without
//! `redis-server`, required when `CI=true`.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wagw_core::Queue;
use wagw_core::queue::{FleetLimits, NewJob, ReserveOptions};
use wagw_queue_redis::RedisQueue;

use common::{OwnServer, fresh_name, redis_server_or_skip};

const VISIBLE: Duration = Duration::from_secs(30);

/// A one-node cluster: cluster mode on, every slot assigned to the node, state `ok`.
struct ClusterRedis {
    server: OwnServer,
}

impl ClusterRedis {
    fn start() -> Self {
        let dir = OwnServer::folder();
        let port = OwnServer::spare_port();
        let args = vec![
            "--port".into(),
            port.to_string(),
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            dir.join("nodes.conf").display().to_string(),
        ];
        let server = OwnServer::start(dir, port, &args);
        let cluster = Self { server };
        let mut conn = redis::Client::open(cluster.url())
            .expect("url")
            .get_connection()
            .expect("connect to the cluster node");
        let _: () = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(0)
            .arg(16_383)
            .query(&mut conn)
            .expect("CLUSTER ADDSLOTSRANGE 0 16383");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut conn)
                .expect("CLUSTER INFO");
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not become ok:\n{info}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.server.port)
    }
}

/// One cluster-mode server for this test binary (it dies with the process).
fn shared() -> Option<&'static ClusterRedis> {
    static SERVER: OnceLock<Option<ClusterRedis>> = OnceLock::new();
    SERVER
        .get_or_init(|| redis_server_or_skip().then(ClusterRedis::start))
        .as_ref()
}

async fn cluster_queue() -> Option<RedisQueue> {
    let server = shared()?;
    Some(
        RedisQueue::connect(&server.url(), &fresh_name())
            .await
            .expect("connect to the cluster-mode server"),
    )
}

wagw_core::queue_conformance_tests!(optional async { cluster_queue().await });

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_in_cluster_mode_and_refuses_cross_slot_scripts() {
    let Some(server) = shared() else { return };
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut conn)
        .await
        .expect("cluster info");
    assert!(info.contains("cluster_state:ok"), "{info}");
    // The rule the queue relies on, shown on this server: a script with a shebang that strays
    // from the slot of its declared key is refused...
    let strays = "redis.call('SET', KEYS[1], 1); return redis.call('SET', 'b', 1)";
    let err = redis::Script::new(&format!("#!lua\n{strays}"))
        .key("{a}")
        .invoke_async::<redis::Value>(&mut conn)
        .await
        .expect_err("a cross-slot script must be refused in cluster mode");
    assert!(
        err.to_string()
            .contains("Script attempted to access keys that do not hash to the same slot"),
        "{err}"
    );
    // ...while the same script without one runs in compatibility mode, which allows it: why
    // every queue script starts with a shebang.
    redis::Script::new(strays)
        .key("{a}")
        .invoke_async::<redis::Value>(&mut conn)
        .await
        .expect("compatibility mode lets a script touch any slot of the node");
}

/// Two connections (two processes) share a number's rate, a throttle and a pair bucket on the
/// cluster-mode server; afterwards every key the queue wrote is in the slot of its tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_limits_hold_on_a_cluster_and_every_key_is_in_one_slot() {
    let Some(server) = shared() else { return };
    let name = fresh_name();
    let a = RedisQueue::connect(&server.url(), &name)
        .await
        .expect("connect a");
    let b = RedisQueue::connect(&server.url(), &name)
        .await
        .expect("connect b");

    // The rate, across both.
    assert_eq!(a.set_rate("ch-1", 20, 1).await.expect("rate"), 20);
    a.enqueue_many(
        (0..200)
            .map(|n| NewJob::new("ch-1", n.to_string()))
            .collect(),
    )
    .await
    .expect("enqueue");
    let started = Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < Duration::from_millis(1_500) {
        for q in [&a, &b] {
            got.extend(
                q.reserve(&ReserveOptions::new(50, VISIBLE))
                    .await
                    .expect("reserve"),
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let most = 1.0 + 20.0 * elapsed;
    assert!(
        (got.len() as f64) <= most + 1.0,
        "{} jobs in {elapsed:.2} s at 20/s",
        got.len()
    );
    assert!(got.len() >= 20, "{} jobs in {elapsed:.2} s", got.len());
    let leases: Vec<_> = got.iter().map(|r| r.lease).collect();
    assert!(b.ack_many(&leases).await.expect("ack").is_empty());

    // A throttle seen by one pauses and slows the number for the other.
    assert_eq!(
        a.throttled("ch-1", Duration::from_secs(60))
            .await
            .expect("throttle"),
        15
    );
    assert!(
        b.reserve(&ReserveOptions::new(10, VISIBLE))
            .await
            .expect("reserve")
            .is_empty(),
        "paused for both"
    );

    // The pair bucket is shared.
    let every = Duration::from_secs(6);
    assert_eq!(
        a.take_pair("ch-1", "628123", every, 1).await.expect("1"),
        None
    );
    assert!(
        b.take_pair("ch-1", "628123", every, 1)
            .await
            .expect("2")
            .is_some()
    );

    // Every key of the queue hashes to the slot of its tag.
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let keyslots = conn.clone();
    let slot_of = |key: Vec<u8>| {
        let mut conn = keyslots.clone();
        async move {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async::<i64>(&mut conn)
                .await
                .expect("keyslot")
        }
    };
    let tag_slot = slot_of(format!("{{wagw:{name}}}").into_bytes()).await;
    // Binary keys: job ids are 16 raw bytes.
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{}*", a.key_prefix()))
        .query_async(&mut conn)
        .await
        .expect("keys");
    for wanted in ["meta", "l:ch-1", "p:ch-1:628123", "r:ch-1"] {
        assert!(
            keys.iter().any(|k| k.ends_with(wanted.as_bytes())),
            "no key …{wanted} among {} keys",
            keys.len()
        );
    }
    for key in keys {
        let shown = String::from_utf8_lossy(&key).into_owned();
        assert_eq!(slot_of(key).await, tag_slot, "{shown}");
    }
    assert!(a.destroy().await.expect("destroy") > 0);
}
