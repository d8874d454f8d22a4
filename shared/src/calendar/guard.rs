//! The SSRF guard for calls to calendar servers whose address an expert typed in. We run
//! inside AWS, where a request to 169.254.169.254, to a VPC address or to a local port would
//! hand a hostile URL our credentials or our network, so nothing leaves for an address that
//! is not public:
//!
//! * [`OutboundPolicy::check_url`] refuses a URL before it is requested (scheme, credentials,
//!   IP-literal host). It must run on the URL given and on every redirect hop: reqwest never
//!   asks the resolver about an IP literal, so this is the only check such a host gets.
//! * [`client`] builds the reqwest client whose resolver refuses a name when any of its
//!   addresses is not public. The check happens on the very addresses the connection then
//!   uses, so a name that answers "public" to a first lookup and "internal" to a second
//!   (DNS rebinding) gains nothing.
//!
//! [`refused_by_guard`] tells a refusal (the expert must change the address) apart from an
//! ordinary connection failure (worth trying again).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest a TCP and TLS connection may take; a calendar server that is up answers far
/// sooner, and a dead one should not eat the whole request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where outbound calls to user-supplied servers may go.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    /// Hosts (names or IP literals, exact, case-insensitive) allowed even when local and over
    /// plain http — development only (Radicale on 127.0.0.1); empty in production.
    pub allowed_local_hosts: Vec<String>,
}

/// Why an address was refused, in words an expert can act on.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the server address must use https")]
    NotHttps,
    #[error(
        "the server address must not contain a user name or password; enter them in their own fields"
    )]
    Credentials,
    #[error("the server address has no host name")]
    NoHost,
    #[error("the server address points to a private or local network ({0})")]
    LocalAddress(IpAddr),
    #[error("the server name {host} points to a private or local network ({address})")]
    LocalName { host: String, address: IpAddr },
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

impl OutboundPolicy {
    /// Whether `host` (a name, an IPv4 literal, or an IPv6 literal with or without brackets)
    /// is in the development allow-list. IP literals compare as addresses, so "::1" matches
    /// "[::1]" and "0:0:0:0:0:0:0:1".
    pub fn allows_local(&self, host: &str) -> bool {
        let host_address = parse_ip_literal(host);
        self.allowed_local_hosts.iter().any(|allowed| {
            match (host_address, parse_ip_literal(allowed)) {
                (Some(host_address), Some(allowed_address)) => host_address == allowed_address,
                _ => allowed.eq_ignore_ascii_case(host),
            }
        })
    }

    /// Refuses a URL before anything is sent: https only (http for an allowed local host),
    /// no credentials in the URL, a host, and an IP-literal host that is public. Any port.
    /// A host name passes here; its addresses are checked by the [`client`]'s resolver.
    pub fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        let host = url.host_str().ok_or(GuardError::NoHost)?;
        let allowed_local = self.allows_local(host);
        match url.scheme() {
            "https" => {}
            "http" if allowed_local => {}
            _ => return Err(GuardError::NotHttps),
        }
        // Credentials would travel to whoever the URL names, and log lines print URLs.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GuardError::Credentials);
        }
        // The url crate has already normalised every IPv4 spelling (0x7f.1, 2130706433) to
        // dotted decimal for http(s), so parsing host_str sees the address reqwest will use.
        match parse_ip_literal(host) {
            Some(address) if !allowed_local && !is_public(address) => {
                Err(GuardError::LocalAddress(address))
            }
            _ => Ok(()),
        }
    }

    /// Refuses the addresses a name resolved to when any of them is not public, unless the
    /// name is in the allow-list. All of them, because the connector may try any.
    pub fn check_resolved(&self, host: &str, addresses: &[IpAddr]) -> Result<(), GuardError> {
        if self.allows_local(host) {
            return Ok(());
        }
        match addresses.iter().find(|address| !is_public(**address)) {
            Some(address) => Err(GuardError::LocalName {
                host: host.to_owned(),
                address: *address,
            }),
            None => Ok(()),
        }
    }
}

/// An IP literal as it appears in a URL host or in the allow-list.
fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    unbracketed.parse().ok()
}

