//! Outbound HTTP that tenants can aim but cannot turn against the gateway (feature `http`).
//!
//! Tenants choose the URLs of their webhook subscriptions and of their flows' HTTP nodes. Left
//! alone, such a request could reach the gateway's own admin ports, the database on the private
//! network or the cloud metadata service (server-side request forgery). [`GuardedClient`] is
//! the one HTTP client wagw uses for tenant-chosen URLs, and it refuses all of that:
//!
//! - only `http` and `https` URLs;
//! - **addresses checked at connect time**: IP literals in the URL before sending, every
//!   address a name resolves to in a custom [`reqwest::dns::Resolve`] (so a name that resolves
//!   to `127.0.0.1`, or re-resolves there later, is refused), and the address the connection
//!   actually reached once the response comes back;
//! - refused ranges: loopback, private (RFC 1918, `fc00::/7`), carrier-grade NAT
//!   (`100.64.0.0/10`), link-local (`169.254.0.0/16`, `fe80::/10`), cloud metadata addresses,
//!   unspecified, multicast, broadcast, documentation and reserved ranges, and IPv4 embedded in
//!   IPv6 (`::ffff:a.b.c.d`, `64:ff9b::/96`, `2002::/16`) judged as the IPv4 address it holds;
//! - blocked host names (Meta's Graph API host and metadata names);
//! - no proxy (a proxy would resolve names itself), redirects off;
//! - connect and total timeouts, a request and a response size cap (the response is read in
//!   chunks and abandoned as soon as it passes the cap);
//! - an operator [`allow`](NetPolicy::allow) list of host names or CIDR blocks that opens
//!   loopback and private ranges (tests use it to reach their local receiver). Link-local and
//!   metadata addresses stay refused even then.
//!
//! ```
//! use wagw_core::net::{NetPolicy, Refusal};
//!
//! let policy = NetPolicy::default();
//! assert_eq!(policy.check_ip("127.0.0.1".parse().unwrap()), Err(Refusal::Loopback));
//! assert_eq!(policy.check_ip("169.254.169.254".parse().unwrap()), Err(Refusal::Metadata));
//! assert!(policy.check_ip("93.184.216.34".parse().unwrap()).is_ok());
//!
//! let local = NetPolicy::default().allow("127.0.0.1/32").unwrap();
//! assert!(local.check_ip("127.0.0.1".parse().unwrap()).is_ok());
//! # Ok::<(), wagw_core::Error>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{Error, Result};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default total timeout of one request, connect to last byte.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest total timeout a caller may ask for.
pub const MAX_TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on request and response bodies.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// Host names refused whatever they resolve to.
const BLOCKED_HOSTS: [&str; 4] = [
    "graph.facebook.com",
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
];

/// Why the guard refused a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The URL is not `http` or `https`, or has no host.
    Scheme,
    /// A blocked host name.
    BlockedHost,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918, `100.64.0.0/10`, `fc00::/7`.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud metadata address (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`).
    Metadata,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// Multicast and broadcast.
    Multicast,
    /// Documentation, benchmarking, `0.0.0.0/8`, `240.0.0.0/4` and other reserved ranges.
    Reserved,
}

impl Refusal {
    /// A stable name, e.g. `loopback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheme => "scheme",
            Self::BlockedHost => "blocked_host",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link_local",
            Self::Metadata => "metadata",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        }
    }

    /// Whether the operator allow-list may open this class of address.
    fn allow_list_can_open(self) -> bool {
        matches!(self, Self::Loopback | Self::Private)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the operator allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Host(String),
    Net(IpNet),
}

/// What outbound requests may reach, and how long and large they may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPolicy {
    allowed: Vec<Allowed>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Total timeout of a request (at most [`MAX_TOTAL_TIMEOUT`] is used).
    pub total_timeout: Duration,
    /// Largest request body sent and response body read, in bytes.
    pub max_body_bytes: usize,
}

