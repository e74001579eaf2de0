//! Whether an address is known must not show in the answers: a user and a
//! stranger signing in, a recipient and a stranger asking a package for a
//! code, get the same sequence of answers, rate limits and locks included.
//! An address the mailer could not send to is a 400 naming it, never a 500.

use serde_json::{Value, json};

use crate::support::flow;
use crate::support::{Request, Response, Server};

/// What a client can observe of an answer: status, body and `Retry-After`.
#[derive(Debug)]
struct Seen {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl From<Response> for Seen {
    fn from(r: Response) -> Seen {
        let body = if r.body.is_empty() { Value::Null } else { r.json() };
        Seen { status: r.status, body, retry_after: r.header("retry-after").map(|v| v.parse().unwrap()) }
    }
}

/// Equal answers. The two clients' requests run milliseconds apart, so a
/// time to wait may differ by one second where a second boundary fell in between.
#[track_caller]
fn assert_same(step: usize, known: &Seen, unknown: &Seen) {
    let close = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => a.abs_diff(b) <= 1,
        (a, b) => a == b,
    };
    let mut known_body = known.body.clone();
    let mut unknown_body = unknown.body.clone();
    let known_wait = known_body["error"].as_object_mut().and_then(|e| e.remove("retry_after"));
    let unknown_wait = unknown_body["error"].as_object_mut().and_then(|e| e.remove("retry_after"));
    assert!(
        known.status == unknown.status
            && known_body == unknown_body
            && close(known.retry_after, unknown.retry_after)
            && close(known_wait.and_then(|v| v.as_u64()), unknown_wait.and_then(|v| v.as_u64())),
        "answer {step} tells the addresses apart:\n known:   {known:?}\n unknown: {unknown:?}"
    );
}

/// Runs the same steps for a known and an unknown address, each from its own client, in turn.
/// One request, for an address.
type Step<'a> = &'a dyn Fn(&str) -> Request;

fn compare(steps: &[Step]) -> Vec<(Seen, Seen)> {
    let (known, unknown) = (("known@example.org", "192.0.2.10"), ("stranger@example.org", "192.0.2.20"));
    let mut answers = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let a = Seen::from(step(known.0).client(known.1).send());
        let b = Seen::from(step(unknown.0).client(unknown.1).send());
        assert_same(i + 1, &a, &b);
        answers.push((a, b));
    }
    answers
}

fn statuses(answers: &[(Seen, Seen)]) -> Vec<u16> {
    answers.iter().map(|(a, _)| a.status).collect()
}

#[test]
fn sign_in_answers_are_the_same_for_a_user_and_a_stranger_including_limits_and_locks() {
    let server = Server::start(|c| c.limits.public_requests_per_minute = 15);
    server.add_user("known@example.org");
    let code = |email: &str| server.post("/api/v1/auth/code").json(&json!({ "email": email }));
    let token = |email: &str| server.post("/api/v1/auth/token").json(&json!({ "email": email, "code": "000000" }));
    let mut steps: Vec<Step> = vec![&code, &code];
    steps.extend(std::iter::repeat_n(&token as Step, 11));
    steps.extend([&code as Step, &code, &token]);
    let answers = compare(&steps);
    // Sent; too soon for another; nine wrong codes; locked for the day; still
    // locked, also for new codes (the lock outlasts the send limit, so it is
    // what the answer names); then the per-minute limit of the client.
    let mut expected = vec![202, 429];
    expected.extend([401; 9]);
    expected.extend([429, 429, 429, 429, 429]);
    assert_eq!(statuses(&answers), expected);
    let codes: Vec<String> =
        answers.iter().map(|(a, _)| a.body["error"]["code"].as_str().unwrap_or("").into()).collect();
    assert_eq!(&codes[9..], ["wrong_code", "wrong_code", "locked", "locked", "locked", "locked", "rate_limited"]);
    // Only the user got mail: a code, and the lock.
    assert_eq!(server.wait_for_code("known@example.org", 1).len(), 6);
    server.wait_for_mail("known@example.org", "locked");
    assert!(server.mail_to("stranger@example.org").is_empty());
}

#[test]
fn recipient_code_answers_are_the_same_for_a_recipient_and_a_stranger_including_limits_and_locks() {
    let server = Server::start(|c| c.limits.public_requests_per_minute = 10);
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["known@example.org"], "verify": "email" }));
    let proof = sent.proof();
    let code = |email: &str| flow::request_code(&server, &sent.id, &proof, email);
    let access = |email: &str| flow::access(&server, &sent.id, &proof, Some(email), Some("000000"));
    let mut steps: Vec<Step> = vec![&code, &code];
    steps.extend(std::iter::repeat_n(&access as Step, 6));
    steps.extend([&code as Step, &code, &access]);
    let answers = compare(&steps);
    // Sent; too soon; four wrong codes; locked for good; still locked; too
    // soon for a code; then the per-minute limit of the client.
    assert_eq!(statuses(&answers), [202, 429, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    assert_eq!(server.wait_for_code("known@example.org", 1).len(), 6);
    assert!(server.mail_to("stranger@example.org").is_empty());
}

#[test]
fn an_address_the_mailer_cannot_send_to_is_a_400_naming_it_not_a_500() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = flow::send(&server, &alice, json!({ "recipients": ["bob@example.org"], "verify": "email" }));
    let long = format!("{}@example.org", "a".repeat(65));
    for bad in
        ["a(b@x.org", "a..b@x.org", "a@[1.2.3.4]", "\"a b\"@x.org", "a@localhost", "a b@x.org", "a@x.org>", &long]
    {
        let answers = [
            server.post("/api/v1/auth/code").json(&json!({ "email": bad })).send(),
            server.post("/api/v1/auth/token").json(&json!({ "email": bad, "code": "123456" })).send(),
            flow::request_code(&server, &sent.id, &sent.proof(), bad).send(),
            flow::access(&server, &sent.id, &sent.proof(), Some(bad), Some("123456")).send(),
        ];
        for answer in answers {
            let answer = answer.expect_error(400, "invalid_email");
            let named = format!("{bad:?}");
            assert!(answer.message().contains(&named), "the message does not name {named}: {}", answer.message());
        }
    }
    assert!(server.outbox().is_empty());
}
