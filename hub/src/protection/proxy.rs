//! Whose word to take for the client's address. A request's peer is the client unless the peer
//! is a trusted proxy (`TRUSTED_PROXIES`); only then are `X-Forwarded-For` and
//! `X-Forwarded-Proto` believed. From anyone else those headers are removed before any handler
//! sees them, so a client cannot pick its own rate-limit key or pretend to have used HTTPS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request},
    http::HeaderName,
};
use ipnet::IpNet;

use super::ProtectionError;

/// The believed client address, put in the request's extensions by the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The forwarded headers a proxy sets and a client must not.
const FORWARDED: [HeaderName; 3] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("forwarded"),
];

/// The CIDR blocks of `TRUSTED_PROXIES`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads a comma-separated list of CIDR blocks or single addresses.
    pub fn parse(text: &str) -> Result<Self, ProtectionError> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ProtectionError::BadProxy(item.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of `request`: the peer, or behind trusted proxies the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy. Forwarded headers from an
    /// untrusted peer are removed. Records the result as [`ClientAddr`].
    pub fn resolve(&self, request: &mut Request) -> IpAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| {
                info.0.ip().to_canonical()
            });
        let client = if self.trusts(peer) {
            let forwarded: Vec<IpAddr> = request
                .headers()
                .get_all(&FORWARDED[0])
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|item| item.trim().parse::<IpAddr>().ok())
                .map(|address| address.to_canonical())
                .collect();
            forwarded
                .iter()
                .rev()
                .find(|address| !self.trusts(**address))
                .or(forwarded.first())
                .copied()
                .unwrap_or(peer)
        } else {
            for name in &FORWARDED {
                request.headers_mut().remove(name);
            }
            peer
        };
        request.extensions_mut().insert(ClientAddr(client));
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request_from(peer: [u8; 4], forwarded_for: &str) -> Request {
        let mut request = Request::builder()
            .header("x-forwarded-for", forwarded_for)
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .expect("request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 4000))));
        request
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").expect("parses");
        let mut behind = request_from([10, 1, 2, 3], "198.51.100.9, 10.0.0.5");
        assert_eq!(
            proxies.resolve(&mut behind),
            IpAddr::from([198, 51, 100, 9])
        );
        assert!(behind.headers().contains_key("x-forwarded-proto"));
        let mut direct = request_from([203, 0, 113, 4], "198.51.100.9");
        assert_eq!(proxies.resolve(&mut direct), IpAddr::from([203, 0, 113, 4]));
        assert!(!direct.headers().contains_key("x-forwarded-for"));
        assert!(!direct.headers().contains_key("x-forwarded-proto"));
        assert!(TrustedProxies::parse("not-a-net").is_err());
    }
}
