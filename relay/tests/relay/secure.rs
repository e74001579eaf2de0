//! Securing: a message the policy asks to secure becomes a Kluis package on
//! a real kluis-server, and its recipient gets a notification whose link
//! opens it with the `kluis` command line, attachments byte for byte; every
//! decision is in the organisation's audit log, and the server holds no
//! plaintext.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::{Message, Transport};

use crate::support::kluis::KluisServer;
use crate::support::{Relay, Setup, eventually, found_in_files, mail_from_alice};

/// A relay that sends as relay@example.org through `server`, to the
/// upstream on `upstream_port`, with `delivery` as its `[delivery]`; and an
/// admin's token, to read the audit log.
fn relay_for(server: &KluisServer, upstream_port: u16, delivery: &str) -> (Relay, String) {
    let token = server.token("relay@example.org");
    let admin = server.admin_token("admin@example.org");
    let relay = Relay::start(Setup {
        upstream: Some(upstream_port),
        kluis: Some((server.url.clone(), token)),
        delivery: delivery.into(),
        ..Setup::default()
    });
    (relay, admin)
}

#[test]
fn a_message_to_secure_becomes_a_package_and_its_recipient_gets_a_working_link() {
    let server = KluisServer::start();
    let upstream = Relay::start(Setup::default());
    let (relay, admin) = relay_for(&server, upstream.port, "");
    let report: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let message = Message::builder()
        .from("Alice <alice@example.org>".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("[secure] Dossier 42")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("BODY-MARKER-8812: the dossier is attached.".to_string()))
                .singlepart(
                    Attachment::new("dossier.bin".into())
                        .body(report.clone(), ContentType::parse("application/octet-stream").unwrap()),
                ),
        )
        .unwrap();
    relay.lettre_plain().send(&message).unwrap();

    eventually("the notification", || upstream.spooled().len() == 1);
    eventually("the relay's spool to empty", || relay.spooled().is_empty());
    assert!(relay.log().contains("secured as a package"), "{}", relay.log());
    let notification = String::from_utf8(upstream.decrypt_with_age(&upstream.spooled()[0])).unwrap();
    assert!(notification.contains("Subject: [Kluis] [secure] Dossier 42"), "{notification}");
    assert!(notification.contains("alice@example.org") && notification.contains("To: <bob@example.net>"));
    assert!(!notification.contains("BODY-MARKER-8812"), "the message is in the package, not in the mail");
    let link = server.link_in(&notification);
    // The link secret is nowhere in the relay's state (it is sealed in the envelope while pending).
    let secret = link.split_once('#').unwrap().1;
    assert!(found_in_files(&relay.state(), secret.as_bytes()).is_empty());

    let work = tempfile::tempdir().unwrap();
    let got = server.receive(work.path(), &link, "bob@example.net");
    assert!(std::fs::read(work.path().join("in/dossier.bin")).unwrap() == report, "the attachment byte for byte");
    let shown = String::from_utf8_lossy(&got.stdout).into_owned() + &String::from_utf8_lossy(&got.stderr);
    assert!(shown.contains("BODY-MARKER-8812"), "the message text is shown: {shown}");

    // The decision is in the organisation's audit log: which rule, whose mail, which message, no content.
    let verdicts = server.relay_verdicts(&admin);
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    let verdict = &verdicts[0];
    assert_eq!((verdict["outcome"].as_str(), verdict["action"].as_str()), (Some("secured"), Some("block")));
    assert_eq!(verdict["triggers"], serde_json::json!(["subject_keyword"]));
    assert_eq!(verdict["sender"], "alice@example.org");
    assert_eq!(verdict["actor"], "user:relay@example.org");
    assert_eq!(verdict["note"], "secured by relay: the relay saw the plaintext");
    assert_eq!(verdict["package_id"].as_str(), link.split("/p/").nth(1).and_then(|rest| rest.split('#').next()));
    assert!(relay.log().contains(verdict["reference"].as_str().unwrap()), "the reference is the relay's id");

    // The leak scan: the server's database, blobs, outbox and log hold no plaintext and no link secret.
    for (what, needle) in [
        ("the message text", &b"BODY-MARKER-8812"[..]),
        ("the attachment", &report[100_000..100_064]),
        ("the link secret", secret.as_bytes()),
    ] {
        assert!(server.files_holding(needle).is_empty(), "{what} on the server: {:?}", server.files_holding(needle));
    }
}

#[test]
fn a_message_passed_through_is_audited_before_it_leaves_and_waits_while_the_server_is_away() {
    let mut server = KluisServer::start();
    let upstream = Relay::start(Setup::default());
    let (relay, admin) = relay_for(&server, upstream.port, "");
    let lunch = |subject: &str| mail_from_alice(&["bob@example.net"], subject, "At noon?");
    relay.lettre_plain().send(&lunch("Lunch")).unwrap();
    eventually("the message upstream", || upstream.spooled().len() == 1);
    let verdicts = server.relay_verdicts(&admin);
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    assert_eq!((verdicts[0]["outcome"].as_str(), verdicts[0]["action"].as_str()), (Some("sent"), Some("allow")));
    assert_eq!(verdicts[0]["note"], "decided by relay: the relay saw the plaintext");
    assert_eq!(verdicts[0]["package_id"], serde_json::Value::Null);

    // Without the server, nothing leaves unaudited: the message waits in the spool.
    server.stop();
    relay.lettre_plain().send(&lunch("Dinner")).unwrap();
    eventually("a deferral", || relay.log().contains("cannot record the decision in the audit log"));
    assert_eq!(upstream.spooled().len(), 1, "not passed on unaudited");
    assert_eq!(relay.spooled().len(), 1, "kept");
}

#[test]
fn kill_9_while_a_secured_message_is_half_delivered_makes_no_second_package_and_no_second_notification() {
    let server = KluisServer::start();
    // bob's notification is taken; later@'s is deferred (450) on every attempt.
    let sink = crate::support::sink::Sink::start();
    let (mut relay, admin) = relay_for(&server, sink.port, "retry = [\"1s\"]");
    let message = mail_from_alice(&["bob@example.net", "later@example.net"], "[secure] Contract", "CONTRACT-2207\r\n");
    relay.lettre_plain().send(&message).unwrap();
    eventually("bob's notification", || sink.messages().len() == 1);
    eventually("later's deferral", || relay.log().contains("deferred"));

    relay.kill_and_restart();
    eventually("attempts after the restart", || relay.log().matches("deferred").count() >= 2);
    assert_eq!(sink.messages().len(), 1, "bob is not notified twice");
    assert_eq!(sink.recipients()[0], ["bob@example.net"]);
    assert_eq!(server.audit_rows(&admin, "created").len(), 1, "one package");
    assert_eq!(server.relay_verdicts(&admin).len(), 1, "one decision");
    assert_eq!(relay.spooled().len(), 1, "kept for later@");
}
