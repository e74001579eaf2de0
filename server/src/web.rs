//! The static pages (`web/`), the routes that map to them, and the headers
//! every response carries.

use std::time::Instant;

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpRequest, web};

use crate::config::Config;

/// Security headers. WebAssembly needs `'wasm-unsafe-eval'`; nothing else
/// may run script, and pages fetch only from this server.
pub(crate) fn security_headers(config: &Config) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; \
             img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'self'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"));
    if config.public_url.starts_with("https://") {
        headers = headers.add(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"));
    }
    headers
}

/// One log line per request: method, path (never the query), status, time.
pub(crate) async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let response = next.call(req).await?;
    tracing::info!(%method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    Ok(response)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &Config) {
    let dir = config.web_dir();
    let receive = dir.join("receive.html");
    cfg.route(
        "/p/{id}",
        web::get().to(move |req: HttpRequest| {
            let page = receive.clone();
            async move { NamedFile::open_async(page).await.map(|f| f.into_response(&req)) }
        }),
    )
    .service(Files::new("/", dir).index_file("index.html").prefer_utf8(true));
}
