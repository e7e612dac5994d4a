//! wagw-core's transport conformance suite against `MetaTransport` talking to a mock server
//! that answers like Meta's Cloud API.

mod transport_support;

use std::sync::Arc;

use transport_support::{MetaLike, channel, transport};
use wagw_core::testkit::transport_cases::TransportSetup;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

async fn setup() -> TransportSetup {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(MetaLike::new(&server.uri()))
        .mount(&server)
        .await;
    let transport = transport(&server.uri());
    // The server must outlive the test body, which only receives the setup.
    Box::leak(Box::new(server));
    TransportSetup {
        transport: Arc::new(transport),
        channel: channel(None),
        recipient: wagw_core::phone::PhoneNumber::from_wa_id("6281200000001")
            .expect("valid number"),
    }
}

wagw_core::transport_conformance_tests!(setup());
