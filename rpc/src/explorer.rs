//! The built-in explorer on the HTTP JSON-RPC port: `GET /` and `GET /assets/…` answer with the
//! embedded files of cpc-explorer, `GET /config.json` tells the page where the WebSocket API is.
//! Every other request (JSON-RPC is POST) goes on to the server unchanged.

use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;

/// What the page needs to know that the JSON-RPC API cannot tell it: where to subscribe.
#[derive(Clone, Debug, Default)]
pub struct ExplorerConfig {
    /// The WebSocket server's port when the node serves one (`--ws`); the page then subscribes
    /// to `newHeads` at `ws://<the host it was loaded from>:<port>`, else it polls.
    pub ws_port: Option<u16>,
    pub chain_id: String,
}

/// Whether this build carries the explorer's files (a checkout without `explorer/dist` has none).
pub fn explorer_built() -> bool {
    cpc_explorer::is_built()
}

/// The page may run only its own scripts and talk only to this node (its HTTP origin, and
/// the WebSocket port, which is another origin); uPlot sets inline styles.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

#[derive(Clone)]
pub(crate) struct ExplorerLayer(pub(crate) std::sync::Arc<ExplorerConfig>);

impl<S> tower::Layer<S> for ExplorerLayer {
    type Service = Explorer<S>;

    fn layer(&self, inner: S) -> Explorer<S> {
        Explorer { inner, cfg: self.0.clone() }
    }
}

#[derive(Clone)]
pub(crate) struct Explorer<S> {
    inner: S,
    cfg: std::sync::Arc<ExplorerConfig>,
}

fn response(status: http::StatusCode, content_type: &str, cache: &str, body: impl Into<HttpBody>) -> HttpResponse {
    let mut r = http::Response::new(body.into());
    *r.status_mut() = status;
    let h = r.headers_mut();
    let v = |s: &str| http::HeaderValue::from_str(s).expect("static header value");
    h.insert(http::header::CONTENT_TYPE, v(content_type));
    h.insert(http::header::CACHE_CONTROL, v(cache));
    h.insert(http::header::CONTENT_SECURITY_POLICY, v(CSP));
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, v("nosniff"));
    h.insert(http::header::REFERRER_POLICY, v("no-referrer"));
    r
}

/// The answer to a GET or HEAD the explorer serves, None for a request it leaves to JSON-RPC.
pub(crate) fn answer(cfg: &ExplorerConfig, method: &http::Method, uri: &http::Uri, host: Option<&str>) -> Option<HttpResponse> {
    if method != http::Method::GET && method != http::Method::HEAD {
        return None;
    }
    let head = method == http::Method::HEAD;
    let path = uri.path();
    let r = if path == "/config.json" {
        // The host the page was loaded from, without its port (an IPv6 literal keeps its
        // brackets); the WebSocket server listens on its own port.
        let hostname = host
            .map(|h| if h.starts_with('[') { h.split_inclusive(']').next().unwrap_or(h) } else { h.split(':').next().unwrap_or(h) })
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c)))
            .unwrap_or("127.0.0.1");
        let ws = cfg.ws_port.map(|p| format!("ws://{hostname}:{p}"));
        let body = serde_json::json!({"ws": ws, "chain_id": cfg.chain_id}).to_string();
        response(http::StatusCode::OK, "application/json", "no-store", body)
    } else if let Some(a) = cpc_explorer::asset(path) {
        let cache = if a.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
        response(http::StatusCode::OK, a.content_type, cache, a.bytes.to_vec())
    } else if path == "/" {
        response(
            http::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no-store",
            "this cpcd was built without the explorer's files (explorer/dist): run `npm run build` in explorer/ and rebuild\n",
        )
    } else {
        response(http::StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "no-store", format!("not found: {path}\n"))
    };
    Some(if head { r.map(|_| HttpBody::empty()) } else { r })
}

impl<S, B> tower::Service<HttpRequest<B>> for Explorer<S>
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
        let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok());
        match answer(&self.cfg, req.method(), req.uri(), host) {
            Some(r) => Box::pin(std::future::ready(Ok(r))),
            None => Box::pin(self.inner.call(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(cfg: &ExplorerConfig, path: &str, host: Option<&str>) -> Option<HttpResponse> {
        answer(cfg, &http::Method::GET, &path.parse().unwrap(), host)
    }

    #[test]
    fn post_goes_on_to_json_rpc_and_get_is_the_explorer() {
        let cfg = ExplorerConfig { ws_port: Some(8546), chain_id: "cpc-devnet-1".into() };
        assert!(answer(&cfg, &http::Method::POST, &"/".parse().unwrap(), None).is_none());
        assert!(answer(&cfg, &http::Method::OPTIONS, &"/".parse().unwrap(), None).is_none(), "CORS preflight is JSON-RPC's");
        let r = get(&cfg, "/nope", None).unwrap();
        assert_eq!(r.status(), 404);
        let r = get(&cfg, "/", None).unwrap();
        assert_eq!(r.status() == 200, cpc_explorer::is_built());
        assert!(r.headers()[http::header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'"));
    }

    #[test]
    fn the_websocket_address_is_on_the_host_the_page_came_from() {
        let cfg = ExplorerConfig { ws_port: Some(9000), chain_id: "c".into() };
        let ws = |host: Option<&str>| {
            let r = get(&cfg, "/config.json", host).unwrap();
            let body = futures_body(r);
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["ws"].clone()
        };
        assert_eq!(ws(Some("node.example:8545")), "ws://node.example:9000");
        assert_eq!(ws(Some("[::1]:8545")), "ws://[::1]:9000");
        assert_eq!(ws(None), "ws://127.0.0.1:9000");
        assert_eq!(ws(Some("evil\"/><script>")), "ws://127.0.0.1:9000", "a host header is not echoed unchecked");
        let none = ExplorerConfig { ws_port: None, chain_id: "c".into() };
        let body = futures_body(get(&none, "/config.json", None).unwrap());
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["ws"], serde_json::Value::Null);
    }

    fn futures_body(r: HttpResponse) -> String {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
