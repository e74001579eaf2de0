//! A real Postfix in front of the relay, as an organisation runs it
//! (`relayhost = [relay]:port`): a throwaway instance with its own
//! configuration and queue directories. Postfix's master runs as root and
//! its data directory must belong to `postfix`, so this test needs root
//! and Debian's `postfix` package; it is ignored otherwise: run it with
//! `cargo test -p kluis-relay --test relay -- --ignored postfix`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::{Message, Transport};

use crate::support::{Relay, Setup, eventually, free_port, mail_from_alice};

/// A Postfix instance relaying everything it gets to `relay_port`.
struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Postfix {
    fn start(relay_port: u16) -> Postfix {
        Postfix::start_with(relay_port, |_| String::new())
    }

    /// With more lines for main.cf, written by `extra` given the configuration directory.
    fn start_with(relay_port: u16, extra: impl FnOnce(&Path) -> String) -> Postfix {
        let dir = tempfile::tempdir().unwrap();
        // Postfix's daemons run as `postfix` and must reach the queue.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (etc, queue, data) = (dir.path().join("etc"), dir.path().join("queue"), dir.path().join("data"));
        for d in [&etc, &queue, &data] {
            std::fs::create_dir(d).unwrap();
        }
        let chown = Command::new("chown").arg("postfix").arg(&data).status().unwrap();
        assert!(chown.success(), "chown postfix");
        let port = free_port();
        std::fs::write(
            etc.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {}\ndata_directory = {}\ninet_interfaces = loopback-only\n\
                 inet_protocols = ipv4\nmyhostname = pf.test\nmydestination =\nrelayhost = [127.0.0.1]:{relay_port}\n\
                 mynetworks = 127.0.0.0/8\nmaillog_file = /dev/stdout\nsmtp_tls_security_level = none\n{}",
                queue.display(),
                data.display(),
                extra(&etc),
            ),
        )
        .unwrap();
        // Installed without a configuration (as .ci/run does) Debian may ship only the template.
        let master = std::fs::read_to_string("/etc/postfix/master.cf")
            .or_else(|_| std::fs::read_to_string("/usr/share/postfix/master.cf.dist"))
            .expect("Postfix's master.cf");
        let smtpd = master.lines().find(|l| l.starts_with("smtp ") && l.contains("inet")).expect("smtpd in master.cf");
        let master = master.replace(smtpd, &format!("127.0.0.1:{port} inet n - n - - smtpd"));
        std::fs::write(etc.join("master.cf"), master).unwrap();
        let log = std::fs::File::create(dir.path().join("maillog")).unwrap();
        let child = Command::new("postfix")
            .arg("-c")
            .arg(&etc)
            .arg("start-fg")
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("postfix");
        let postfix = Postfix { dir, port, child };
        eventually("Postfix to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        postfix
    }

    /// An SMTP client of this Postfix, as a mail program on its host would be.
    fn client(&self) -> lettre::SmtpTransport {
        lettre::SmtpTransport::builder_dangerous("127.0.0.1")
            .port(self.port)
            .tls(lettre::transport::smtp::client::Tls::None)
            .build()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix").arg("-c").arg(self.dir.path().join("etc")).arg("stop").status();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs root and Debian's postfix"]
fn postfix_relays_through_kluis_relay_into_its_spool() {
    assert!(Path::new("/usr/sbin/postfix").exists(), "apt-get install postfix");
    let relay = Relay::start(Setup::default());
    let postfix = Postfix::start(relay.port);
    let message = Message::builder()
        .from("alice@example.org".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("Through Postfix")
        .body("MARKER-POSTFIX-2291\r\n".to_string())
        .unwrap();
    let client = postfix.client();
    client.send(&message).unwrap();
    eventually("Postfix to hand the message to the relay", || relay.spooled().len() == 1);
    assert!(postfix.log().contains("status=sent (250 2.0.0 Ok: queued as "), "{}", postfix.log());
    let spooled = String::from_utf8(relay.decrypt_with_age(&relay.spooled()[0])).unwrap();
    assert!(spooled.starts_with("Received: from pf.test (127.0.0.1)"), "{spooled}");
    assert!(spooled.contains("by pf.test (Postfix)") && spooled.contains("MARKER-POSTFIX-2291"), "{spooled}");
}

/// The whole path: Postfix relays through kluis-relay, which reads
/// the organisation's content policy from a real kluis-server; a message
/// with an IBAN becomes a package and a notification, a harmless one goes
/// on unchanged.
#[test]
#[ignore = "needs root and Debian's postfix"]
fn behind_postfix_the_policy_secures_an_iban_and_passes_the_rest() {
    use crate::support::kluis::KluisServer;
    use crate::support::sink::Sink;

    assert!(Path::new("/usr/sbin/postfix").exists(), "apt-get install postfix");
    let server =
        KluisServer::start_with("[policy.content]\nmode = \"require\"\ninternal_domains = [\"example.org\"]\n");
    let token = server.token("relay@example.org");
    let upstream = Sink::start();
    let relay = Relay::start(Setup {
        upstream: Some(upstream.port),
        kluis: Some((server.url.clone(), token)),
        ..Setup::default()
    });
    let postfix = Postfix::start(relay.port);
    let client = postfix.client();
    // The message to secure carries a binary attachment, to come out of the package byte for byte.
    let scan: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let invoice = Message::builder()
        .from("alice@example.org".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("Betaling")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(
                    "Graag overmaken naar NL91 ABNA 0417 1643 00. SECRET-7314\r\n".to_string(),
                ))
                .singlepart(
                    Attachment::new("factuur-scan.bin".into())
                        .body(scan.clone(), ContentType::parse("application/octet-stream").unwrap()),
                ),
        )
        .unwrap();
    client.send(&invoice).unwrap();
    client.send(&mail_from_alice(&["carol@example.net"], "Lunch", "Tot morgen. PLAIN-5521\r\n")).unwrap();
    eventually("both messages upstream", || upstream.messages().len() == 2);
    eventually("the relay's spool to empty", || relay.spooled().is_empty());

    let messages: Vec<String> = upstream.messages().into_iter().map(|m| String::from_utf8(m).unwrap()).collect();
    let plain = messages.iter().find(|m| m.contains("PLAIN-5521")).expect("the harmless message passed through");
    assert!(plain.contains("Subject: Lunch") && plain.contains("by pf.test (Postfix)"), "{plain}");
    let notification = messages.iter().find(|m| !m.contains("PLAIN-5521")).unwrap();
    assert!(!notification.contains("SECRET-7314") && !notification.contains("NL91"), "{notification}");
    let link = server.link_in(notification);

    let work = tempfile::tempdir().unwrap();
    let got = server.receive(work.path(), &link, "bob@example.net");
    let shown = String::from_utf8_lossy(&got.stdout).into_owned() + &String::from_utf8_lossy(&got.stderr);
    assert!(shown.contains("SECRET-7314"), "the message text is in the package: {shown}");
    let received = std::fs::read(work.path().join("in/factuur-scan.bin")).unwrap();
    assert!(received == scan, "the attachment byte for byte through Postfix, the relay and the package");
}

/// Split mode as an organisation with Postfix runs it: Postfix sends all
/// outgoing mail to the relay, the relay hands what it passes (and its
/// notifications) back to Postfix with `X-Kluis-Relay: <loop_guard>`, and
/// Postfix's rule for that header (`header_checks`, the counterpart of
/// Exchange Online's mail flow rule exception) delivers it instead of
/// sending it to the relay again.
#[test]
#[ignore = "needs root and Debian's postfix"]
fn behind_postfix_in_split_mode_mail_comes_back_marked_and_postfix_delivers_it_once() {
    use crate::support::sink::Sink;

    const GUARD: &str = "k7Qf2mZx9LwB4nTr8VyC";
    assert!(Path::new("/usr/sbin/postfix").exists(), "apt-get install postfix");
    let internet = Sink::start();
    let relay_port = free_port();
    let postfix = Postfix::start_with(relay_port, |etc| {
        let checks = etc.join("header_checks");
        std::fs::write(&checks, format!("/^X-Kluis-Relay: {GUARD}$/ FILTER smtp:[127.0.0.1]:{}\n", internet.port))
            .unwrap();
        format!("header_checks = regexp:{}\n", checks.display())
    });
    let relay = Relay::start(Setup {
        port: Some(relay_port),
        upstream: Some(postfix.port),
        top: format!("mode = \"split\"\nloop_guard = \"{GUARD}\"\n"),
        ..Setup::default()
    });
    let client = postfix.client();
    let lunch = mail_from_alice(&["carol@example.net"], "Lunch", "Tot morgen. SPLIT-4410\r\n");
    client.send(&lunch).unwrap();

    eventually("the message delivered", || internet.messages().len() == 1);
    eventually("the relay's spool to empty", || relay.spooled().is_empty());
    let arrived = String::from_utf8(internet.messages()[0].clone()).unwrap();
    assert!(arrived.contains(&format!("X-Kluis-Relay: {GUARD}\r\n")) && arrived.contains("SPLIT-4410"), "{arrived}");
    assert_eq!(arrived.matches("by pf.test (Postfix)").count(), 2, "through Postfix twice: {arrived}");
    assert_eq!(internet.recipients()[0], ["carol@example.net"]);
    // Once to the relay, once to the world: no loop.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let log = postfix.log();
    assert_eq!(log.matches(&format!("relay=127.0.0.1[127.0.0.1]:{relay_port}")).count(), 1, "{log}");
    assert_eq!(log.matches(&format!("relay=127.0.0.1[127.0.0.1]:{}", internet.port)).count(), 1, "{log}");
    assert_eq!(internet.messages().len(), 1);
}
