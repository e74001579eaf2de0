//! Securing: a message the policy asks to secure becomes a Kluis package on
//! a real kluis-server, and its recipient gets a notification whose link
//! opens it with the `kluis` command line, attachments byte for byte.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::{Message, Transport};

use crate::support::kluis::KluisServer;
use crate::support::{Relay, Setup, eventually, found_in_files};

#[test]
fn a_message_to_secure_becomes_a_package_and_its_recipient_gets_a_working_link() {
    let server = KluisServer::start();
    let token = server.token("relay@example.org");
    let upstream = Relay::start(Setup::default());
    let relay = Relay::start(Setup {
        upstream: Some(upstream.port),
        kluis: Some((server.url.clone(), token)),
        ..Setup::default()
    });
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
}