/// Whether an address is one a server on the public Internet can have. Everything reserved,
/// private, local, shared, multicast or for documentation is refused, and so is every IPv6
/// form that embeds such an IPv4 address and would reach it through translation.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    let refused = a == 0 // "this network", incl. 0.0.0.0
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // CGNAT shared space 100.64/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, incl. the instance metadata 169.254.169.254
        || (a == 172 && (16..32).contains(&b)) // private
        // IETF protocol assignments (DS-Lite, NAT64 discovery); no calendar server lives there.
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast, deprecated
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast 255.255.255.255
    !refused
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    let segments = address.segments();
    // ::ffff:a.b.c.d is an IPv4 address reached over IPv4 by a dual-stack socket.
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 well-known prefix 64:ff9b::/96: a translator would reach the embedded address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(segments[6], segments[7]));
    }
    // Only 2000::/3 is allocated global unicast. Outside it: ::, ::1, the deprecated
    // IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, local-use NAT64
    // 64:ff9b:1::/48, discard 100::/64, SRv6 5f00::/16, unique-local fc00::/7 (incl. the
    // instance metadata fd00:ec2::254), link-local fe80::/10, site-local fec0::/10,
    // multicast ff00::/8.
    if segments[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23 is IETF protocol assignments: Teredo 2001::/32 (whose embedded client
    // address could be anything and which we cannot reach anyway), benchmarking 2001:2::/48,
    // ORCHID and anycast service addresses; none is a calendar server.
    if segments[0] == 0x2001 && segments[1] < 0x0200 {
        return false;
    }
    // Documentation 2001:db8::/32 and 3fff::/20.
    if (segments[0] == 0x2001 && segments[1] == 0x0db8) || segments[0] & 0xf000 == 0x3000 {
        return false;
    }
    // 6to4 2002:aabb:ccdd::/48 tunnels to the IPv4 address aa.bb.cc.dd.
    if segments[0] == 0x2002 {
        return is_public_v4(embedded_v4(segments[1], segments[2]));
    }
    true
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// What a host lookup yields: every address of the name.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses; the guard judges them before any connection.
pub trait HostLookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system resolver, as reqwest would use it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        })
    }
}

/// A fixed table of names (case-insensitive) and their addresses, for tests and local
/// set-ups: the guard still judges every answer, unlike `ClientBuilder::resolve` overrides,
/// which reqwest answers without asking the resolver.
#[derive(Clone, Debug, Default)]
pub struct StaticLookup {
    addresses_by_host: HashMap<String, Vec<IpAddr>>,
}

impl StaticLookup {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>) -> Self {
        StaticLookup {
            addresses_by_host: entries
                .into_iter()
                .map(|(host, addresses)| (host.to_ascii_lowercase(), addresses))
                .collect(),
        }
    }
}

impl HostLookup for StaticLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let found = self
            .addresses_by_host
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("unknown host {host}")));
        Box::pin(std::future::ready(found))
    }
}

/// reqwest's resolver: looks the name up, then refuses it unless every address is allowed.
struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
    lookup: Arc<dyn HostLookup>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let policy = Arc::clone(&self.policy);
        let lookup = self.lookup.lookup(&host);
        Box::pin(async move {
            let addresses = lookup.await?;
            if addresses.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no addresses for {host}"),
                )
                .into());
            }
            if let Err(refusal) = policy.check_resolved(&host, &addresses) {
                // Worth an alert: either a typo'd address or someone probing our network.
                tracing::warn!(%host, ?addresses, "outbound call refused: {refusal}");
                return Err(refusal.into());
            }
            // Port 0: reqwest puts the URL's port, or the scheme's, in its place.
            let socket_addresses: Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|address| SocketAddr::new(address, 0)),
            );
            Ok(socket_addresses)
        })
    }
}

/// The reqwest client for user-supplied servers: names resolved through `lookup` and the
/// guard, no redirects followed (the caller follows them, calling `check_url` on each hop),
/// `timeout` for the whole request and a shorter one for connecting, no proxy taken from the
/// environment, TLS by rustls. Without local hosts allowed, plain http is refused as well.
pub fn client(
    policy: OutboundPolicy,
    lookup: impl HostLookup,
    timeout: Duration,
) -> Result<reqwest::Client, GuardError> {
    let https_only = policy.allowed_local_hosts.is_empty();
    let resolver = GuardedResolver {
        policy: Arc::new(policy),
        lookup: Arc::new(lookup),
    };
    reqwest::Client::builder()
        .dns_resolver(resolver)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .no_proxy()
        .https_only(https_only)
        .tls_backend_rustls()
        .build()
        .map_err(GuardError::Client)
}

