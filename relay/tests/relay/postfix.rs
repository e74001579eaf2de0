//! A real Postfix in front of the relay, as an organisation runs it
//! (`relayhost = [relay]:port`): a throwaway instance with its own
//! configuration and queue directories. Postfix's master runs as root and
//! its data directory must belong to `postfix`, so this test needs root
//! and Debian's `postfix` package; it is ignored otherwise: run it with
//! `cargo test -p kluis-relay --test relay -- --ignored postfix`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use lettre::{Message, Transport};

use crate::support::{Relay, Setup, eventually, free_port};

/// A Postfix instance relaying everything it gets to `relay_port`.
struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Postfix {
    fn start(relay_port: u16) -> Postfix {
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
                 mynetworks = 127.0.0.0/8\nmaillog_file = /dev/stdout\nsmtp_tls_security_level = none\n",
                queue.display(),
                data.display()
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
    let client = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
        .port(postfix.port)
        .tls(lettre::transport::smtp::client::Tls::None)
        .build();
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
    let client = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
        .port(postfix.port)
        .tls(lettre::transport::smtp::client::Tls::None)
        .build();
    let text = |to: &str, subject: &str, body: &str| {
        Message::builder()
            .from("alice@example.org".parse().unwrap())
            .to(to.parse().unwrap())
            .subject(subject)
            .body(body.to_string())
            .unwrap()
    };
    client
        .send(&text("bob@example.net", "Betaling", "Graag overmaken naar NL91 ABNA 0417 1643 00. SECRET-7314\r\n"))
        .unwrap();
    client.send(&text("carol@example.net", "Lunch", "Tot morgen. PLAIN-5521\r\n")).unwrap();
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
}