impl Default for NetPolicy {
    fn default() -> Self {
        Self {
            allowed: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Lower-cases a host and strips the trailing dot of a fully qualified name.
fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl NetPolicy {
    /// Adds an allow-list entry: a CIDR block (`10.1.0.0/16`), an address (`127.0.0.1`) or a
    /// host name (`crm.internal`). Allowed destinations may be loopback or private; link-local
    /// and metadata addresses are never opened.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty entry or a malformed CIDR block.
    pub fn allow(mut self, entry: &str) -> Result<Self> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(Error::invalid_input("allow", "empty allow-list entry"));
        }
        let allowed = if let Ok(net) = entry.parse::<IpNet>() {
            Allowed::Net(net)
        } else if let Ok(ip) = entry.parse::<IpAddr>() {
            Allowed::Net(IpNet::from(ip))
        } else if entry.contains('/') {
            return Err(Error::invalid_input(
                "allow",
                format!("{entry:?} is not a CIDR block"),
            ));
        } else {
            Allowed::Host(normalize_host(entry))
        };
        self.allowed.push(allowed);
        Ok(self)
    }

    /// Sets the total timeout (capped at [`MAX_TOTAL_TIMEOUT`]).
    pub fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout.min(MAX_TOTAL_TIMEOUT);
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the body size cap.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    fn host_is_allowed(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.allowed
            .iter()
            .any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    fn ip_is_allowed(&self, ip: IpAddr) -> bool {
        self.allowed
            .iter()
            .any(|a| matches!(a, Allowed::Net(net) if net.contains(&ip)))
    }

    /// Judges an address on its own (no host name): refused classes unless the allow-list
    /// opens them.
    pub fn check_ip(&self, ip: IpAddr) -> std::result::Result<(), Refusal> {
        self.check_addr(None, ip)
    }

    /// Judges an address reached through `host`: allowed hosts and allowed CIDR blocks open
    /// loopback and private ranges.
    fn check_addr(&self, host: Option<&str>, ip: IpAddr) -> std::result::Result<(), Refusal> {
        match classify(ip) {
            None => Ok(()),
            Some(refusal)
                if refusal.allow_list_can_open()
                    && (self.ip_is_allowed(ip)
                        || host.is_some_and(|h| self.host_is_allowed(h))) =>
            {
                Ok(())
            }
            Some(refusal) => Err(refusal),
        }
    }

    /// Judges a URL before any connection: scheme, blocked host names and IP literals (which
    /// skip name resolution, so the resolver would never see them).
    pub fn check_url(&self, url: &url::Url) -> std::result::Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme);
        }
        match url.host() {
            None => Err(Refusal::Scheme),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => {
                let name = normalize_host(name);
                if BLOCKED_HOSTS.contains(&name.as_str()) && !self.host_is_allowed(&name) {
                    Err(Refusal::BlockedHost)
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:0:0/96`), NAT64
/// (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let [a, b] = [s[6].to_be_bytes(), s[7].to_be_bytes()];
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(Ipv4Addr::new(a[0], a[1], b[0], b[1]));
    }
    if s[0] == 0x2002 {
        let [c, d] = [s[1].to_be_bytes(), s[2].to_be_bytes()];
        return Some(Ipv4Addr::new(c[0], c[1], d[0], d[1]));
    }
    None
}

/// The class of a refused address, or `None` for a public unicast address.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        return Some(Refusal::Metadata);
    }
    if ip.is_unspecified() {
        return Some(Refusal::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Refusal::Loopback);
    }
    if ip.is_link_local() {
        return Some(Refusal::LinkLocal);
    }
    if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        return Some(Refusal::Private);
    }
    if ip.is_multicast() || ip.is_broadcast() {
        return Some(Refusal::Multicast);
    }
    let reserved = a == 0
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || (a == 192 && b == 88 && c == 99);
    reserved.then_some(Refusal::Reserved)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(Refusal::Metadata);
    }
    if ip.is_unspecified() {
        return Some(Refusal::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Refusal::Loopback);
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some(Refusal::LinkLocal);
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return Some(Refusal::Private);
    }
    if ip.is_multicast() {
        return Some(Refusal::Multicast);
    }
    // IPv4-compatible (::a.b.c.d, deprecated), site-local (fec0::/10), documentation
    // (2001:db8::/32), discard (100::/64) and anything outside global unicast 2000::/3.
    let reserved = (s[0..6] == [0, 0, 0, 0, 0, 0])
        || s[0] & 0xffc0 == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
        || s[0] & 0xe000 != 0x2000;
    reserved.then_some(Refusal::Reserved)
}

/// The resolver error that carries a refusal through reqwest back to [`GuardedClient`].
#[derive(Debug)]
struct RefusedAddress {
    host: String,
    ip: IpAddr,
    refusal: Refusal,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to {} ({})",
            self.host, self.ip, self.refusal
        )
    }
}

impl std::error::Error for RefusedAddress {}

/// A [`Resolve`] that resolves through the system and refuses the whole name when any of its
/// addresses is refused, so the connector never sees a forbidden address.
#[derive(Debug, Clone)]
struct GuardedResolver {
    policy: Arc<NetPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Err(refusal) = policy.check_addr(Some(&host), addr.ip()) {
                    return Err(Box::new(RefusedAddress {
                        host: host.clone(),
                        ip: addr.ip(),
                        refusal,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Why an outbound request produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchFailure {
    /// The guard refused the destination.
    Denied(Refusal),
    /// Connecting or the whole exchange took too long.
    Timeout,
    /// The request or response body passed the size cap.
    TooLarge,
    /// The URL, a header or the body could not be used.
    InvalidRequest(String),
    /// Any other transport failure (connection refused or reset, TLS ...).
    Connect(String),
}

impl FetchFailure {
    /// A stable name, e.g. `timeout`, as flows store it in `http.error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Connect(_) => "connect",
        }
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(refusal) => write!(f, "destination refused: {refusal}"),
            Self::Timeout => f.write_str("timed out"),
            Self::TooLarge => f.write_str("body over the size cap"),
            Self::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Self::Connect(why) => write!(f, "connection failed: {why}"),
        }
    }
}

