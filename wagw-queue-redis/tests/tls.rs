//! The queue over TLS (`rediss://`, feature `tls`): a private `redis-server` that speaks only
//! TLS, with a certificate authority and server certificate made at test time. The whole
//! queue conformance suite runs over it; a server certificate from another CA, and a missing
//! client certificate where the server asks for one, are refused with a typed error. Needs
//! `redis-server` built with TLS (skipped without `redis-server`, required when `CI=true`).
#![cfg(feature = "tls")]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use wagw_core::Queue;
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_queue_redis::{ConnectOptions, RedisQueue, RedisQueueError};

use common::{OwnServer, fresh_name, redis_server_or_skip};

/// A certificate authority made now: its certificate (PEM) and the issuer that signs with it.
struct Ca {
    pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        Self {
            pem: issuer.pem(),
            issuer,
        }
    }

    /// A leaf certificate and its key (both PEM) for `names`, for a server or a client.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// A `redis-server` listening with TLS only (`--port 0`), its certificate for 127.0.0.1
/// signed by `ca`.
struct TlsRedis {
    server: OwnServer,
    ca: Ca,
}

impl TlsRedis {
    fn start(auth_clients: bool) -> Self {
        let ca = Ca::new("wagw test CA");
        let (cert, key) = ca.issue(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let dir = OwnServer::folder();
        for (file, pem) in [
            ("ca.pem", &ca.pem),
            ("server.pem", &cert),
            ("server.key", &key),
        ] {
            std::fs::write(dir.join(file), pem).expect("write a certificate");
        }
        let port = OwnServer::spare_port();
        let path = |f: &str| dir.join(f).display().to_string();
        let args = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path("server.pem"),
            "--tls-key-file".into(),
            path("server.key"),
            "--tls-ca-cert-file".into(),
            path("ca.pem"),
            "--tls-auth-clients".into(),
            if auth_clients { "yes" } else { "no" }.into(),
        ];
        let server = OwnServer::start(dir, port, &args);
        Self { server, ca }
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.server.port)
    }

    /// Options trusting this server's CA.
    fn trusting(&self) -> ConnectOptions {
        ConnectOptions::new().tls_root_certificates(self.ca.pem.clone())
    }
}

/// One TLS server for the conformance cases of this test binary (it dies with the process).
fn shared() -> Option<&'static TlsRedis> {
    static SERVER: OnceLock<Option<TlsRedis>> = OnceLock::new();
    SERVER
        .get_or_init(|| redis_server_or_skip().then(|| TlsRedis::start(false)))
        .as_ref()
}

/// A queue on a fresh prefix of the shared TLS server, or `None` without `redis-server`.
async fn tls_queue() -> Option<RedisQueue> {
    let server = shared()?;
    Some(
        RedisQueue::connect_with(&server.url(), &fresh_name(), &server.trusting())
            .await
            .expect("connect over TLS trusting the test CA"),
    )
}

wagw_core::queue_conformance_tests!(optional async { tls_queue().await });

/// The error's typed source, if it is the Redis queue's.
fn queue_error(e: &wagw_core::Error) -> Option<&RedisQueueError> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<RedisQueueError>())
}

/// Fewer retries, so a refused connect fails fast.
fn quick(options: ConnectOptions) -> ConnectOptions {
    options
        .retries(1)
        .connection_timeout(Duration::from_secs(3))
}

fn assert_refused_certificate(result: wagw_core::Result<RedisQueue>, what: &str) {
    let err = result.expect_err(what);
    let typed = queue_error(&err);
    assert!(
        matches!(typed, Some(RedisQueueError::Tls(_))),
        "{what}: expected RedisQueueError::Tls, got {err} ({typed:?})"
    );
    assert_eq!(typed.map(RedisQueueError::code), Some("REDIS_TLS"));
    assert!(
        !err.is_retryable(),
        "{what}: a refused certificate is not transient"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused() {
    let Some(server) = shared() else { return };
    let stranger = Ca::new("some other CA");
    assert_refused_certificate(
        RedisQueue::connect_with(
            &server.url(),
            &fresh_name(),
            &quick(ConnectOptions::new().tls_root_certificates(stranger.pem.clone())),
        )
        .await,
        "a server certificate signed by a CA that is not trusted",
    );
    // Without a root of its own the client trusts the system's roots, which do not hold the
    // test CA either.
    assert_refused_certificate(
        RedisQueue::connect_with(&server.url(), &fresh_name(), &quick(ConnectOptions::new())).await,
        "a private CA with the system roots",
    );
    // And the check cannot be switched off from the URL.
    let insecure = format!("{}/#insecure", server.url());
    assert!(
        RedisQueue::connect_with(&insecure, &fresh_name(), &quick(server.trusting()))
            .await
            .is_err(),
        "#insecure must be refused"
    );
}

/// A server that asks for client certificates (`--tls-auth-clients yes`) takes one signed by
/// its CA and refuses a client without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_when_the_server_asks() {
    if !redis_server_or_skip() {
        return;
    }
    let server = TlsRedis::start(true);
    let name = fresh_name();
    let without = RedisQueue::connect_with(&server.url(), &name, &quick(server.trusting())).await;
    assert_refused_certificate(without, "no client certificate");

    let (cert, key) = server
        .ca
        .issue(&["wagw-worker"], ExtendedKeyUsagePurpose::ClientAuth);
    let queue = RedisQueue::connect_with(
        &server.url(),
        &name,
        &server.trusting().tls_client_certificate(cert, key),
    )
    .await
    .expect("connect with a client certificate");
    queue
        .enqueue(NewJob::new("ch-1", "over mutual TLS"))
        .await
        .expect("enqueue");
    let got = queue
        .reserve(&ReserveOptions::new(5, Duration::from_secs(30)))
        .await
        .expect("reserve");
    assert_eq!(got.len(), 1);
    queue.ack(&got[0].lease).await.expect("ack");
}
