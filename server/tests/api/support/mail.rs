//! The outbox: without a smarthost the server's mail worker writes every
//! message as `<data>/outbox/<time>-<id>.eml`.

use std::time::Duration;

use super::{Server, wait_for};

#[derive(Debug, Clone)]
pub struct Mail {
    pub file: String,
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl Mail {
    /// A code mail: its subject starts with the code.
    pub fn has_code(&self) -> bool {
        self.subject.len() > 6 && self.subject.bytes().take(6).all(|b| b.is_ascii_digit())
    }

    /// The six-digit code at the start of a code mail's subject.
    pub fn code(&self) -> String {
        let code: String = self.subject.chars().take(6).collect();
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "no code in {:?}", self.subject);
        code
    }
}

fn parse(file: String, text: String) -> Mail {
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    // Unfold continuation lines (RFC 5322 §2.2.3).
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let header = |name: &str| {
        unfolded
            .split("\r\n")
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
            .unwrap_or_default()
            .to_string()
    };
    Mail { file, to: header("To"), subject: header("Subject"), text }
}

impl Server {
    /// Every message written so far, oldest first.
    pub fn outbox(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.outbox_dir()) else { return Vec::new() };
        let mut mails: Vec<Mail> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".eml") && !name.starts_with('.'))
            .filter_map(|name| {
                let text = std::fs::read_to_string(self.outbox_dir().join(&name)).ok()?;
                Some(parse(name, text))
            })
            .collect();
        mails.sort_by(|a, b| a.file.cmp(&b.file));
        mails
    }

    /// Messages to `to`.
    pub fn mail_to(&self, to: &str) -> Vec<Mail> {
        self.outbox().into_iter().filter(|m| m.to == to).collect()
    }

    /// Waits (up to 10 s: the worker is woken at once, and polls every 5 s)
    /// for a message to `to` whose subject contains `subject`.
    #[track_caller]
    pub fn wait_for_mail(&self, to: &str, subject: &str) -> Mail {
        wait_for(Duration::from_secs(10), || self.mail_to(to).into_iter().find(|m| m.subject.contains(subject)))
            .unwrap_or_else(|| panic!("no mail to {to} about {subject:?}; outbox: {:#?}", self.outbox()))
    }

    /// Waits for the `n`-th code mailed to `to` (counting from 1) and returns the code.
    #[track_caller]
    pub fn wait_for_code(&self, to: &str, n: usize) -> String {
        let mails = wait_for(Duration::from_secs(10), || {
            let codes: Vec<Mail> = self.mail_to(to).into_iter().filter(Mail::has_code).collect();
            (codes.len() >= n).then_some(codes)
        })
        .unwrap_or_else(|| panic!("no code number {n} to {to}; outbox: {:#?}", self.outbox()));
        mails[n - 1].code()
    }
}
