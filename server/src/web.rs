//! The static pages (`web/`), the routes that map to them, and the headers
//! every response carries: one set per route tree, chosen in one place
//! ([`Headers::for_path`]).

use std::time::Instant;

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};

use crate::State;
use crate::config::Config;

/// The Outlook hosts that frame the add-in's pages: Outlook on the web (work
/// or school, and outlook.live.com for personal accounts), new Outlook on
/// Windows (a WebView2 host on the same origins), Microsoft's consolidated
/// `cloud.microsoft` domain. (Office on the web's `*.officeapps.live.com`
/// frames Word and Excel, not Outlook: left out.) Classic Outlook on Windows and Mac load the
/// pages top-level in a web view, with no ancestor to check. Sovereign
/// clouds are added with `[addin] frame_ancestors`.
pub(crate) const OUTLOOK_HOSTS: &[&str] = &[
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook.live.com",
    "https://outlook.cloud.microsoft",
    "https://*.cloud.microsoft",
];

/// Where Office.js and the host scripts it loads come from.
const OFFICE_JS: &str = "https://appsforoffice.microsoft.com";

/// Route trees with their own headers, most specific first; every other path gets the site's.
const TREES: &[(&str, Tree)] = &[
    ("/addin/icons/", Tree::AddinIcons),
    // Pages, their scripts (the event handler /addin/commands.js too), the manifest.
    ("/addin/", Tree::Addin),
    // The admin console: the site's headers, but framed by nothing (not even itself).
    ("/admin/", Tree::Admin),
];

#[derive(Clone, Copy)]
enum Tree {
    Site,
    Addin,
    AddinIcons,
    Admin,
}

type HeaderSet = Vec<(HeaderName, HeaderValue)>;

/// The security headers of every route tree, made once from the configuration.
pub(crate) struct Headers {
    site: HeaderSet,
    addin: HeaderSet,
    addin_icons: HeaderSet,
    admin: HeaderSet,
}

