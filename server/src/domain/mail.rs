//! Mail leaves the request path: handlers put messages in a queue in the
//! metadata store, and a background worker ([`deliver_due`]) sends them with
//! retries, so a slow or failing mail server neither delays nor changes an
//! answer (which would tell known addresses from unknown ones), and nothing
//! is lost across a restart. Mail never carries a package link: the server
//! does not know the link secret.

use kluis_protocol::dates::{Language, long_date};

use super::{Domain, DomainResult, now};
use crate::mail::Mailer;

/// One message, in English and Dutch.
pub(crate) struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Seconds before the next try after `attempts` failed ones; `None`: give up.
fn backoff(attempts: i64) -> Option<i64> {
    const STEPS: &[i64] = &[30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600];
    STEPS.get(attempts as usize).copied()
}

pub(crate) async fn enqueue(domain: &Domain, mail: Mail) -> DomainResult<()> {
    domain.meta.enqueue_mail(&mail.to, &mail.subject, &mail.body, now()).await?;
    Ok(())
}

/// How long a mail being sent is claimed: longer than one attempt to send
/// it can take, so no other process sends it meanwhile; after a crash it is
/// due again this long after it was claimed.
const CLAIM_SECONDS: i64 = 300;

/// The longest one attempt to send a mail may take.
const SEND_LIMIT: std::time::Duration = std::time::Duration::from_secs(CLAIM_SECONDS as u64 / 3);

/// Mails sent per round at most, so the worker looks up again now and then.
const ROUND: usize = 50;

/// Sends what is due, each mail claimed first (several processes may share
/// the queue); returns how many were sent and how many attempts failed.
pub(crate) async fn deliver_due(domain: &Domain, mailer: &Mailer) -> DomainResult<(usize, usize)> {
    let (mut sent, mut failed) = (0, 0);
    for _ in 0..ROUND {
        let at = now();
        let Some(queued) = domain.meta.claim_due_mail(at, at + CLAIM_SECONDS).await? else { break };
        let mail = Mail { to: queued.to, subject: queued.subject, body: queued.body };
        // Bounded well inside the claim: a stalled mail server must neither hold the worker
        // (sign-in codes wait behind it) nor outlast the claim (another process would send it too).
        let attempt = tokio::time::timeout(SEND_LIMIT, mailer.send(&mail)).await;
        let result = attempt.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {} s", SEND_LIMIT.as_secs())));
        match result {
            Ok(()) => {
                domain.meta.mail_sent(queued.id).await?;
                sent += 1;
            }
            Err(e) => {
                failed += 1;
                let retry_at = backoff(queued.attempts).map(|s| now() + s);
                tracing::warn!(mail = queued.id, attempts = queued.attempts + 1, error = %format!("{e:#}"), gave_up = retry_at.is_none(), "mail not sent");
                domain.meta.mail_failed(queued.id, retry_at, &format!("{e:#}")).await?;
            }
        }
    }
    Ok((sent, failed))
}

pub(crate) fn signin_code(to: &str, code: &str, organisation: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("{code} is your {organisation} sign-in code / je inlogcode"),
        body: format!(
            "Your sign-in code for {organisation} is:\n\n    {code}\n\nIt is valid for 10 minutes. If you did not ask for it, ignore this message.\n\n\
             Je inlogcode voor {organisation} is:\n\n    {code}\n\nDe code is 10 minuten geldig. Heb je er niet om gevraagd, negeer dit bericht dan.\n"
        ),
    }
}

pub(crate) fn signin_locked(to: &str, organisation: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("Sign-in to {organisation} locked for today / inloggen geblokkeerd"),
        body: format!(
            "Someone entered too many wrong sign-in codes for your {organisation} account today, so signing in with a code \
             is locked until tomorrow. If that was not you, tell your administrator.\n\n\
             Iemand heeft vandaag te vaak een verkeerde inlogcode voor je {organisation}-account ingevoerd. Inloggen met een \
             code is daarom tot morgen geblokkeerd. Was jij dat niet, meld het dan bij je beheerder.\n"
        ),
    }
}

/// A package as its sender and recipients know it. Its subject is encrypted,
/// so mail names it by what the server does know: how many files, to whom,
/// and when it was sent ("the 2 files you sent to bob@example.org on
/// 27 November 2026"), never by its random id.
pub(crate) struct About<'a> {
    /// Files in the package (blobs after the manifest).
    pub files: usize,
    /// Who may open it.
    pub recipients: &'a [String],
    /// When it was created (Unix seconds).
    pub sent_at: i64,
}

