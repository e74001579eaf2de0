//! Guessing one-time codes: budgets of wrong codes per address of a package
//! (5, for its life), per package (20, for its life), per sign-in address
//! (10 a day) and per client address (50 an hour), none of them reset by
//! asking for a new code. A package whose budget is spent is locked for
//! good, even for the right code, and its sender is told; a locked sign-in
//! is mailed to the user.

use serde_json::{Value, json};

use crate::support::flow::{self, Sent};
use crate::support::{Response, Server};

fn verified_package(server: &Server, token: &str, recipients: &[&str]) -> Sent {
    flow::send(server, token, json!({ "recipients": recipients, "verify": "email" }))
}

fn try_code(server: &Server, sent: &Sent, email: &str, code: &str) -> Response {
    flow::access(server, &sent.id, &sent.proof(), Some(email), Some(code)).send()
}

/// A code that is not `right`.
fn wrong(right: &str) -> &'static str {
    if right == "000000" { "111111" } else { "000000" }
}

#[track_caller]
fn expect_wrong(answer: Response, tries_left: i64) {
    let answer = answer.expect_error(401, "wrong_code");
    assert_eq!(answer.json()["error"]["tries_left"], tries_left, "{}", answer.text());
}

/// A lock for good: 429 `locked` without a time to retry.
#[track_caller]
fn expect_locked_for_good(answer: Response) -> Value {
    let answer = answer.expect_error(429, "locked");
    assert!(answer.header("retry-after").is_none(), "a lock for good with Retry-After: {}", answer.text());
    let error = answer.json()["error"].clone();
    assert!(error.get("retry_after").is_none(), "{error}");
    error
}

#[test]
fn wrong_verification_codes_count_across_new_codes_and_lock_the_address_after_five() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = verified_package(&server, &alice, &["bob@example.org"]);

    // Three guesses before any code was sent count as wrong codes.
    for left in [4, 3, 2] {
        expect_wrong(try_code(&server, &sent, "bob@example.org", "123456"), left);
    }
    // A new code does not reset the count.
    flow::request_code(&server, &sent.id, &sent.proof(), "bob@example.org").send().expect(202);
    let code = server.wait_for_code("bob@example.org", 1);
    expect_wrong(try_code(&server, &sent, "bob@example.org", wrong(&code)), 1);
    expect_locked_for_good(try_code(&server, &sent, "bob@example.org", wrong(&code)));
    // Now even the right code is refused, and no new code helps.
    expect_locked_for_good(try_code(&server, &sent, "bob@example.org", &code));
    let again = flow::request_code(&server, &sent.id, &sent.proof(), "bob@example.org").send();
    assert_eq!(again.status, 429, "{}", again.text());
    assert_eq!(flow::package(&server, &alice, &sent.id)["downloads"], 0);
}

#[test]
fn twenty_wrong_codes_lock_the_package_for_good_even_for_the_right_code_and_mail_the_sender() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let recipients = ["r1@example.org", "r2@example.org", "r3@example.org", "r4@example.org", "r5@example.org"];
    let sent = verified_package(&server, &alice, &[&recipients[..], &["r6@example.org"]].concat());
    // r5 has a real code before the package is locked.
    flow::request_code(&server, &sent.id, &sent.proof(), "r5@example.org").send().expect(202);
    let code = server.wait_for_code("r5@example.org", 1);

    // Four addresses spend their five guesses each: twenty, the package's budget.
    for r in &recipients[..4] {
        for left in [4, 3, 2, 1] {
            expect_wrong(try_code(&server, &sent, r, wrong(&code)), left);
        }
        let fifth = try_code(&server, &sent, r, wrong(&code)).expect_error(429, "locked");
        assert!(fifth.header("retry-after").is_none());
    }

    // Locked for good: the right code, a new code for another recipient.
    let error = expect_locked_for_good(try_code(&server, &sent, "r5@example.org", &code));
    assert!(error["message"].as_str().unwrap().contains("sender"), "{error}");
    expect_locked_for_good(flow::request_code(&server, &sent.id, &sent.proof(), "r6@example.org").send());
    expect_locked_for_good(try_code(&server, &sent, "r6@example.org", "123456"));

    let mail = server.wait_for_mail("alice@example.org", "locked");
    // Named as the sender knows it (files, recipients, date), not by its random id.
    assert!(mail.text.contains(" you sent to ") && !mail.text.contains(&sent.id), "{}", mail.text);
    let seen = flow::package(&server, &alice, &sent.id);
    assert_eq!(seen["downloads"], 0);
    let locked = seen["events"].as_array().unwrap().iter().filter(|e| e["event"] == "verification_locked").count();
    assert_eq!(locked, 1);
    assert!(server.mail_to("r6@example.org").is_empty(), "a locked package mailed a code");
}

