//! Mail the server delivered to its outbox directory (`.eml` files).
//!
//! Mail leaves through a queue and a background worker, so tests wait for
//! it with a deadline. File names do not order mails within one second, so
//! "a new mail" means one whose file was not there at a [`Mark`] taken
//! before the request that sends it, never "the newest file".

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Server;

/// One delivered message, its body decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The file name in the outbox.
    pub file: String,
    pub to: String,
    pub subject: String,
    /// The whole message, quoted-printable decoded.
    pub text: String,
}

impl Mail {
    /// The 6-digit code on a line of its own.
    pub fn code(&self) -> String {
        self.text
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no code in the mail: {}", self.text))
            .to_string()
    }
}

/// The mails that were in the outbox at some moment.
pub struct Mark(HashSet<String>);

fn read_outbox(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut mails: Vec<Mail> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|path| {
            let text = decode_quoted_printable(&std::fs::read_to_string(&path).unwrap());
            let header = |name: &str| {
                text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).unwrap_or_default()
            };
            Mail {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                to: header("To:"),
                subject: header("Subject:"),
                text: text.clone(),
            }
        })
        .collect();
    mails.sort_by(|a, b| a.file.cmp(&b.file));
    mails
}

impl Server {
    /// Every delivered mail (ordered by file name: only roughly by time).
    pub fn mails(&self) -> Vec<Mail> {
        read_outbox(self.outbox())
    }

    /// Remembers which mails are there now.
    pub fn mark(&self) -> Mark {
        Mark(self.mails().into_iter().map(|m| m.file).collect())
    }

    /// Waits (15 s at most) for a mail to `to` that was not there at `mark`
    /// and for which `wanted` holds.
    pub fn wait_mail(&self, mark: &Mark, to: &str, wanted: impl Fn(&Mail) -> bool) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.mails().into_iter().find(|m| !mark.0.contains(&m.file) && m.to == to && wanted(m));
            if let Some(mail) = found {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no new mail to {to} arrived; outbox: {:?}",
                self.mails().iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The code in a new mail to `to` (one sent after `mark`).
    pub fn new_code(&self, mark: &Mark, to: &str) -> String {
        self.wait_mail(mark, to, |_| true).code()
    }

    /// New mails since `mark` to `to`.
    pub fn new_mails(&self, mark: &Mark, to: &str) -> Vec<Mail> {
        self.mails().into_iter().filter(|m| !mark.0.contains(&m.file) && m.to == to).collect()
    }

    /// Makes sure every mail queued before now has been delivered: asks a
    /// sign-in code for a new user of its own (codes to one address are
    /// limited to one a minute) and waits for it. The queue delivers in
    /// order, so anything queued earlier is out by then.
    pub fn flush_mail(&self) {
        let user = format!("mail-barrier-{}@example.org", self.barriers.fetch_add(1, Ordering::Relaxed));
        self.add_user(&user);
        let mark = self.mark();
        let answer = self.api().post("/auth/code", "", &kluis_protocol::api::SignInCodeRequest { email: user.clone() });
        assert_eq!(answer.status, 202, "{}", answer.text());
        self.wait_mail(&mark, &user, |m| m.subject.contains("sign-in code"));
    }

    /// Signs `email` in with a mailed code through the API; returns the new token.
    pub fn sign_in(&self, email: &str, label: &str) -> String {
        use kluis_protocol::api::{SignInCodeRequest, TokenCreated, TokenRequest};
        let api = self.api();
        let mark = self.mark();
        let answer = api.post("/auth/code", "", &SignInCodeRequest { email: email.into() });
        assert_eq!(answer.status, 202, "{}", answer.text());
        let code = self.wait_mail(&mark, email, |m| m.subject.contains("sign-in code")).code();
        let request = TokenRequest { email: email.into(), code, label: Some(label.into()) };
        let created: TokenCreated = api.post("/auth/token", "", &request).json();
        created.token
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
