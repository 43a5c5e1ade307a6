//! Who may talk to the node from a browser. A web page the operator visits can reach
//! `127.0.0.1` too: by **DNS rebinding** (its own name, `evil.example`, made to resolve to
//! 127.0.0.1, so the page is same-origin with the node and may read every answer) or, for the
//! WebSocket server, directly (browsers let any page open a WebSocket anywhere and only say
//! where the page came from, in `Origin`). The built-in explorer makes such visits likely.
//!
//! So, as geth does with `--http.vhosts` / `--ws.origins`:
//! - every HTTP request's `Host` must be an IP literal (rebinding needs a name) or a name of
//!   `--http.vhosts` (default `localhost`; `*` for any); the WebSocket server takes any name
//!   (a remote worker names its node as it likes) and relies on the Origin rule;
//! - a WebSocket upgrade that carries an `Origin` (browsers always send one; other clients
//!   need not) must come from a page on localhost, a loopback address, the node's own
//!   addresses, or a host of `--ws.origins` (`*` for any).
//!
//! A refused request gets 403 with a line saying what was refused and which flag allows it.

use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

/// The rules of one server.
#[derive(Clone, Debug, Default)]
pub struct HostRules {
    /// Host names (besides IP literals) a request may name in `Host`; `*` for any.
    pub vhosts: Vec<String>,
    /// WebSocket only: hosts a browser page's `Origin` may have besides localhost, loopback
    /// and `own`; `*` for any. None: no Origin check (the HTTP server: CORS governs it).
    pub origins: Option<Vec<String>>,
    /// The addresses the node's own servers are reached at (its explorer page's origin).
    pub own: Vec<IpAddr>,
}

/// The host of an authority (`name:port`, `[v6]:port`, `name`), lowercased, brackets kept off.
fn host_part(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') { rest.split(']').next().unwrap_or("") } else { a.rsplit_once(':').map_or(a, |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { a }) };
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn listed(list: &[String], host: &str) -> bool {
    list.iter().any(|v| v == "*" || v.eq_ignore_ascii_case(host.trim_end_matches('.')))
}

impl HostRules {
    /// Why the request is refused, or None when it may go on.
    pub fn refuse(&self, host: Option<&str>, origin: Option<&str>, upgrade: bool) -> Option<String> {
        let Some(host) = host else { return Some("a request without a Host header".into()) };
        let name = host_part(host);
        if name.parse::<IpAddr>().is_err() && !listed(&self.vhosts, &name) {
            return Some(format!("Host {host:?} is not allowed (IP addresses and --http.vhosts {:?} are)", self.vhosts.join(",")));
        }
        if let (true, Some(origins), Some(origin)) = (upgrade, &self.origins, origin) {
            // "scheme://host[:port]"; "null" (sandboxed frames, files) has no host.
            let o = origin.split_once("://").map(|(_, rest)| host_part(rest.split('/').next().unwrap_or(""))).unwrap_or_default();
            let ok = !o.is_empty()
                && (o == "localhost"
                    || o.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback() || self.own.contains(&ip))
                    || listed(origins, &o));
            if !ok {
                return Some(format!("a WebSocket from a page of Origin {origin:?} is not allowed (localhost, this node's addresses and --ws.origins {:?} are)", origins.join(",")));
            }
        }
        None
    }
}

#[derive(Clone)]
pub(crate) struct HostLayer(pub(crate) Arc<HostRules>);

impl<S> tower::Layer<S> for HostLayer {
    type Service = HostGuard<S>;

    fn layer(&self, inner: S) -> HostGuard<S> {
        HostGuard { inner, rules: self.0.clone() }
    }
}

#[derive(Clone)]
pub(crate) struct HostGuard<S> {
    inner: S,
    rules: Arc<HostRules>,
}

impl<S, B> tower::Service<HttpRequest<B>> for HostGuard<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest<B>) -> Self::Future {
        let header = |name: http::header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
        let upgrade = header(http::header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        // HTTP/2 carries the host in the URI's authority instead of a Host header.
        let host = header(http::header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
        match self.rules.refuse(host, header(http::header::ORIGIN), upgrade) {
            None => Box::pin(self.inner.call(req)),
            Some(why) => {
                tracing::debug!("refused: {why}");
                let mut r = http::Response::new(HttpBody::from(format!("{why}\n")));
                *r.status_mut() = http::StatusCode::FORBIDDEN;
                r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
                Box::pin(std::future::ready(Ok(r)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(vhosts: &[&str], origins: Option<&[&str]>) -> HostRules {
        HostRules {
            vhosts: vhosts.iter().map(|s| s.to_string()).collect(),
            origins: origins.map(|o| o.iter().map(|s| s.to_string()).collect()),
            own: vec!["10.0.0.5".parse().unwrap()],
        }
    }

    #[test]
    fn a_rebound_name_is_refused_and_addresses_and_listed_names_are_not() {
        let r = rules(&["localhost"], None);
        for ok in ["127.0.0.1:8545", "[::1]:8545", "10.1.2.3", "localhost:8545", "LOCALHOST.", "localhost"] {
            assert_eq!(r.refuse(Some(ok), None, false), None, "{ok}");
        }
        for bad in ["evil.example:8545", "evil.example", "localhost.evil.example:8545", "127.0.0.1.nip.io:8545"] {
            let why = r.refuse(Some(bad), None, false).unwrap();
            assert!(why.contains("--http.vhosts"), "{why}");
        }
        assert!(r.refuse(None, None, false).is_some(), "no Host at all");
        assert_eq!(rules(&["*"], None).refuse(Some("anything.example"), None, false), None);
        assert_eq!(rules(&["node.example"], None).refuse(Some("Node.Example:443"), None, false), None);
    }

    #[test]
    fn a_websocket_from_another_site_is_refused() {
        let r = rules(&["localhost"], Some(&["dash.example"]));
        let ws = |origin: Option<&str>| r.refuse(Some("127.0.0.1:8546"), origin, true);
        for ok in [None, Some("http://127.0.0.1:8545"), Some("http://localhost:3000"), Some("http://[::1]:8545"), Some("http://10.0.0.5:8545"), Some("https://dash.example")] {
            assert_eq!(ws(ok), None, "{ok:?}");
        }
        for bad in ["https://evil.example", "null", "http://10.0.0.6:8545", "http://127.0.0.1.evil.example", "file://"] {
            let why = ws(Some(bad)).unwrap();
            assert!(why.contains("--ws.origins"), "{bad}: {why}");
        }
        // Not an upgrade: the Origin is CORS's business (the HTTP server has no origin rule).
        assert_eq!(r.refuse(Some("127.0.0.1:8546"), Some("https://evil.example"), false), None);
        assert_eq!(rules(&["localhost"], None).refuse(Some("127.0.0.1"), Some("https://evil.example"), true), None);
        assert_eq!(rules(&["localhost"], Some(&["*"])).refuse(Some("127.0.0.1"), Some("https://evil.example"), true), None);
    }
}