impl About<'_> {
    fn files_en(&self) -> String {
        if self.files == 1 { "the file".into() } else { format!("the {} files", self.files) }
    }

    fn files_nl(&self) -> String {
        if self.files == 1 { "het bestand".into() } else { format!("de {} bestanden", self.files) }
    }

    fn to(&self, nobody: &str) -> String {
        if self.recipients.is_empty() { nobody.into() } else { self.recipients.join(", ") }
    }

    fn date(&self, language: Language) -> String {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(self.sent_at) else { return String::new() };
        long_date(at.year(), u8::from(at.month()), at.day(), language).unwrap_or_default()
    }

    /// "the 2 files you sent to bob@example.org on 27 November 2026"
    fn en(&self) -> String {
        format!("{} you sent to {} on {}", self.files_en(), self.to("your recipients"), self.date(Language::En))
    }

    /// "de 2 bestanden die je op 27 november 2026 naar bob@example.org stuurde"
    fn nl(&self) -> String {
        format!("{} die je op {} naar {} stuurde", self.files_nl(), self.date(Language::Nl), self.to("je ontvangers"))
    }
}

/// The code a recipient asked for: who sent what, and that the link comes in the sender's own mail.
pub(crate) fn verification_code(to: &str, code: &str, sender: &str, organisation: &str, files: usize) -> Mail {
    let (what_en, what_nl) = if files == 1 {
        ("a file".to_string(), "een bestand".to_string())
    } else {
        (format!("{files} files"), format!("{files} bestanden"))
    };
    Mail {
        to: to.into(),
        subject: format!("{code} is your code to open the files from {sender} / je code"),
        body: format!(
            "{sender} ({organisation}) sent you {what_en} through Kluis. Your code to open them is:\n\n    {code}\n\nIt is valid for 10 minutes. \
             The link to the files comes in {sender}'s own message; Kluis never sends it.\n\n\
             {sender} ({organisation}) heeft je {what_nl} gestuurd via Kluis. Je code om ze te openen is:\n\n    {code}\n\nDe code is 10 minuten geldig. \
             De link naar de bestanden staat in het bericht van {sender} zelf; Kluis verstuurt hem nooit.\n"
        ),
    }
}

/// The code an uploader asked for to send files through a request.
pub(crate) fn uploader_code(to: &str, code: &str, requester: &str, organisation: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("{code} is your code to send files to {requester} / je code"),
        body: format!(
            "{requester} ({organisation}) asked you for files through Kluis. Your code to send them is:\n\n    {code}\n\n\
             It is valid for 10 minutes. If you did not ask for it, ignore this message.\n\n\
             {requester} ({organisation}) heeft je via Kluis om bestanden gevraagd. Je code om ze te sturen is:\n\n    {code}\n\n\
             De code is 10 minuten geldig. Heb je er niet om gevraagd, negeer dit bericht dan.\n"
        ),
    }
}

/// To a requester: files came in (who sent how many; never names, the server has none).
pub(crate) fn files_received(to: &str, from: &str, verified: bool, files: usize) -> Mail {
    let (what_en, what_nl) = if files == 1 {
        ("a file".to_string(), "een bestand".to_string())
    } else {
        (format!("{files} files"), format!("{files} bestanden"))
    };
    let (proof_en, proof_nl) = if verified {
        ("who proved this address with a code", "die dit adres met een code heeft bevestigd")
    } else {
        ("whose address was not checked", "van wie het adres niet is gecontroleerd")
    };
    Mail {
        to: to.into(),
        subject: format!("{from} sent you files / bestanden ontvangen"),
        body: format!(
            "{from} ({proof_en}) sent you {what_en} through your Kluis upload link. \
             Open your Kluis inbox to read them; only your key opens them.\n\n\
             {from} ({proof_nl}) heeft je {what_nl} gestuurd via je Kluis-uploadlink. \
             Open je Kluis-inbox om ze te lezen; alleen jouw sleutel opent ze.\n"
        ),
    }
}