impl From<FetchFailure> for Error {
    fn from(failure: FetchFailure) -> Self {
        match failure {
            FetchFailure::Denied(refusal) => {
                Error::Forbidden(format!("outbound destination refused: {refusal}"))
            }
            FetchFailure::InvalidRequest(why) => Error::invalid_input("url", why),
            other => Error::Backend {
                message: other.to_string(),
                transient: true,
                source: None,
            },
        }
    }
}

/// An outbound request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// A total timeout shorter than the policy's.
    pub timeout: Option<Duration>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// A response read in full (within the size cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The address the connection reached.
    pub remote_addr: Option<SocketAddr>,
}

/// The guarded HTTP client: see the [module documentation](self). Cheap to clone.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    policy: Arc<NetPolicy>,
}

impl GuardedClient {
    /// A client enforcing `policy`.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the TLS stack cannot be set up.
    pub fn new(policy: NetPolicy) -> Result<Self> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout.min(MAX_TOTAL_TIMEOUT))
            .dns_resolver(GuardedResolver {
                policy: Arc::clone(&policy),
            })
            .user_agent(concat!("wagw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::backend("building the HTTP client", false, e))?;
        Ok(Self { client, policy })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &NetPolicy {
        &self.policy
    }

    /// Sends a request through the guard and reads the response within the size cap. Any
    /// HTTP status is a response; only a missing or unusable response is a [`FetchFailure`].
    pub async fn send(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<HttpResponse, FetchFailure> {
        let url = url::Url::parse(&request.url)
            .map_err(|e| FetchFailure::InvalidRequest(format!("{:?}: {e}", request.url)))?;
        self.policy.check_url(&url).map_err(FetchFailure::Denied)?;
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| FetchFailure::InvalidRequest(format!("method {:?}", request.method)))?;
        let mut builder = self.client.request(method, url.clone());
        for (name, value) in &request.headers {
            if value.contains(['\r', '\n']) || name.contains(['\r', '\n']) {
                return Err(FetchFailure::InvalidRequest(format!(
                    "header {name:?} contains a line break"
                )));
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = request.body {
            if body.len() > self.policy.max_body_bytes {
                return Err(FetchFailure::TooLarge);
            }
            builder = builder.body(body);
        }
        if let Some(timeout) = request.timeout {
            builder = builder.timeout(timeout.min(self.policy.total_timeout));
        }
        let mut response = builder.send().await.map_err(|e| self.failure(&e))?;
        let remote_addr = response.remote_addr();
        if let Some(addr) = remote_addr {
            // The resolver and the literal check ran before connecting; this catches any path
            // that reached an address without them.
            let host = url.host_str().map(normalize_host);
            self.policy
                .check_addr(host.as_deref(), addr.ip())
                .map_err(FetchFailure::Denied)?;
        }
        let status = response.status().as_u16();
        let cap = self.policy.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > cap as u64)
        {
            return Err(FetchFailure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failure(&e))? {
            if body.len() + chunk.len() > cap {
                return Err(FetchFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            body,
            remote_addr,
        })
    }

    fn failure(&self, error: &reqwest::Error) -> FetchFailure {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<RefusedAddress>() {
                return FetchFailure::Denied(refused.refusal);
            }
            source = e.source();
        }
        if error.is_timeout() {
            FetchFailure::Timeout
        } else if error.is_builder() {
            FetchFailure::InvalidRequest(error.to_string())
        } else {
            FetchFailure::Connect(error_chain(error))
        }
    }
}

/// The error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes_of_refused_addresses() {
        let cases = [
            ("127.0.0.1", Some(Refusal::Loopback)),
            ("127.255.0.9", Some(Refusal::Loopback)),
            ("::1", Some(Refusal::Loopback)),
            ("10.1.2.3", Some(Refusal::Private)),
            ("172.16.0.1", Some(Refusal::Private)),
            ("192.168.1.1", Some(Refusal::Private)),
            ("100.64.0.1", Some(Refusal::Private)),
            ("fd12::1", Some(Refusal::Private)),
            ("169.254.1.1", Some(Refusal::LinkLocal)),
            ("fe80::1", Some(Refusal::LinkLocal)),
            ("169.254.169.254", Some(Refusal::Metadata)),
            ("fd00:ec2::254", Some(Refusal::Metadata)),
            ("100.100.100.200", Some(Refusal::Metadata)),
            ("0.0.0.0", Some(Refusal::Unspecified)),
            ("::", Some(Refusal::Unspecified)),
            ("224.0.0.1", Some(Refusal::Multicast)),
            ("255.255.255.255", Some(Refusal::Multicast)),
            ("ff02::1", Some(Refusal::Multicast)),
            ("192.0.2.1", Some(Refusal::Reserved)),
            ("240.0.0.1", Some(Refusal::Reserved)),
            ("2001:db8::1", Some(Refusal::Reserved)),
            ("::ffff:127.0.0.1", Some(Refusal::Loopback)),
            ("::ffff:169.254.169.254", Some(Refusal::Metadata)),
            ("64:ff9b::a00:1", Some(Refusal::Private)),
            ("2002:7f00:1::", Some(Refusal::Loopback)),
            ("93.184.216.34", None),
            ("2606:2800:220:1:248:1893:25c8:1946", None),
        ];
        for (addr, expected) in cases {
            assert_eq!(classify(ip(addr)), expected, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_opens_loopback_and_private_but_never_link_local() {
        let policy = NetPolicy::default()
            .allow("127.0.0.1")
            .unwrap()
            .allow("10.0.0.0/8")
            .unwrap()
            .allow("169.254.0.0/16")
            .unwrap();
        assert_eq!(policy.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check_ip(ip("127.0.0.2")), Err(Refusal::Loopback));
        assert_eq!(policy.check_ip(ip("10.9.9.9")), Ok(()));
        assert_eq!(policy.check_ip(ip("169.254.1.1")), Err(Refusal::LinkLocal));
        assert_eq!(
            policy.check_ip(ip("169.254.169.254")),
            Err(Refusal::Metadata)
        );
        assert!(NetPolicy::default().allow("10.0.0.0/99").is_err());
        assert!(NetPolicy::default().allow(" ").is_err());
    }

    #[test]
    fn urls_are_judged_before_connecting() {
        let policy = NetPolicy::default();
        let check = |u: &str| policy.check_url(&url::Url::parse(u).unwrap());
        assert_eq!(check("ftp://example.com/"), Err(Refusal::Scheme));
        assert_eq!(check("file:///etc/passwd"), Err(Refusal::Scheme));
        assert_eq!(check("http://2130706433/"), Err(Refusal::Loopback));
        assert_eq!(check("http://0x7f.1/"), Err(Refusal::Loopback));
        assert_eq!(check("http://[::ffff:7f00:1]/"), Err(Refusal::Loopback));
        assert_eq!(
            check("https://GRAPH.facebook.com./v20.0/"),
            Err(Refusal::BlockedHost)
        );
        assert_eq!(
            check("http://metadata.google.internal/"),
            Err(Refusal::BlockedHost)
        );
        assert_eq!(check("https://api.example.co.id/x"), Ok(()));
    }
}
