//! Package creation refuses what would not fit before anything is stored:
//! sizes that overflow or pass the limit, too many recipients.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Server;
use crate::support::flow;

fn sizes(sizes: &[u64]) -> Value {
    json!({ "verify": "none", "blobs": sizes.iter().map(|s| json!({ "size": s })).collect::<Vec<_>>() })
}

fn package_count(server: &Server, token: &str) -> usize {
    let list = server.get("/api/v1/packages").bearer(token).send().expect(200).json();
    list["packages"].as_array().unwrap().len()
}

const I64_MAX: u64 = i64::MAX as u64;

#[test]
fn blob_sizes_that_overflow_or_pass_the_limit_are_refused_with_413_and_create_nothing() {
    let limit = 10u64 << 30;
    let server = Server::start(|c| c.limits.max_package_bytes = limit);
    let alice = server.token("alice@example.org");
    for bad in [
        vec![I64_MAX, I64_MAX, 102],
        vec![I64_MAX, I64_MAX],
        vec![I64_MAX + 1],
        vec![u64::MAX],
        vec![u64::MAX, u64::MAX, 100],
        vec![limit + 1],
        vec![limit, 100],
        vec![limit / 2 + 1, limit / 2],
    ] {
        let answer = flow::create_package(&server, &alice, &sizes(&bad)).expect_error(413, "too_large");
        assert_eq!(answer.json()["error"]["limit"], limit, "{bad:?}: {}", answer.text());
    }
    assert_eq!(package_count(&server, &alice), 0, "a refused package was stored");
    // Nothing was reserved by the refused ones: the whole limit is still there.
    flow::create_package(&server, &alice, &sizes(&[limit - 100, 100])).expect(201);
    assert_eq!(package_count(&server, &alice), 1);
}

#[test]
fn sizes_past_i64_are_refused_and_reservations_past_i64_add_up_when_limits_are_set_that_high() {
    // An operator who means "no limit" may configure the largest number there is.
    let server = Server::start(|c| {
        c.limits.max_package_bytes = u64::MAX;
        c.limits.max_reserved_bytes_per_user = u64::MAX;
    });
    let alice = server.token("alice@example.org");
    for bad in [vec![I64_MAX, I64_MAX, 102], vec![I64_MAX, I64_MAX], vec![I64_MAX, 100], vec![I64_MAX + 1]] {
        let answer = flow::create_package(&server, &alice, &sizes(&bad)).expect_error(413, "too_large");
        assert_eq!(answer.json()["error"]["limit"], I64_MAX, "{bad:?}: the largest size the server can keep");
    }
    assert_eq!(package_count(&server, &alice), 0, "a refused package was stored");
    // The largest package there can be, then more: what is reserved adds up past i64.
    flow::create_package(&server, &alice, &sizes(&[I64_MAX - 200, 200])).expect(201);
    flow::create_package(&server, &alice, &sizes(&[100, 200])).expect(201);
    flow::create_package(&server, &alice, &sizes(&[100, 200])).expect(201);
}

fn with_recipients(recipients: Vec<String>) -> Value {
    json!({ "recipients": recipients, "verify": "email", "blobs": [{ "size": 100 }] })
}

#[test]
fn more_than_100_recipients_are_refused_at_once_even_when_they_are_duplicates() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let distinct: Vec<String> = (0..101).map(|i| format!("r{i}@example.org")).collect();
    flow::create_package(&server, &alice, &with_recipients(distinct.clone())).expect_error(400, "too_many_recipients");

    // As many copies of one address as fit in a request body: refused as
    // quickly, without de-duplicating them first.
    let copies = vec!["same@example.org".to_string(); 12_000];
    let started = Instant::now();
    flow::create_package(&server, &alice, &with_recipients(copies)).expect_error(400, "too_many_recipients");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(package_count(&server, &alice), 0);

    // 100 entries are fine, duplicates counted once.
    flow::create_package(&server, &alice, &with_recipients(distinct[..100].to_vec())).expect(201);
    let mut twice = distinct[..50].to_vec();
    twice.extend(distinct[..50].iter().map(|r| r.to_uppercase()));
    let created = flow::create_package(&server, &alice, &with_recipients(twice)).expect(201).json();
    assert_eq!(created["recipients"].as_array().unwrap().len(), 50);
}

#[test]
fn the_package_list_comes_a_page_at_a_time_newest_first() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let bob = server.token("bob@example.org");
    let mut made = Vec::new();
    for _ in 0..5 {
        let created = flow::create_package(&server, &alice, &sizes(&[200])).expect(201).json();
        made.push(created["id"].as_str().unwrap().to_string());
    }
    flow::create_package(&server, &bob, &sizes(&[200])).expect(201);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page =
            server.get(&format!("/api/v1/packages?limit=2&cursor={cursor}")).bearer(&alice).send().expect(200).json();
        let rows = page["packages"].as_array().unwrap().iter();
        seen.extend(
            rows.map(|p| (p["created_at"].as_str().unwrap().to_string(), p["id"].as_str().unwrap().to_string())),
        );
        match page["next"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    // Newest first; packages made in the same second by id, so no page repeats or skips one.
    let mut order = seen.clone();
    order.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, order, "newest first");
    let mut ids: Vec<String> = seen.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made, "every package of alice's once, none of bob's");
    assert_eq!(package_count(&server, &alice), 5, "without a limit: up to 100 at once");
    server.get("/api/v1/packages?cursor=1.x%20y").bearer(&alice).send().expect_error(400, "invalid_cursor");
}
