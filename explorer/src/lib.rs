//! The built-in explorer's files, embedded at build time from `explorer/dist/` (see build.rs).
//! The node serves them on GET at its HTTP JSON-RPC port; the page talks to the node only
//! through the public JSON-RPC / WebSocket API.

/// `(path, bytes)` of every built file, `path` from the site root (`/index.html`, `/assets/…`).
pub static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// A file to answer a GET with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// Whether the name carries a content hash (Vite's `assets/name-HASH.ext`), so that a
    /// browser may keep it for good; `index.html` must be asked for again each time.
    pub immutable: bool,
}

/// The file served for a request path: `/` is `/index.html`; a query string is ignored.
/// None for anything not in the build (also for `..` tricks: only exact table paths match).
pub fn asset(path: &str) -> Option<Asset> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let path = if path == "/" { "/index.html" } else { path };
    let (_, bytes) = ASSETS.iter().find(|(p, _)| *p == path)?;
    Some(Asset { bytes, content_type: content_type(path), immutable: path.starts_with("/assets/") })
}

/// Whether the build has any file at all (a checkout without `explorer/dist` has none).
pub fn is_built() -> bool {
    asset("/").is_some()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_of_the_build_are_served() {
        assert_eq!(asset("/../Cargo.toml"), None);
        assert_eq!(asset("/nope.js"), None);
        assert_eq!(asset("/assets/"), None);
        if is_built() {
            let index = asset("/").unwrap();
            assert_eq!(Some(index), asset("/index.html?x=1"));
            assert_eq!(index.content_type, "text/html; charset=utf-8");
            assert!(!index.immutable);
            let html = std::str::from_utf8(index.bytes).unwrap();
            // Every file the page names is in the table, and nothing comes from another host.
            for (p, _) in ASSETS {
                if p.starts_with("/assets/") && (p.ends_with(".js") || p.ends_with(".css")) {
                    assert!(asset(p).unwrap().immutable, "{p}");
                }
            }
            for src in html.split(['"', '\'']).filter(|s| s.starts_with("./assets/") || s.starts_with("/assets/")) {
                let p = src.trim_start_matches('.');
                assert!(asset(p).is_some(), "index.html names {src}, not in the build");
            }
            assert!(!html.contains("http://") && !html.contains("https://"), "nothing from the web: {html}");
        }
    }
}
