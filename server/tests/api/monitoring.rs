//! What load balancers and monitoring read: liveness, readiness (both
//! stores), Prometheus metrics behind their token, and a request id on
//! every answer and log line.

use crate::support::Server;

const TOKEN: &str = "scrape-4f1c9a7e2b6d8053";

#[test]
fn readiness_checks_the_blob_store_as_well_as_the_database() {
    let server = Server::start(|c| c.blob_store = "fs".into());
    assert_eq!(server.get("/readyz").send().status, 200);
    // The blob store cannot take writes (its uploads directory is gone): alive, but not ready.
    std::fs::remove_dir_all(server.data_path("uploads")).unwrap();
    let ready = server.get("/readyz").send();
    assert_eq!((ready.status, ready.code()), (503, "not_ready".to_string()), "{}", ready.text());
    assert!(ready.text().contains("blob store"), "{}", ready.text());
    assert_eq!(server.get("/healthz").send().status, 200, "liveness is the database only");
    std::fs::create_dir(server.data_path("uploads")).unwrap();
    assert_eq!(server.get("/readyz").send().status, 200);
}

#[test]
fn metrics_answer_only_with_their_token_and_count_requests_mail_and_jobs() {
    let closed = Server::start(|_| {});
    assert_eq!(closed.get("/metrics").bearer(TOKEN).send().status, 404, "no token configured: no endpoint");

    let server = Server::start(|c| c.metrics.token = Some(TOKEN.into()));
    assert_eq!(server.get("/metrics").send().status, 404);
    assert_eq!(server.get("/metrics").bearer("scrape-4f1c9a7e2b6d8054").send().status, 404);
    for _ in 0..3 {
        server.get("/healthz").send();
    }
    server.get("/api/v1/nothing-here").send();
    let token = server.token("alice@example.org");
    let answer = server.get("/metrics").bearer(TOKEN).send();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = answer.text();
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
    };
    assert!(value("kluis_http_requests_total{method=\"GET\",status=\"2xx\"}") >= 3);
    assert!(value("kluis_http_requests_total{method=\"GET\",status=\"4xx\"}") >= 3, "the 404s");
    assert_eq!(value("kluis_http_errors_total"), 0);
    assert!(value("kluis_http_request_duration_seconds_count") >= 6);
    assert!(value("kluis_http_requests_in_flight") >= 1, "this one");
    assert!(text.contains("kluis_mail_queue_length ") && text.contains("kluis_job_runs_total{job=\"janitor\"}"));
    assert!(!text.contains(&token) && !text.contains(TOKEN), "no secrets");
}

#[test]
fn every_answer_carries_a_request_id_the_load_balancers_if_it_is_plain() {
    let server = Server::start(|_| {});
    let given = server.get("/healthz").header("X-Request-Id", "lb-7f3a.92_c").send();
    assert_eq!(given.header("x-request-id"), Some("lb-7f3a.92_c"));
    let made = server.get("/healthz").send();
    let id = made.header("x-request-id").expect("a request id").to_string();
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_ne!(server.get("/healthz").send().header("x-request-id"), Some(id.as_str()), "one per request");
    let odd = server.get("/healthz").header("X-Request-Id", "a b\tc<script>").send();
    assert_ne!(odd.header("x-request-id"), Some("a b\tc<script>"), "a header that is not plain is replaced");
}
