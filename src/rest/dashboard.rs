//! The web dashboard's static files: everything under `web/` in the source tree, embedded in
//! the binary by `build.rs` and served by the REST server — `index.html` at `/`, every file at
//! `/web/<path>`. Nothing is fetched from elsewhere: the page's Content-Security-Policy allows
//! only this server.
//!
//! For work on the dashboard itself, `RILL_WEB_DIR=DIR` makes the server read the files from
//! `DIR` at each request instead (edit, reload, no rebuild): a development aid, reading on the
//! server's worker thread.

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use actix_web::ResponseError;

use crate::rest::handlers::{echo, method_not_allowed};
use content_hash::fnv;

/// The same hash `build.rs` computes for the embedded files.
#[path = "content_hash.rs"]
mod content_hash;
use crate::rest::RestError;

/// The embedded files: (path under `web/`, bytes, content hash in hex).
static ASSETS: &[(&str, &[u8], &str)] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Where the files are read from instead of the embedded ones (`RILL_WEB_DIR`), if set.
static WEB_DIR: LazyLock<Option<PathBuf>> =
    LazyLock::new(|| std::env::var_os("RILL_WEB_DIR").map(PathBuf::from));

/// The policy every dashboard file is served with: scripts, styles, images and connections
/// from this server only (uPlot and the graph set inline `style` attributes).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The embedded file at `path` (relative to `web/`), with its content hash.
pub fn embedded(path: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, bytes, hash)| (*bytes, *hash))
}

/// The paths of every embedded file.
pub fn embedded_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(p, _, _)| *p)
}

/// The content type of a file, by its extension.
fn content_type(path: &str) -> &'static str {
    match Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// `path` as a relative path of plain names (no `..`, no root), or none.
fn clean(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let plain = p.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !path.is_empty()).then(|| p.to_path_buf())
}

/// The answer for file `path`: from `RILL_WEB_DIR` when set, else embedded; 304 when the
/// client's `If-None-Match` names the same content.
fn file(req: &HttpRequest, path: &str) -> HttpResponse {
    let Some(rel) = clean(path) else {
        return not_found_for(req);
    };
    let (bytes, hash): (std::borrow::Cow<'static, [u8]>, String) = match WEB_DIR.as_ref() {
        Some(dir) => match std::fs::read(dir.join(rel)) {
            Ok(b) => {
                let hash = format!("{:016x}", fnv(&b));
                (b.into(), hash)
            }
            Err(_) => return not_found_for(req),
        },
        None => match embedded(path) {
            Some((b, h)) => (b.into(), h.to_string()),
            None => return not_found_for(req),
        },
    };
    let etag = format!("\"{hash}\"");
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut answer = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ));
    match (fresh, bytes) {
        (true, _) => answer.finish(),
        // The embedded files are sent from the binary's memory, not copied.
        (false, std::borrow::Cow::Borrowed(b)) => answer.body(bytes::Bytes::from_static(b)),
        (false, std::borrow::Cow::Owned(b)) => answer.body(b),
    }
}

/// The JSON 404 every other unknown path gets.
fn not_found_for(req: &HttpRequest) -> HttpResponse {
    RestError::NotFound(echo(req.path())).error_response()
}

/// `GET /`: the dashboard's page.
async fn index(req: HttpRequest) -> HttpResponse {
    file(&req, "index.html")
}

/// `GET /web/{path}`: one of the dashboard's files.
async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    file(&req, &path)
}

/// Registers `/`, `/index.html` and `/web/{path}`.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/", "/index.html"])
            .default_service(web::to(method_not_allowed))
            .route(web::get().to(index)),
    )
    .service(
        web::resource("/web/{path:.*}")
            .default_service(web::to(method_not_allowed))
            .route(web::get().to(asset)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_libraries_are_embedded_with_their_hash() {
        let (page, hash) = embedded("index.html").expect("index.html embedded");
        assert!(std::str::from_utf8(page)
            .expect("utf-8")
            .contains("<title>"));
        assert_eq!(*hash, format!("{:016x}", fnv(page)));
        for lib in ["vendor/dagre.esm.js", "vendor/uPlot.esm.js", "app.js"] {
            assert!(embedded(lib).is_some(), "{lib} embedded");
        }
        assert!(embedded("nope.js").is_none());
    }

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert!(clean("views/jobs.js").is_some());
        for bad in ["", "../Cargo.toml", "/etc/passwd", "views/../../x", "./a"] {
            assert!(clean(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("a/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("vendor/uPlot.LICENSE"),
            "text/plain; charset=utf-8"
        );
    }
}