/// To a sender: a recipient replied securely to a package.
pub(crate) fn reply_received(to: &str, from: Option<&str>, files: usize, about: &About) -> Mail {
    let (who_en, who_nl) = match from {
        Some(email) => (email.to_string(), email.to_string()),
        None => {
            ("A recipient (address not checked)".to_string(), "Een ontvanger (adres niet gecontroleerd)".to_string())
        }
    };
    let (what_en, what_nl) = match files {
        0 => ("a message".to_string(), "een bericht".to_string()),
        1 => ("a message and a file".to_string(), "een bericht en een bestand".to_string()),
        n => (format!("a message and {n} files"), format!("een bericht en {n} bestanden")),
    };
    Mail {
        to: to.into(),
        subject: "A secure reply to your files / beveiligd antwoord".into(),
        body: format!(
            "{who_en} replied to {} with {what_en}. Open your Kluis inbox to read it; only your key opens it.\n\n\
             {who_nl} heeft geantwoord op {} met {what_nl}. Open je Kluis-inbox om het te lezen; alleen jouw sleutel opent het.\n",
            about.en(),
            about.nl()
        ),
    }
}

/// To the sender: too many wrong codes, the package no longer opens with one.
pub(crate) fn verification_locked(to: &str, about: &About) -> Mail {
    let (en, nl) = (about.en(), about.nl());
    Mail {
        to: to.into(),
        subject: "Your files were locked after too many wrong codes / bestanden geblokkeerd".into(),
        body: format!(
            "Too many wrong verification codes were entered for {en}, so they can no longer be opened with a code. \
             If your recipients still need them, send them again.\n\n\
             Voor {nl} zijn te vaak verkeerde codes ingevoerd. Ze kunnen daarom niet meer met een code worden geopend. \
             Hebben je ontvangers ze nog nodig, stuur ze dan opnieuw.\n"
        ),
    }
}

/// To the sender who asked to hear about it: the package was opened for the first time.
pub(crate) fn first_download(to: &str, about: &About) -> Mail {
    let (en, nl) = (about.en(), about.nl());
    Mail {
        to: to.into(),
        subject: "Your files were opened / je bestanden zijn geopend".into(),
        body: format!(
            "{} were opened for the first time.\n\n{} zijn voor het eerst geopend.\n",
            capitalise(&en),
            capitalise(&nl)
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_mail_is_claimed_by_one_process_and_due_again_if_it_was_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::store::open_local(dir.path()).unwrap();
        meta.enqueue_mail("bob@example.org", "s", "b", 100).await.unwrap();
        let first = meta.claim_due_mail(100, 400).await.unwrap().expect("due");
        assert!(meta.claim_due_mail(101, 401).await.unwrap().is_none(), "claimed by the first");
        // The first process stopped before sending: due again when the claim ends.
        let again = meta.claim_due_mail(400, 700).await.unwrap().expect("due again");
        assert_eq!(again.id, first.id);
        meta.mail_sent(again.id).await.unwrap();
        assert!(meta.claim_due_mail(1000, 1300).await.unwrap().is_none(), "sent once");
        assert_eq!(meta.mail_queue_length().await.unwrap(), 0);
    }

    #[test]
    fn retries_back_off_then_give_up() {
        assert_eq!(backoff(0), Some(30));
        assert!(backoff(6).is_some());
        assert_eq!(backoff(7), None);
    }

    #[test]
    fn packages_are_named_as_their_sender_knows_them() {
        let recipients = vec!["bob@example.org".to_string()];
        // 2026-11-27 10:00 UTC
        let about = About { files: 2, recipients: &recipients, sent_at: 1_795_773_600 };
        let mail = first_download("alice@example.org", &about);
        assert!(
            mail.body.starts_with(
                "The 2 files you sent to bob@example.org on 27 November 2026 were opened for the first time."
            ),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains(
                "De 2 bestanden die je op 27 november 2026 naar bob@example.org stuurde zijn voor het eerst geopend."
            ),
            "{}",
            mail.body
        );
        let one = About { files: 1, recipients: &[], sent_at: 1_795_773_600 };
        assert!(
            verification_locked("a@b.nl", &one)
                .body
                .contains("for the file you sent to your recipients on 27 November 2026")
        );
        let code = verification_code("bob@example.org", "123456", "alice@example.org", "Zorg BV", 3);
        assert!(code.body.starts_with("alice@example.org (Zorg BV) sent you 3 files through Kluis."), "{}", code.body);
    }
}
