//! Mail leaves the request path: handlers put messages in a queue in the
//! metadata store, and a background worker ([`deliver_due`]) sends them with
//! retries, so a slow or failing mail server neither delays nor changes an
//! answer (which would tell known addresses from unknown ones), and nothing
//! is lost across a restart. Mail never carries a package link: the server
//! does not know the link secret.

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

/// Sends what is due; returns how many were sent.
pub(crate) async fn deliver_due(domain: &Domain, mailer: &Mailer) -> DomainResult<usize> {
    let mut sent = 0;
    for queued in domain.meta.due_mail(now(), 50).await? {
        let mail = Mail { to: queued.to, subject: queued.subject, body: queued.body };
        match mailer.send(&mail).await {
            Ok(()) => {
                domain.meta.mail_sent(queued.id).await?;
                sent += 1;
            }
            Err(e) => {
                let retry_at = backoff(queued.attempts).map(|s| now() + s);
                tracing::warn!(mail = queued.id, attempts = queued.attempts + 1, error = %format!("{e:#}"), gave_up = retry_at.is_none(), "mail not sent");
                domain.meta.mail_failed(queued.id, retry_at, &format!("{e:#}")).await?;
            }
        }
    }
    Ok(sent)
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

pub(crate) fn verification_code(to: &str, code: &str, sender: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("{code} is your code to open the files from {sender} / je code"),
        body: format!(
            "{sender} sent you files through Kluis. Your code to open them is:\n\n    {code}\n\nIt is valid for 10 minutes. \
             The link to the files comes in {sender}'s own message.\n\n\
             {sender} heeft je bestanden gestuurd via Kluis. Je code om ze te openen is:\n\n    {code}\n\nDe code is 10 minuten geldig. \
             De link naar de bestanden staat in het bericht van {sender} zelf.\n"
        ),
    }
}

pub(crate) fn verification_locked(to: &str, package_id: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your package was locked after too many wrong codes / pakket geblokkeerd".into(),
        body: format!(
            "Too many wrong verification codes were entered for the package {package_id} you sent, so it can no longer be \
             opened with a code. If your recipients still need the files, send them again.\n\n\
             Voor het pakket {package_id} dat je stuurde zijn te vaak verkeerde codes ingevoerd. Het kan daarom niet meer met \
             een code worden geopend. Hebben je ontvangers de bestanden nog nodig, stuur ze dan opnieuw.\n"
        ),
    }
}

pub(crate) fn first_download(to: &str, package_id: &str, recipients: &[String]) -> Mail {
    let who = if recipients.is_empty() { "a recipient".to_string() } else { recipients.join(", ") };
    Mail {
        to: to.into(),
        subject: "Your files were opened / je bestanden zijn geopend".into(),
        body: format!(
            "The package {package_id} you sent to {who} was opened for the first time.\n\n\
             Het pakket {package_id} dat je naar {who} stuurde is voor het eerst geopend.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_then_give_up() {
        assert_eq!(super::backoff(0), Some(30));
        assert!(super::backoff(6).is_some());
        assert_eq!(super::backoff(7), None);
    }
}