/// The guard's reason when `error` is a refusal by the client's resolver (reqwest reports it
/// as a connect error, like a server that is down); `None` for any other failure.
pub fn refused_by_guard(error: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(refusal) = current.downcast_ref::<GuardError>() {
            return Some(refusal.to_string());
        }
        cause = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn development(hosts: &[&str]) -> OutboundPolicy {
        OutboundPolicy {
            allowed_local_hosts: hosts.iter().map(|host| host.to_string()).collect(),
        }
    }

    #[test]
    fn addresses_are_public_or_refused() {
        let table = [
            // IPv4 public
            ("93.184.215.14", true),
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("17.253.144.10", true),
            ("100.63.255.255", true),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.32.0.0", true),
            ("192.0.1.1", true),
            ("198.17.255.255", true),
            ("198.20.0.0", true),
            ("223.255.255.255", true),
            // IPv4 refused
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("169.254.169.254", false),
            ("169.254.170.2", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.0.0.170", false),
            ("192.0.2.1", false),
            ("192.88.99.1", false),
            ("192.168.1.1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            // IPv6 public
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001:80b::200e", true),
            ("2001:200::1", true),
            ("2002:5db8:d70e::1", true), // 6to4 of 93.184.215.14
            ("64:ff9b::808:808", true),  // NAT64 of 8.8.8.8
            ("::ffff:8.8.8.8", true),    // mapped 8.8.8.8
            // IPv6 refused
            ("::", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:0.0.0.0", false),
            ("::127.0.0.1", false),        // IPv4-compatible, deprecated
            ("::8.8.8.8", false),          // IPv4-compatible, deprecated, even when public
            ("::ffff:0:7f00:1", false),    // IPv4-translated
            ("64:ff9b::7f00:1", false),    // NAT64 of 127.0.0.1
            ("64:ff9b::a9fe:a9fe", false), // NAT64 of 169.254.169.254
            ("64:ff9b:1::a00:1", false),   // local-use NAT64
            ("100::1", false),             // discard
            ("2001::1", false),            // Teredo
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false), // Teredo
            ("2001:2::1", false),          // benchmarking
            ("2001:db8::1", false),        // documentation
            ("3fff::1", false),            // documentation
            ("2002:7f00:1::1", false),     // 6to4 of 127.0.0.1
            ("2002:a9fe:a9fe::1", false),  // 6to4 of 169.254.169.254
            ("2002:c0a8:101::1", false),   // 6to4 of 192.168.1.1
            ("5f00::1", false),            // SRv6
            ("fc00::1", false),
            ("fd00:ec2::254", false), // the instance metadata over IPv6
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", false), // site-local, deprecated
            ("ff02::1", false),
            ("ff0e::1", false),
        ];
        for (address, public) in table {
            assert_eq!(is_public(ip(address)), public, "{address}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let production = OutboundPolicy::default();
        let radicale = development(&["127.0.0.1", "::1", "Radicale.Local"]);
        let table: Vec<(&OutboundPolicy, &str, Result<(), &str>)> = vec![
            (&production, "https://caldav.icloud.com/", Ok(())),
            (&production, "https://caldav.example.com:8443/dav/", Ok(())),
            (&production, "https://93.184.215.14/", Ok(())),
            (&production, "https://[2606:4700:4700::1111]/", Ok(())),
            (
                &production,
                "http://caldav.icloud.com/",
                Err("the server address must use https"),
            ),
            (
                &production,
                "ftp://caldav.example.com/",
                Err("the server address must use https"),
            ),
            (&production, "https://127.0.0.1/", Err("(127.0.0.1)")),
            (&production, "https://[::1]/", Err("(::1)")),
            (
                &production,
                "https://[::ffff:127.0.0.1]/",
                Err("(::ffff:127.0.0.1)"),
            ),
            (
                &production,
                "https://169.254.169.254/latest/meta-data/",
                Err("(169.254.169.254)"),
            ),
            (&production, "https://10.0.0.1:8443/", Err("(10.0.0.1)")),
            // Other IPv4 spellings are normalised by the URL parser before we see them.
            (&production, "https://0x7f.1/", Err("(127.0.0.1)")),
            (&production, "https://2130706433/", Err("(127.0.0.1)")),
            (
                &production,
                "https://user:pw@caldav.example.com/",
                Err("user name or password"),
            ),
            (
                &production,
                "https://user@caldav.example.com/",
                Err("user name or password"),
            ),
            (
                &production,
                "http://127.0.0.1:5232/",
                Err("the server address must use https"),
            ),
            // Development: the listed hosts may be local and plain http, nothing else may.
            (&radicale, "http://127.0.0.1:5232/", Ok(())),
            (&radicale, "http://[::1]:5232/", Ok(())),
            (&radicale, "http://radicale.local:5232/", Ok(())),
            (
                &radicale,
                "http://127.0.0.2:5232/",
                Err("the server address must use https"),
            ),
            (&radicale, "https://127.0.0.2/", Err("(127.0.0.2)")),
            (
                &radicale,
                "http://caldav.icloud.com/",
                Err("the server address must use https"),
            ),
        ];
        for (policy, address, expected) in table {
            let outcome = policy.check_url(&url(address)).map_err(|e| e.to_string());
            match (outcome, expected) {
                (Ok(()), Ok(())) => {}
                (Err(message), Err(fragment)) => {
                    assert!(message.contains(fragment), "{address}: {message}")
                }
                (outcome, expected) => panic!("{address}: {outcome:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn a_local_address_is_named_for_the_expert() {
        let refusal = OutboundPolicy::default()
            .check_url(&url("https://169.254.169.254/"))
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "the server address points to a private or local network (169.254.169.254)"
        );
    }

    #[test]
    fn a_name_is_refused_when_any_of_its_addresses_is_local() {
        let production = OutboundPolicy::default();
        let public = [ip("93.184.215.14"), ip("2606:4700:4700::1111")];
        assert!(
            production
                .check_resolved("caldav.example.com", &public)
                .is_ok()
        );
        let mixed = [ip("93.184.215.14"), ip("10.0.0.1")];
        let refusal = production
            .check_resolved("caldav.example.com", &mixed)
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "the server name caldav.example.com points to a private or local network (10.0.0.1)"
        );
        let development = development(&["radicale.local"]);
        assert!(
            development
                .check_resolved("RADICALE.local", &[ip("127.0.0.1")])
                .is_ok()
        );
    }

    /// A client for names only the test table knows; every request goes through it.
    fn test_client(policy: OutboundPolicy, table: &[(&str, &str)]) -> reqwest::Client {
        let lookup = StaticLookup::new(
            table
                .iter()
                .map(|(host, address)| (*host, vec![ip(address)])),
        );
        client(policy, lookup, Duration::from_secs(2)).unwrap()
    }

    #[tokio::test]
    async fn a_name_for_the_metadata_service_is_refused_before_connecting() {
        let http = test_client(
            OutboundPolicy::default(),
            &[("metadata.evil.test", "169.254.169.254")],
        );
        let error = http
            .get("https://metadata.evil.test/latest/meta-data/")
            .send()
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error:?}");
        assert_eq!(
            refused_by_guard(&error).as_deref(),
            Some(
                "the server name metadata.evil.test points to a private or local network (169.254.169.254)"
            )
        );
    }

    #[tokio::test]
    async fn a_name_for_a_private_address_is_refused_before_connecting() {
        let http = test_client(
            OutboundPolicy::default(),
            &[("intranet.evil.test", "10.0.0.1")],
        );
        let error = http
            .get("https://intranet.evil.test:8443/")
            .send()
            .await
            .unwrap_err();
        let reason = refused_by_guard(&error).unwrap();
        assert!(
            reason.ends_with("private or local network (10.0.0.1)"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_name_for_a_mapped_loopback_address_is_refused_before_connecting() {
        let http = test_client(
            OutboundPolicy::default(),
            &[("mapped.evil.test", "::ffff:127.0.0.1")],
        );
        let error = http
            .get("https://mapped.evil.test/")
            .send()
            .await
            .unwrap_err();
        let reason = refused_by_guard(&error).unwrap();
        assert!(reason.ends_with("(::ffff:127.0.0.1)"), "{reason}");
    }

    #[tokio::test]
    async fn a_local_name_is_refused_even_over_http_in_development() {
        // The allow-list opens plain http for the client, but only its own hosts may be local.
        let http = test_client(
            development(&["radicale.local"]),
            &[("other.local", "127.0.0.1")],
        );
        let error = http
            .get("http://other.local:5232/")
            .send()
            .await
            .unwrap_err();
        assert!(refused_by_guard(&error).is_some(), "{error:?}");
    }

    #[tokio::test]
    async fn an_unknown_name_is_an_ordinary_failure_not_a_refusal() {
        let http = test_client(OutboundPolicy::default(), &[]);
        let error = http.get("https://nowhere.test/").send().await.unwrap_err();
        assert!(error.is_connect(), "{error:?}");
        assert_eq!(refused_by_guard(&error), None);
    }

    #[tokio::test]
    async fn plain_http_is_refused_by_the_production_client() {
        // Mapped to loopback so that, were https_only missing, the resolver would refuse it
        // instead (and this test would fail) rather than anything being sent.
        let http = test_client(
            OutboundPolicy::default(),
            &[("caldav.example.test", "127.0.0.1")],
        );
        let error = http
            .get("http://caldav.example.test/")
            .send()
            .await
            .unwrap_err();
        assert!(!error.is_connect(), "{error:?}");
        assert_eq!(refused_by_guard(&error), None);
    }

    #[tokio::test]
    async fn an_allowed_local_name_reaches_the_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let read = socket.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the client hung up mid-request");
                request.extend_from_slice(&buffer[..read]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(request).unwrap()
        });
        let http = test_client(
            development(&["radicale.local"]),
            &[("radicale.local", "127.0.0.1")],
        );
        let response = http
            .get(format!("http://radicale.local:{port}/dav/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /dav/ HTTP/1.1\r\n"), "{request}");
    }
}