fn sign_in(server: &Server, email: &str, code: &str, client: &str) -> Response {
    server.post("/api/v1/auth/token").client(client).json(&json!({ "email": email, "code": code })).send()
}

#[test]
fn ten_wrong_sign_in_codes_lock_the_address_for_the_day_from_any_client_and_mail_the_user() {
    let server = Server::start(|_| {});
    server.add_user("carol@example.org");
    // Wrong codes from several clients count for the address.
    for (i, left) in (4..=9).rev().enumerate() {
        let answer = sign_in(&server, "carol@example.org", "123456", &format!("192.0.2.{}", i + 1));
        expect_wrong(answer, left);
    }
    // A new code does not reset the count.
    server.post("/api/v1/auth/code").json(&json!({ "email": "carol@example.org" })).send().expect(202);
    let code = server.wait_for_code("carol@example.org", 1);
    for left in [3, 2, 1] {
        expect_wrong(sign_in(&server, "carol@example.org", wrong(&code), "192.0.2.50"), left);
    }
    let tenth = sign_in(&server, "carol@example.org", wrong(&code), "192.0.2.51").expect_error(429, "locked");
    // The lock is mailed at once (the answer wakes the mail worker), not at the worker's next round.
    let locked_at = std::time::Instant::now();
    let mail = server.wait_for_mail("carol@example.org", "locked");
    assert!(locked_at.elapsed() < std::time::Duration::from_millis(2500), "mailed after {:?}", locked_at.elapsed());
    assert!(mail.subject.contains("Sign-in"), "{}", mail.subject);
    let retry: u64 = tenth.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=86_400).contains(&retry), "Retry-After {retry}");
    // The right code is refused for the rest of the day, from any client.
    sign_in(&server, "carol@example.org", &code, "192.0.2.99").expect_error(429, "locked");
    assert_eq!(server.mail_to("carol@example.org").len(), 2, "a code and the lock");
}

#[test]
fn fifty_wrong_codes_from_one_client_lock_that_client_for_the_hour() {
    let server = Server::start(|_| {});
    let alice = server.token("alice@example.org");
    let sent = verified_package(&server, &alice, &["bob@example.org"]);
    let guesser = "203.0.113.50";
    // Ten addresses, five wrong sign-in codes each: no address budget is spent.
    for a in 0..10 {
        for left in [4, 3, 2, 1] {
            let n = a * 5 + (5 - left);
            let answer = sign_in(&server, &format!("u{a}@example.org"), "123456", guesser);
            expect_wrong(answer, (10 - (5 - left) as i64).min(50 - n as i64));
        }
        let fifth = sign_in(&server, &format!("u{a}@example.org"), "123456", guesser);
        if a < 9 {
            expect_wrong(fifth, 5);
        } else {
            fifth.expect_error(429, "locked");
        }
    }
    // The client is locked for the hour, for every kind of code.
    let locked = sign_in(&server, "fresh@example.org", "123456", guesser).expect_error(429, "locked");
    let retry: u64 = locked.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    let answer =
        flow::access(&server, &sent.id, &sent.proof(), Some("bob@example.org"), Some("123456")).client(guesser).send();
    assert_eq!(answer.status, 429, "{}", answer.text());
    // Other clients are not.
    expect_wrong(sign_in(&server, "fresh@example.org", "123456", "198.51.100.7"), 9);
    let other = flow::access(&server, &sent.id, &sent.proof(), Some("bob@example.org"), Some("123456"))
        .client("198.51.100.7")
        .send();
    expect_wrong(other, 4);
}
