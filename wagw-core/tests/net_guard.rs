//! The SSRF guard against a real local receiver: each refusal, and what the allow-list opens.

mod support;

use std::time::Duration;

use support::{Behaviour, Receiver};
use wagw_core::net::{FetchFailure, GuardedClient, HttpRequest, NetPolicy, Refusal};

fn get(url: String) -> HttpRequest {
    HttpRequest::new("GET", url)
}

fn open_to_loopback() -> NetPolicy {
    NetPolicy::default().allow("127.0.0.1/32").unwrap()
}

#[tokio::test]
async fn loopback_is_refused_by_literal_and_by_name_until_allowed() {
    let receiver = Receiver::start(Behaviour::Status(200, "{}".into())).await;
    let guarded = GuardedClient::new(NetPolicy::default()).unwrap();
    let by_literal = guarded.send(get(receiver.url("/a"))).await;
    assert_eq!(by_literal, Err(FetchFailure::Denied(Refusal::Loopback)));
    // `localhost` goes through the resolver: refused after DNS, before connecting.
    let by_name = guarded
        .send(get(format!("http://localhost:{}/b", receiver.addr.port())))
        .await;
    assert_eq!(by_name, Err(FetchFailure::Denied(Refusal::Loopback)));
    let mapped = guarded
        .send(get(format!(
            "http://[::ffff:127.0.0.1]:{}/c",
            receiver.addr.port()
        )))
        .await;
    assert_eq!(mapped, Err(FetchFailure::Denied(Refusal::Loopback)));
    assert!(
        receiver.received().is_empty(),
        "nothing may reach the receiver"
    );

    let allowed = GuardedClient::new(open_to_loopback()).unwrap();
    let response = allowed.send(get(receiver.url("/d"))).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(receiver.received().len(), 1);
    // A host name on the allow-list opens what it resolves to.
    let by_host = GuardedClient::new(NetPolicy::default().allow("localhost").unwrap()).unwrap();
    let response = by_host
        .send(get(format!("http://localhost:{}/e", receiver.addr.port())))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn private_link_local_and_metadata_addresses_are_refused() {
    let guarded = GuardedClient::new(
        // Even an allow-list naming them never opens link-local or metadata addresses.
        NetPolicy::default().allow("169.254.0.0/16").unwrap(),
    )
    .unwrap();
    for (url, refusal) in [
        ("http://10.0.0.1/", Refusal::Private),
        ("http://192.168.1.10:8080/", Refusal::Private),
        ("http://172.16.5.5/", Refusal::Private),
        ("http://100.64.0.1/", Refusal::Private),
        ("http://[fd00::1]/", Refusal::Private),
        ("http://169.254.10.10/", Refusal::LinkLocal),
        ("http://[fe80::1]/", Refusal::LinkLocal),
        (
            "http://169.254.169.254/latest/meta-data/",
            Refusal::Metadata,
        ),
        ("http://[fd00:ec2::254]/", Refusal::Metadata),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            Refusal::BlockedHost,
        ),
        ("http://0.0.0.0/", Refusal::Unspecified),
        ("http://0x7f000001/", Refusal::Loopback),
        ("ftp://example.com/", Refusal::Scheme),
    ] {
        assert_eq!(
            guarded.send(get(url.into())).await,
            Err(FetchFailure::Denied(refusal)),
            "{url}"
        );
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start(Behaviour::Redirect("http://169.254.169.254/".into())).await;
    let client = GuardedClient::new(open_to_loopback()).unwrap();
    let response = client.send(get(receiver.url("/go"))).await.unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn slow_receivers_time_out() {
    let receiver = Receiver::start(Behaviour::Stall(Duration::from_secs(30))).await;
    let client =
        GuardedClient::new(open_to_loopback().with_total_timeout(Duration::from_millis(500)))
            .unwrap();
    assert_eq!(
        client.send(get(receiver.url("/slow"))).await,
        Err(FetchFailure::Timeout)
    );
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_both_ways() {
    let receiver = Receiver::start(Behaviour::Big(300 * 1024)).await;
    let client = GuardedClient::new(open_to_loopback()).unwrap();
    assert_eq!(
        client.send(get(receiver.url("/big"))).await,
        Err(FetchFailure::TooLarge)
    );
    let upload = HttpRequest::new("POST", receiver.url("/up")).body(vec![b'x'; 300 * 1024]);
    assert_eq!(client.send(upload).await, Err(FetchFailure::TooLarge));
    receiver.set_default(Behaviour::Big(1024));
    assert_eq!(
        client
            .send(get(receiver.url("/ok")))
            .await
            .unwrap()
            .body
            .len(),
        1024
    );
}

#[tokio::test]
async fn header_injection_is_refused() {
    let client = GuardedClient::new(open_to_loopback()).unwrap();
    let request = get("http://127.0.0.1:9/".into()).header("X-A", "a\r\nX-B: b");
    assert!(matches!(
        client.send(request).await,
        Err(FetchFailure::InvalidRequest(_))
    ));
}