impl Headers {
    pub(crate) fn new(config: &Config) -> Headers {
        let mut common = vec![
            ("x-content-type-options", "nosniff".to_string()),
            ("referrer-policy", "no-referrer".to_string()),
            ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()".to_string()),
        ];
        if config.public_url.starts_with("https://") {
            common.push(("strict-transport-security", "max-age=63072000; includeSubDomains".to_string()));
        }
        // WebAssembly needs 'wasm-unsafe-eval'; nothing else may run script, and
        // pages fetch only from this server.
        let csp = |script_src: &str, frame_ancestors: &str| {
            format!(
                "default-src 'self'; script-src {script_src}; worker-src 'self'; connect-src 'self'; \
                 img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                 frame-ancestors {frame_ancestors}"
            )
        };
        let site = [
            ("content-security-policy", csp("'self' 'wasm-unsafe-eval'", "'self'")),
            ("cross-origin-opener-policy", "same-origin".to_string()),
            ("cross-origin-resource-policy", "same-origin".to_string()),
        ];
        let ancestors: Vec<&str> = std::iter::once("'self'")
            .chain(OUTLOOK_HOSTS.iter().copied())
            .chain(config.addin.frame_ancestors.iter().map(String::as_str))
            .collect();
        let addin = [
            // Framed by the Outlook hosts (no X-Frame-Options, which cannot name them),
            // running Office.js from Microsoft's CDN, WebAssembly and workers from here.
            ("content-security-policy", csp(&format!("'self' 'wasm-unsafe-eval' {OFFICE_JS}"), &ancestors.join(" "))),
            // unsafe-none, so the Office dialog API keeps working: in Outlook on the web and
            // new Outlook, displayDialogAsync opens the dialog page with window.open from the
            // Outlook origin and messageParent answers through window.opener. A dialog page
            // with COOP same-origin (or same-origin-allow-popups) is put in a browsing context
            // group of its own, loses its cross-origin opener, and the add-in sees error 12006
            // (Microsoft: "Best practices and rules for the Office Dialog API"). In the task
            // pane's iframe COOP has no effect either way.
            ("cross-origin-opener-policy", "unsafe-none".to_string()),
            // Loaded by Outlook's own origins (frames, the ribbon's icons, the event runtime).
            ("cross-origin-resource-policy", "cross-origin".to_string()),
        ];
        // The admin console: what the send page has, and never in a frame (clickjacking an
        // admin's "Remove" or "Disable"); X-Frame-Options for browsers without frame-ancestors.
        let admin = [
            ("content-security-policy", csp("'self'", "'none'")),
            ("cross-origin-opener-policy", "same-origin".to_string()),
            ("cross-origin-resource-policy", "same-origin".to_string()),
            ("x-frame-options", "DENY".to_string()),
        ];
        // Ribbon icons must be cacheable (Microsoft's manifest rules: no no-cache/no-store).
        let icons = [("cache-control", "public, max-age=86400".to_string())];
        // Names in lower case, as HTTP/2 sends them and `HeaderName::from_static` wants them.
        let build = |sets: &[&[(&'static str, String)]]| -> HeaderSet {
            sets.iter()
                .flat_map(|set| set.iter())
                .map(|(name, value)| {
                    (
                        HeaderName::from_static(name),
                        HeaderValue::from_str(value).expect("header values are visible ASCII (checked config)"),
                    )
                })
                .collect()
        };
        Headers {
            site: build(&[&common, &site]),
            addin: build(&[&common, &addin]),
            addin_icons: build(&[&common, &addin, &icons]),
            admin: build(&[&common, &admin]),
        }
    }

    /// The set for a request path: the first tree of [`TREES`] it falls under, else the site's.
    fn for_path(&self, path: &str) -> &HeaderSet {
        let tree = TREES.iter().find(|(prefix, _)| path.starts_with(prefix)).map_or(Tree::Site, |(_, tree)| *tree);
        match tree {
            Tree::Site => &self.site,
            Tree::Addin => &self.addin,
            Tree::AddinIcons => &self.addin_icons,
            Tree::Admin => &self.admin,
        }
    }
}

/// Middleware on every request: the headers of the request's route tree,
/// unless the handler set one itself. (Handlers and extractors answer their
/// errors as responses, which get them too.)
pub(crate) async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<State>().cloned();
    let path = req.path().to_owned();
    let mut response = next.call(req).await?;
    if let Some(state) = state {
        let headers = response.headers_mut();
        for (name, value) in state.headers.for_path(&path) {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(response)
}

/// The header that carries a request's id, from a load balancer in front
/// or made here, and back in the response.
const REQUEST_ID: &str = "x-request-id";

/// A request id from outside is taken if it is short and plain (it goes into logs).
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| hex::encode(crate::secrets::random_bytes::<8>()), str::to_string)
}

/// One log line per request (method, path but never the query, status,
/// time), everything logged while it is served tagged with its request id
/// (`X-Request-Id`: the load balancer's, so one id follows a request across
/// nodes, or a new one), and the request counted in the metrics.
pub(crate) async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use tracing::Instrument;
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let id = request_id(&req);
    let request_bytes = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let state = req.app_data::<State>().cloned();
    let span = tracing::info_span!("request", id = %id);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let took = started.elapsed();
    span.in_scope(|| tracing::info!(%method, %path, status, ms = took.as_millis() as u64, "request"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID), value);
    }
    if let Some(state) = state {
        let response_bytes = match response.response().body().size() {
            actix_web::body::BodySize::Sized(n) => n,
            _ => 0,
        };
        state.metrics.request(&method, status, took, request_bytes, response_bytes);
    }
    Ok(response)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &Config) {
    let dir = config.web_dir();
    let receive = dir.join("receive.html");
    let recipient_page = move |req: HttpRequest| {
        let page = receive.clone();
        async move { NamedFile::open_async(page).await.map(|f| f.into_response(&req)) }
    };
    let page = |name: &str| {
        let file = dir.join(name);
        move |req: HttpRequest| {
            let file = file.clone();
            async move { NamedFile::open_async(file).await.map(|f| f.into_response(&req)) }
        }
    };
    let sent_page = page("sent.html");
    let send_check = dir.join("pkg/kluis-commands.js");
    cfg.route("/p/{id}", web::get().to(recipient_page.clone()))
        // The sender's sent items (headers of the site tree, like the send page).
        .route("/sent", web::get().to(sent_page))
        // The signed-in user's inbox, and the uploader's page of an upload request (/r/<id>#<recipient>).
        .route("/inbox", web::get().to(page("inbox.html")))
        .route("/r/{id}", web::get().to(page("upload.html")))
        // An organisation's upload portal: the same page.
        .route("/upload/{name}", web::get().to(page("upload.html")))
        // The same recipient page under /addin/, where Outlook may frame it ("Open with Kluis").
        .route("/addin/p/{id}", web::get().to(recipient_page))
        // The admin console lives at /admin/ (its index.html); without the slash (any method), go there.
        .route(
            "/admin",
            web::route().to(|| async {
                HttpResponse::PermanentRedirect().insert_header((actix_web::http::header::LOCATION, "/admin/")).finish()
            }),
        )
        .route(
            "/addin/commands.js",
            web::get().to(move |state: State| {
                let bundle = send_check.clone();
                async move { send_check_script(&state.config.public_url, &bundle).await }
            }),
        )
        .service(Files::new("/", dir).index_file("index.html").prefer_utf8(true));
}

/// The send check for Outlook: the bundle xtask builds (detectors compiled
/// to JavaScript, then web/addin/commands-handler.js) with this server's
/// URL in front, because classic Outlook runs it with no page to take an
/// origin from.
async fn send_check_script(public_url: &str, bundle: &std::path::Path) -> HttpResponse {
    match tokio::fs::read_to_string(bundle).await {
        Ok(script) => {
            let url = serde_json::to_string(public_url).unwrap_or_else(|_| "\"\"".into());
            HttpResponse::Ok()
                .content_type("text/javascript; charset=utf-8")
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-cache"))
                .body(format!("var KLUIS_SERVER = {url};\n{script}"))
        }
        Err(e) => {
            tracing::error!(path = %bundle.display(), error = %e, "the send check is not built: `cargo xtask run` builds web/pkg");
            HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("The send check is not built.")
        }
    }
}
