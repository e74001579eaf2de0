//! One SMTP session as a sans-I/O state machine: the connection loop
//! (`server.rs`) hands it the bytes it read and does what each [`Step`]
//! says (write a reply, start TLS, check credentials, spool a message). No
//! I/O, no clock, no async here, so every exchange is testable as bytes in
//! and bytes out.
//!
//! Commands are parsed by `smtp-proto` (RFC 5321 §4.1, with the parameters
//! of the extensions below). What this relay speaks:
//!
//! - ESMTP (RFC 5321), HELO and EHLO; EHLO implies RSET (§4.1.4);
//! - PIPELINING (RFC 2920): replies are collected until the client's input
//!   is used up, then written together (§3.2, "server behavior");
//! - SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
//!   CHUNKING/BDAT (RFC 3030), ENHANCEDSTATUSCODES (RFC 2034, codes from
//!   RFC 3463);
//! - STARTTLS (RFC 3207): after the handshake the session forgets what the
//!   client said before (§4.2) and input sent after the command but before
//!   the handshake is dropped (no plaintext injection, CVE-2011-0411);
//! - AUTH PLAIN (RFC 4616) and LOGIN (RFC 4954), offered and accepted only
//!   over TLS (538 5.7.11 before it, §4 and §6);
//! - bounded everything: line lengths (smtp-proto's 4096 for commands,
//!   `limits.line_length` in DATA), message size, recipients, commands and
//!   errors per connection.

use std::net::IpAddr;
use std::slice::Iter;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use smtp_proto::request::receiver::{
    BdatReceiver, DataReceiver, DummyDataReceiver, DummyLineReceiver, LineReceiver, RequestReceiver,
};
use smtp_proto::{EhloResponse, Error as ParseError, MailFrom, RcptTo, Request};
use zeroize::Zeroizing;

use crate::delivery::LOOP_GUARD;
use crate::headers;
use crate::reply::Reply;

/// What a session may take from one client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message in octets (the SIZE offered, RFC 1870).
    pub message_size: usize,
    /// Most recipients of one message (RFC 5321 §4.5.3.1.8: at least 100).
    pub recipients: usize,
    /// Most commands on one connection.
    pub commands: usize,
    /// Most failed commands on one connection before it is closed.
    pub errors: usize,
    /// Longest text line in DATA, CRLF included. RFC 5321 §4.5.3.1.6 lets
    /// senders count on 1000, but real mail (HTML from some programs) has
    /// longer lines and mail servers take them (Postfix folds them, Exchange
    /// passes them): refusing them bounces mail people sent, so the default
    /// is generous; memory is bounded by the message size anyway.
    pub line_length: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { message_size: 25 << 20, recipients: 100, commands: 1000, errors: 10, line_length: 64 * 1024 }
    }
}

/// What is the same for every session of a relay.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This relay's name, in the greeting, EHLO and `Received:`.
    pub hostname: String,
    pub limits: Limits,
    /// A certificate is configured: STARTTLS is offered.
    pub tls: bool,
    /// Users are configured: AUTH is offered (after STARTTLS).
    pub auth: bool,
    /// Who may send through this relay.
    pub senders: Senders,
}

/// Which messages this relay takes from whom, beyond the client's address
/// or AUTH: a relay secures and sends mail *as its organisation*, so it must
/// not take another organisation's mail, also where clients share addresses
/// (every Microsoft 365 tenant sends from the same ranges).
#[derive(Debug, Clone, Default)]
pub struct Senders {
    /// Domains `MAIL FROM` may use (lowercase); empty: any. The null
    /// reverse-path of a bounce is always allowed.
    pub domains: Vec<String>,
    /// The organisation's Microsoft 365 tenant id: a message from a client
    /// that did not authenticate must carry `X-MS-Exchange-CrossTenant-Id`
    /// with this id (Exchange Online stamps it with the sending tenant's),
    /// and no other.
    pub exchange_online_tenant: Option<String>,
}

impl Senders {
    /// `MAIL FROM` may use `address`.
    fn allows_sender(&self, address: &str) -> bool {
        if self.domains.is_empty() || address.is_empty() {
            return true;
        }
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// The message (`data`, headers first) came from the organisation's tenant:
    /// stamped with its id, and with no other (another tenant's stamp, or ours
    /// forged beside it).
    fn allows_message(&self, data: &[u8]) -> bool {
        let Some(tenant) = &self.exchange_online_tenant else { return true };
        let stamps = headers::values(data, "X-MS-Exchange-CrossTenant-Id");
        !stamps.is_empty() && stamps.iter().all(|stamp| stamp.eq_ignore_ascii_case(tenant.as_bytes()))
    }
}

/// What the connection loop must do next.
#[derive(Debug)]
pub enum Step {
    /// The input is used up: write the replies collected (PIPELINING), read more.
    Read,
    /// Write this reply (collect it with the others until [`Step::Read`]).
    Reply(Vec<u8>),
    /// Write this reply, drop any input read after the command, do the TLS
    /// handshake, then call [`Session::tls_started`].
    StartTls(Vec<u8>),
    /// Check these credentials, then call [`Session::authenticated`].
    Authenticate(Credentials),
    /// Spool this message, then call [`Session::queued`] with its id.
    Queue(Message),
    /// Write this reply and close the connection.
    Close(Vec<u8>),
}

/// A user name and password from AUTH.
pub struct Credentials {
    pub user: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Who sent a message and to whom, as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path: empty for a bounce (`MAIL FROM:<>`).
    pub from: String,
    pub recipients: Vec<String>,
    /// BODY=8BITMIME (RFC 6152).
    pub eight_bit: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// The client: its address, HELO name, TLS, authenticated user.
    pub client: IpAddr,
    pub helo: String,
    /// The client said EHLO, not HELO.
    pub esmtp: bool,
    pub tls: bool,
    pub user: Option<String>,
}

/// A message accepted after DATA or the last BDAT, to be spooled.
#[derive(Debug)]
pub struct Message {
    pub envelope: Envelope,
    /// The message as received (dot-stuffing undone), CRLF line ends.
    pub data: Vec<u8>,
}

/// The mail transaction between MAIL and the end of its data.
struct Transaction {
    from: String,
    recipients: Vec<String>,
    eight_bit: bool,
    smtputf8: bool,
    data: Vec<u8>,
    /// BDAT chunks were received: DATA is no longer allowed (RFC 3030 §3).
    chunked: bool,
}

enum State {
    Command,
    /// In DATA: the message so far is in the transaction.
    Data {
        receiver: DataReceiver,
        /// Octets of the current line so far.
        line: usize,
    },
    /// In a BDAT chunk.
    Bdat(BdatReceiver),
    /// Reading the rest of a refused DATA or BDAT chunk; then `reply`.
    Discard {
        receiver: DummyDataReceiver,
        reply: Reply,
    },
    /// Skipping the rest of a command line that was too long.
    SkipLine(DummyLineReceiver),
    /// Waiting for the response to a 334 of AUTH.
    Sasl {
        receiver: LineReceiver<()>,
        mechanism: Sasl,
    },
    /// Waiting for [`Session::authenticated`] or [`Session::queued`].
    Waiting,
    Closed,
}

#[derive(Clone)]
enum Sasl {
    /// AUTH PLAIN without an initial response.
    Plain,
    /// AUTH LOGIN: the user name, then the password.
    LoginUser,
    LoginPassword(String),
}

pub struct Session {
    settings: std::sync::Arc<Settings>,
    client: IpAddr,
    /// The client may relay without AUTH (its address is allowed).
    trusted: bool,
    tls: bool,
    /// The HELO or EHLO name, once given.
    helo: Option<String>,
    esmtp: bool,
    user: Option<String>,
    transaction: Option<Transaction>,
    state: State,
    requests: RequestReceiver,
    commands: usize,
    errors: usize,
}

impl Session {
    /// A session with `client`; `trusted` when its address is allowed to
    /// relay without AUTH.
    pub fn new(settings: std::sync::Arc<Settings>, client: IpAddr, trusted: bool) -> Session {
        Session {
            settings,
            client,
            trusted,
            tls: false,
            helo: None,
            esmtp: false,
            user: None,
            transaction: None,
            state: State::Command,
            requests: RequestReceiver::default(),
            commands: 0,
            errors: 0,
        }
    }

    /// The 220 greeting (RFC 5321 §4.3.1).
    pub fn greeting(&self) -> Vec<u8> {
        Reply::greeting(&self.settings.hostname).to_bytes()
    }

    /// The 421 for an idle client (RFC 5321 §4.5.3.2.7); the session is over.
    pub fn timed_out(&mut self) -> Vec<u8> {
        self.state = State::Closed;
        Reply::timeout().to_bytes()
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Takes bytes from the front of `input` until there is something to
    /// do. [`Step::Read`] means all of `input` was taken.
    pub fn receive(&mut self, input: &mut &[u8]) -> Step {
        let mut bytes = input.iter();
        let step = self.step(&mut bytes);
        *input = bytes.as_slice();
        step
    }

    fn step(&mut self, bytes: &mut Iter<'_, u8>) -> Step {
        loop {
            match &mut self.state {
                State::Closed | State::Waiting => return Step::Read,
                State::Command => {
                    if bytes.as_slice().is_empty() {
                        return Step::Read;
                    }
                    let request = match self.requests.ingest(bytes) {
                        Ok(request) => Ok(request.into_owned()),
                        Err(ParseError::NeedsMoreData { .. }) => return Step::Read,
                        Err(e) => Err(e),
                    };
                    self.commands += 1;
                    if self.commands > self.settings.limits.commands {
                        self.state = State::Closed;
                        return Step::Close(Reply::too_many("commands").to_bytes());
                    }
                    match request {
                        Ok(request) => match self.command(request) {
                            Some(step) => return step,
                            // BDAT: its chunk follows at once.
                            None => continue,
                        },
                        Err(ParseError::ResponseTooLong) => {
                            // The line's rest is not a command: skip to its end.
                            self.state = State::SkipLine(DummyLineReceiver::default());
                            return self.answer(Reply::line_too_long());
                        }
                        Err(e) => return self.answer(parse_error(e)),
                    }
                }
                State::Data { receiver, line } => {
                    let transaction = self.transaction.as_mut().expect("DATA has a transaction");
                    let start = transaction.data.len();
                    let done = receiver.ingest(bytes, &mut transaction.data);
                    // The receiver takes back a CR it kept when it finds the end.
                    let start = start.min(transaction.data.len());
                    let Limits { message_size, line_length, .. } = self.settings.limits;
                    let long_line = longest_line(&transaction.data[start..], line) > line_length;
                    let too_big = transaction.data.len() > message_size;
                    let refusal = if too_big {
                        Some(Reply::too_big(message_size))
                    } else if long_line {
                        Some(Reply::data_line_too_long(line_length))
                    } else {
                        None
                    };
                    if done {
                        self.state = State::Command;
                        return match refusal {
                            Some(reply) => {
                                self.transaction = None;
                                self.answer(reply)
                            }
                            None => self.complete(),
                        };
                    }
                    if let Some(reply) = refusal {
                        // Read the rest and drop it: memory stays bounded.
                        let receiver = DummyDataReceiver::new_data(receiver);
                        self.transaction = None;
                        self.state = State::Discard { receiver, reply };
                        continue;
                    }
                    return Step::Read;
                }
                State::Bdat(receiver) => {
                    let transaction = self.transaction.as_mut().expect("BDAT has a transaction");
                    if !receiver.ingest(bytes, &mut transaction.data) {
                        return Step::Read;
                    }
                    let last = receiver.is_last;
                    self.state = State::Command;
                    if last {
                        return self.complete();
                    }
                    let size = transaction.data.len();
                    return self.answer(Reply::chunk_ok(size));
                }
                State::SkipLine(receiver) => {
                    if !receiver.ingest(bytes) {
                        return Step::Read;
                    }
                    self.state = State::Command;
                }
                State::Discard { receiver, reply } => {
                    if !receiver.ingest(bytes) {
                        return Step::Read;
                    }
                    let reply = reply.clone();
                    self.state = State::Command;
                    return self.answer(reply);
                }
                State::Sasl { receiver, mechanism } => {
                    if !receiver.ingest(bytes) {
                        return Step::Read;
                    }
                    let line = Zeroizing::new(std::mem::take(&mut receiver.buf)); // credentials
                    let mechanism = mechanism.clone();
                    self.state = State::Command;
                    return self.sasl(mechanism, &line);
                }
            }
        }
    }

    /// Counts a failure; too many close the connection.
    fn answer(&mut self, reply: Reply) -> Step {
        if !reply.is_positive() {
            self.errors += 1;
            if self.errors > self.settings.limits.errors {
                self.state = State::Closed;
                return Step::Close(Reply::too_many("errors").to_bytes());
            }
        }
        Step::Reply(reply.to_bytes())
    }

    /// The answer to one command; `None` when more input belongs to it (BDAT).
    fn command(&mut self, request: Request<String>) -> Option<Step> {
        Some(match request {
            Request::Ehlo { host } => {
                self.helo = Some(host);
                self.esmtp = true;
                self.transaction = None;
                Step::Reply(self.ehlo())
            }
            Request::Helo { host } => {
                self.helo = Some(host);
                self.esmtp = false;
                self.transaction = None;
                // No enhanced code on HELO's reply (RFC 2034 §4).
                Step::Reply(Reply { code: 250, status: None, text: self.settings.hostname.clone() }.to_bytes())
            }
            Request::Mail { from } => {
                let reply = self.mail(from);
                self.answer(reply)
            }
            Request::Rcpt { to } => {
                let reply = self.rcpt(to);
                self.answer(reply)
            }
            Request::Data => match &self.transaction {
                None => self.answer(Reply::bad_sequence("MAIL first")),
                Some(t) if t.recipients.is_empty() => self.answer(Reply::no_valid_recipients()),
                Some(t) if t.chunked => self.answer(Reply::bad_sequence("DATA after BDAT")),
                Some(_) => {
                    self.state = State::Data { receiver: data_receiver(), line: 0 };
                    Step::Reply(Reply::start_data().to_bytes())
                }
            },
            Request::Bdat { chunk_size, is_last } => {
                self.bdat(chunk_size, is_last);
                return None;
            }
            Request::Rset => {
                self.transaction = None;
                self.answer(Reply::ok())
            }
            Request::Noop { .. } => self.answer(Reply::ok()),
            Request::Quit => {
                self.state = State::Closed;
                Step::Close(Reply::bye().to_bytes())
            }
            Request::Vrfy { .. } => self.answer(Reply::cannot_verify()),
            Request::Help { .. } => self.answer(Reply::help()),
            Request::StartTls => {
                if !self.settings.tls {
                    self.answer(Reply::tls_unavailable())
                } else if self.tls {
                    self.answer(Reply::bad_sequence("TLS already active"))
                } else if self.transaction.is_some() {
                    self.answer(Reply::bad_sequence("STARTTLS within a mail transaction"))
                } else {
                    self.state = State::Waiting;
                    Step::StartTls(Reply::ready_for_tls().to_bytes())
                }
            }
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, &Zeroizing::new(initial_response)),
            Request::Lhlo { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.answer(Reply::not_implemented()),
        })
    }

    /// The EHLO reply: the extensions this relay offers now (AUTH only over
    /// TLS, STARTTLS only before it).
    fn ehlo(&self) -> Vec<u8> {
        let mut ehlo = EhloResponse::new(self.settings.hostname.as_str());
        ehlo.capabilities = smtp_proto::EXT_PIPELINING
            | smtp_proto::EXT_SIZE
            | smtp_proto::EXT_8BIT_MIME
            | smtp_proto::EXT_SMTP_UTF8
            | smtp_proto::EXT_CHUNKING
            | smtp_proto::EXT_ENHANCED_STATUS_CODES;
        ehlo.size = self.settings.limits.message_size;
        if self.settings.tls && !self.tls {
            ehlo.capabilities |= smtp_proto::EXT_START_TLS;
        }
        if self.settings.auth && self.tls && self.user.is_none() {
            ehlo.capabilities |= smtp_proto::EXT_AUTH;
            ehlo.auth_mechanisms = smtp_proto::AUTH_PLAIN | smtp_proto::AUTH_LOGIN;
        }
        let mut extensions = Vec::new();
        ehlo.write(&mut extensions).expect("writing to a Vec");
        // smtp-proto's first line greets with a joke ("you had me at EHLO");
        // ours names the relay, as the greeting does (RFC 5321 §4.1.1.1).
        let rest = extensions.iter().position(|&b| b == b'\n').map_or(0, |end| end + 1);
        [format!("250-{} kluis-relay\r\n", self.settings.hostname).as_bytes(), &extensions[rest..]].concat()
    }

    fn mail(&mut self, from: MailFrom<String>) -> Reply {
        if self.helo.is_none() {
            return Reply::bad_sequence("EHLO or HELO first");
        }
        if self.transaction.is_some() {
            return Reply::bad_sequence("nested MAIL command");
        }
        if self.user.is_none() && !self.trusted {
            return Reply::authentication_required();
        }
        const OFFERED: u64 = smtp_proto::MAIL_BODY_7BIT | smtp_proto::MAIL_BODY_8BITMIME | smtp_proto::MAIL_SMTPUTF8;
        if from.flags & !OFFERED != 0 || from.env_id.is_some() || from.by != 0 || from.hold_for != 0 {
            return Reply::unsupported_parameter("(only SIZE, BODY=7BIT|8BITMIME and SMTPUTF8 are offered)");
        }
        if from.size > self.settings.limits.message_size {
            return Reply::too_big(self.settings.limits.message_size);
        }
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !from.address.is_ascii() {
            return Reply::needs_smtputf8();
        }
        if !self.settings.senders.allows_sender(&from.address) {
            return Reply::sender_not_allowed();
        }
        self.transaction = Some(Transaction {
            from: from.address,
            recipients: Vec::new(),
            eight_bit: from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0,
            smtputf8,
            data: Vec::new(),
            chunked: false,
        });
        Reply::sender_ok()
    }

    fn rcpt(&mut self, to: RcptTo<String>) -> Reply {
        let limit = self.settings.limits.recipients;
        let Some(transaction) = &mut self.transaction else { return Reply::bad_sequence("MAIL first") };
        if to.flags != 0 || to.orcpt.is_some() {
            return Reply::unsupported_parameter("(DSN is not offered)");
        }
        if to.address.is_empty() {
            return Reply::bad_recipient();
        }
        if !transaction.smtputf8 && !to.address.is_ascii() {
            return Reply::needs_smtputf8();
        }
        if transaction.recipients.len() >= limit {
            return Reply::too_many_recipients();
        }
        if !transaction.recipients.contains(&to.address) {
            transaction.recipients.push(to.address);
        }
        Reply::recipient_ok()
    }

    fn bdat(&mut self, chunk_size: usize, is_last: bool) {
        let limit = self.settings.limits.message_size;
        // The chunk's octets follow the command whatever the answer: a
        // refused chunk is read and dropped, then answered (RFC 3030 §3).
        let refusal = match &self.transaction {
            None => Some(Reply::bad_sequence("MAIL first")),
            Some(t) if t.recipients.is_empty() => Some(Reply::no_valid_recipients()),
            Some(t) if t.data.len().saturating_add(chunk_size) > limit => Some(Reply::too_big(limit)),
            Some(_) => None,
        };
        match refusal {
            Some(reply) => {
                // After a failed BDAT the transaction is over (RFC 3030 §3).
                self.transaction = None;
                self.state = State::Discard { receiver: DummyDataReceiver::new_bdat(chunk_size), reply };
            }
            None => {
                let transaction = self.transaction.as_mut().expect("checked above");
                transaction.chunked = true;
                transaction.data.reserve(chunk_size);
                self.state = State::Bdat(BdatReceiver::new(chunk_size, is_last));
            }
        }
    }

    /// The whole message is in: hand it to the loop to spool.
    fn complete(&mut self) -> Step {
        let transaction = self.transaction.take().expect("a transaction ends with its data");
        if has_bare_line_break(&transaction.data) {
            // SMTP smuggling: an upstream that ends data at <LF>.<CR><LF> would see a second
            // message in this one, never classified (RFC 5321 §2.3.8 allows CRLF only).
            self.state = State::Command;
            return self.answer(Reply::bare_line_break());
        }
        if !headers::values(&transaction.data, LOOP_GUARD).is_empty() {
            // Sent by a Kluis relay before and routed back: a mail server's rule is wrong.
            self.state = State::Command;
            return self.answer(Reply::loop_detected());
        }
        if self.user.is_none() && !self.settings.senders.allows_message(&transaction.data) {
            self.state = State::Command;
            return self.answer(Reply::not_from_tenant());
        }
        self.state = State::Waiting;
        Step::Queue(Message {
            envelope: Envelope {
                from: transaction.from,
                recipients: transaction.recipients,
                eight_bit: transaction.eight_bit,
                smtputf8: transaction.smtputf8,
                client: self.client,
                helo: self.helo.clone().unwrap_or_default(),
                esmtp: self.esmtp,
                tls: self.tls,
                user: self.user.clone(),
            },
            data: transaction.data,
        })
    }

    /// The message of [`Step::Queue`] is in the spool as `id`, or could not
    /// be spooled (`None`). The answer is a [`Step::Reply`] or, after too
    /// many failures, a [`Step::Close`].
    pub fn queued(&mut self, id: Option<&str>) -> Step {
        self.state = State::Command;
        match id {
            Some(id) => self.answer(Reply::queued(id)),
            None => self.answer(Reply::spool_failed()),
        }
    }

    /// The TLS handshake after STARTTLS succeeded: the session starts over
    /// (RFC 3207 §4.2), without a new greeting.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = None;
        self.user = None;
        self.transaction = None;
        self.requests = RequestReceiver::default();
        self.state = State::Command;
    }

    fn auth(&mut self, mechanism: u64, initial: &str) -> Step {
        let refusal = if !self.settings.auth {
            Some(Reply::bad_sequence("authentication is not offered"))
        } else if self.helo.is_none() {
            Some(Reply::bad_sequence("EHLO first"))
        } else if self.user.is_some() {
            Some(Reply::bad_sequence("already authenticated"))
        } else if self.transaction.is_some() {
            Some(Reply::bad_sequence("AUTH within a mail transaction"))
        } else if mechanism != smtp_proto::AUTH_PLAIN && mechanism != smtp_proto::AUTH_LOGIN {
            Some(Reply::unknown_mechanism())
        } else if !self.tls {
            Some(Reply::encryption_required())
        } else {
            None
        };
        if let Some(reply) = refusal {
            return self.answer(reply);
        }
        let (mechanism, challenge) = match (mechanism, initial) {
            // No initial response: ask for it with an empty challenge (RFC 4954 §4).
            (smtp_proto::AUTH_PLAIN, "") => (Sasl::Plain, ""),
            (smtp_proto::AUTH_PLAIN, response) => return self.sasl(Sasl::Plain, response.as_bytes()),
            (_, "") => (Sasl::LoginUser, "VXNlcm5hbWU6"),
            (_, response) => return self.sasl(Sasl::LoginUser, response.as_bytes()),
        };
        self.state = State::Sasl { receiver: LineReceiver::new(()), mechanism };
        Step::Reply(Reply::challenge(challenge).to_bytes())
    }

    /// One client response of a SASL exchange (base64; `=` is empty, `*`
    /// cancels: RFC 4954 §4).
    fn sasl(&mut self, mechanism: Sasl, response: &[u8]) -> Step {
        if response == b"*" {
            return self.answer(Reply::auth_cancelled());
        }
        let decoded = if response == b"=" { Ok(Vec::new()) } else { STANDARD.decode(response) };
        let Ok(decoded) = decoded.map(Zeroizing::new) else { return self.answer(Reply::not_base64()) };
        match mechanism {
            Sasl::Plain => match plain_credentials(&decoded) {
                Some(credentials) => {
                    self.state = State::Waiting;
                    Step::Authenticate(credentials)
                }
                None => self.answer(Reply::bad_credentials()),
            },
            Sasl::LoginUser => match String::from_utf8(decoded.to_vec()) {
                Ok(user) => {
                    self.state = State::Sasl { receiver: LineReceiver::new(()), mechanism: Sasl::LoginPassword(user) };
                    Step::Reply(Reply::challenge("UGFzc3dvcmQ6").to_bytes())
                }
                Err(_) => self.answer(Reply::bad_credentials()),
            },
            Sasl::LoginPassword(user) => match std::str::from_utf8(&decoded) {
                Ok(password) => {
                    self.state = State::Waiting;
                    Step::Authenticate(Credentials { user, password: Zeroizing::new(password.to_string()) })
                }
                Err(_) => self.answer(Reply::bad_credentials()),
            },
        }
    }

    /// The credentials of [`Step::Authenticate`] were checked: `user` is
    /// who they proved to be, `None` if they were wrong.
    pub fn authenticated(&mut self, user: Option<String>) -> Step {
        self.state = State::Command;
        match user {
            Some(user) => {
                self.user = Some(user);
                self.answer(Reply::authenticated())
            }
            None => self.answer(Reply::bad_credentials()),
        }
    }
}

/// PLAIN's `authzid NUL authcid NUL passwd` (RFC 4616 §2). An authorization
/// identity other than the user's own is refused: nobody may act for another.
/// A receiver for DATA that knows it starts at the beginning of a line, so a
/// first line of `.` ends an empty message and `..` on it is unstuffed
/// (smtp-proto's starts as if in the middle of one).
fn data_receiver() -> DataReceiver {
    let mut receiver = DataReceiver::new();
    let mut scratch = Vec::new();
    receiver.ingest(&mut b"\r\n".iter(), &mut scratch);
    receiver
}

/// A CR not followed by LF, or an LF not after CR (RFC 5321 §2.3.8).
fn has_bare_line_break(data: &[u8]) -> bool {
    data.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || data[i - 1] != b'\r',
        b'\r' => data.get(i + 1) != Some(&b'\n'),
        _ => false,
    })
}

fn plain_credentials(message: &[u8]) -> Option<Credentials> {
    let mut parts = message.split(|&b| b == 0);
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || !(authzid.is_empty() || authzid == user) {
        return None;
    }
    let user = std::str::from_utf8(user).ok()?.to_string();
    let password = Zeroizing::new(std::str::from_utf8(password).ok()?.to_string());
    Some(Credentials { user, password })
}

/// The reply to a command smtp-proto could not parse.
fn parse_error(e: ParseError) -> Reply {
    match e {
        ParseError::UnknownCommand => Reply::unknown_command(),
        ParseError::InvalidSenderAddress => Reply::bad_sender(),
        ParseError::InvalidRecipientAddress => Reply::bad_recipient(),
        ParseError::SyntaxError { syntax } => Reply::syntax(syntax),
        ParseError::InvalidParameter { param } => Reply::bad_parameter(param),
        ParseError::UnsupportedParameter { param } => Reply::unsupported_parameter(&param),
        ParseError::ResponseTooLong => Reply::line_too_long(),
        ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => Reply::unknown_command(),
    }
}

/// The longest line in `new` bytes of a message, `line` being the length
/// of the line they continue; `line` becomes the length of the last line.
fn longest_line(new: &[u8], line: &mut usize) -> usize {
    let mut longest = 0;
    for &byte in new {
        *line += 1;
        if byte == b'\n' {
            longest = longest.max(*line);
            *line = 0;
        }
    }
    longest.max(*line)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Limits, Message, Senders, Session, Settings, Step};

    /// A session and what it answered, driven as the connection loop does:
    /// queued messages get the ids `m1`, `m2`…, and the password of user
    /// `u` is `p`.
    struct Client {
        session: Session,
        queued: Vec<Message>,
        closed: bool,
        tls_started: bool,
    }

    fn settings(tls: bool, auth: bool) -> Arc<Settings> {
        let limits = Limits { message_size: 100, recipients: 2, commands: 100, errors: 20, line_length: 1000 };
        Arc::new(Settings { hostname: "relay.test".into(), limits, tls, auth, senders: Senders::default() })
    }

    impl Client {
        fn new(settings: Arc<Settings>, trusted: bool) -> Client {
            let session = Session::new(settings, "192.0.2.1".parse().unwrap(), trusted);
            Client { session, queued: Vec::new(), closed: false, tls_started: false }
        }

        /// Sends `input` at once (pipelined) and returns the replies.
        fn send(&mut self, input: &str) -> String {
            let mut out = Vec::new();
            let mut input = input.as_bytes();
            loop {
                let step = match self.session.receive(&mut input) {
                    Step::Read => break,
                    Step::Authenticate(c) => {
                        let ok = c.user == "u" && c.password.as_str() == "p";
                        self.session.authenticated(ok.then_some(c.user))
                    }
                    Step::Queue(message) => {
                        self.queued.push(message);
                        let id = format!("m{}", self.queued.len());
                        self.session.queued(Some(&id))
                    }
                    step => step,
                };
                match step {
                    Step::Reply(bytes) => out.extend(bytes),
                    Step::Close(bytes) => {
                        out.extend(bytes);
                        self.closed = true;
                        break;
                    }
                    Step::StartTls(bytes) => {
                        out.extend(bytes);
                        // The loop drops input after STARTTLS and does the handshake.
                        self.session.tls_started();
                        self.tls_started = true;
                        break;
                    }
                    _ => unreachable!(),
                }
            }
            String::from_utf8(out).unwrap()
        }

        /// The reply codes (with enhanced codes) of `input`, one per reply line.
        fn codes(&mut self, input: &str) -> Vec<String> {
            self.send(input)
                .lines()
                .filter(|l| l.as_bytes().get(3) == Some(&b' '))
                .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
                .collect()
        }
    }

    #[test]
    fn a_pipelined_transaction_is_queued_with_its_envelope_and_unstuffed_data() {
        let mut c = Client::new(settings(false, false), true);
        let ehlo = c.send("EHLO mail.test\r\n");
        assert!(ehlo.starts_with("250-relay.test kluis-relay\r\n"), "{ehlo}");
        for extension in ["PIPELINING", "SIZE 100", "8BITMIME", "SMTPUTF8", "CHUNKING", "ENHANCEDSTATUSCODES"] {
            assert!(ehlo.contains(&format!("250-{extension}\r\n")) || ehlo.contains(&format!("250 {extension}\r\n")));
        }
        assert!(!ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "{ehlo}");
        let codes =
            c.codes("MAIL FROM:<a@test> BODY=8BITMIME\r\nRCPT TO:<b@test>\r\nDATA\r\nHi\r\n..dot\r\n.\r\nQUIT\r\n");
        assert_eq!(codes, ["250 2.1.0", "250 2.1.5", "354 End", "250 2.0.0", "221 2.0.0"]);
        assert!(c.closed);
        let message = &c.queued[0];
        assert_eq!(message.data, b"Hi\r\n.dot\r\n");
        assert_eq!(message.envelope.from, "a@test");
        assert_eq!(message.envelope.recipients, ["b@test"]);
        assert!(message.envelope.eight_bit && message.envelope.esmtp && message.envelope.helo == "mail.test");
    }

    #[test]
    fn data_split_anywhere_arrives_whole() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<b@test>\r\nDATA\r\n");
        for piece in ["Sub", "ject: x\r", "\n\r\n.", "..\r\n", ".", "\r", "\n"] {
            c.send(piece);
        }
        assert_eq!(c.queued.len(), 1);
        assert_eq!(c.queued[0].data, b"Subject: x\r\n\r\n..\r\n");
        assert_eq!(c.queued[0].envelope.from, "", "the null reverse-path of a bounce");
    }

    #[test]
    fn bdat_chunks_make_one_message_and_data_is_refused_after_them() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\nMAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\n");
        assert_eq!(c.codes("BDAT 5\r\nHello"), ["250 2.0.0"]);
        assert_eq!(c.codes("DATA\r\n"), ["503 5.5.1"]);
        assert_eq!(c.codes("BDAT 3 LAST\r\n\r\n."), ["250 2.0.0"]);
        assert_eq!(c.queued[0].data, b"Hello\r\n.", "BDAT is not dot-stuffed");
    }

    #[test]
    fn too_big_messages_are_refused_whole_and_the_session_goes_on() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\n");
        assert_eq!(c.codes("MAIL FROM:<a@test> SIZE=101\r\n"), ["552 5.3.4"]);
        c.send("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n");
        let big = "x".repeat(60) + "\r\n";
        assert_eq!(c.codes(&big), Vec::<String>::new());
        assert_eq!(c.codes(&(big.clone() + &big + ".\r\nNOOP\r\n")), ["552 5.3.4", "250 2.0.0"]);
        c.send("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\n");
        assert_eq!(c.codes(&format!("BDAT 101 LAST\r\n{}NOOP\r\n", "y".repeat(101))), ["552 5.3.4", "250 2.0.0"]);
        assert_eq!(c.codes("RCPT TO:<b@test>\r\n"), ["503 5.5.1"], "a refused BDAT ends the transaction");
        assert!(c.queued.is_empty());
    }

    #[test]
    fn long_lines_in_data_are_refused() {
        let mut settings = (*settings(false, false)).clone();
        settings.limits.message_size = 10_000;
        let mut c = Client::new(Arc::new(settings), true);
        c.send("EHLO x\r\nMAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n");
        assert_eq!(c.codes(&format!("{}\r\n.\r\n", "z".repeat(999))), ["552 5.6.0"]);
        c.send("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n");
        assert_eq!(c.codes(&format!("{}\r\n.\r\n", "z".repeat(998))), ["250 2.0.0"]);
    }

    #[test]
    fn commands_out_of_order_or_malformed_get_precise_codes() {
        let mut c = Client::new(settings(false, false), true);
        assert_eq!(c.codes("MAIL FROM:<a@test>\r\n"), ["503 5.5.1"]);
        assert_eq!(c.codes("FROB\r\n"), ["500 5.5.1"]);
        c.send("EHLO x\r\n");
        assert_eq!(c.codes("MAIL FROM:a@test\r\n"), ["501 5.5.2"]);
        assert_eq!(c.codes("RCPT TO:<b@test>\r\n"), ["503 5.5.1"]);
        assert_eq!(c.codes("DATA\r\n"), ["503 5.5.1"]);
        assert_eq!(c.codes("MAIL FROM:<a@test> RET=FULL\r\n"), ["555 5.5.4"]);
        assert_eq!(c.codes("MAIL FROM:<jörg@test>\r\n"), ["553 5.6.7"]);
        assert_eq!(c.codes("VRFY bob\r\n"), ["252 2.5.0"]);
        assert_eq!(c.codes("EXPN list\r\n"), ["502 5.5.1"]);
        assert_eq!(c.codes("STARTTLS\r\n"), ["454 4.7.0"], "no certificate configured");
        // A command line over smtp-proto's 4096 octets, arriving in parts.
        assert_eq!(c.codes(&format!("NOOP {}", "x".repeat(5000))), ["500 5.5.2"]);
        assert_eq!(c.codes(&format!("{}\r\nNOOP\r\n", "x".repeat(5000))), ["250 2.0.0"]);
        assert_eq!(c.codes("MAIL FROM:<a@test>\r\nDATA\r\n"), ["250 2.1.0", "554 5.5.1"]);
    }

    #[test]
    fn recipients_are_limited() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\nMAIL FROM:<a@test>\r\n");
        let codes = c.codes("RCPT TO:<b@test>\r\nRCPT TO:<c@test>\r\nRCPT TO:<d@test>\r\n");
        assert_eq!(codes, ["250 2.1.5", "250 2.1.5", "452 4.5.3"]);
    }

    #[test]
    fn too_many_errors_close_the_connection() {
        let mut c = Client::new(settings(false, false), true);
        let codes = c.codes(&"FROB\r\n".repeat(30));
        assert_eq!(codes.len(), 21);
        assert_eq!(codes[20], "421 4.7.0");
        assert!(c.closed);
    }

    #[test]
    fn untrusted_clients_must_authenticate_and_only_over_tls() {
        let mut c = Client::new(settings(true, true), false);
        let ehlo = c.send("EHLO x\r\n");
        assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "{ehlo}");
        assert_eq!(c.codes("MAIL FROM:<a@test>\r\n"), ["530 5.7.0"]);
        assert_eq!(c.codes("AUTH PLAIN AHUAcA==\r\n"), ["538 5.7.11"]);
        // Input pipelined after STARTTLS is dropped (RFC 3207 §4.2).
        assert_eq!(c.codes("STARTTLS\r\nMAIL FROM:<a@test>\r\n"), ["220 2.0.0"]);
        assert!(c.tls_started);
        assert_eq!(c.codes("MAIL FROM:<a@test>\r\n"), ["503 5.5.1"], "TLS forgets the EHLO");
        let ehlo = c.send("EHLO x\r\n");
        assert!(!ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN") || ehlo.contains("AUTH LOGIN PLAIN"));
        // PLAIN with a wrong password, then LOGIN step by step with the right one.
        assert_eq!(c.codes("AUTH PLAIN AHUAeA==\r\n"), ["535 5.7.8"]);
        assert_eq!(c.codes("AUTH CRAM-MD5\r\n"), ["504 5.5.4"]);
        assert_eq!(c.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
        assert_eq!(c.send("dQ==\r\n"), "334 UGFzc3dvcmQ6\r\n");
        assert_eq!(c.codes("cA==\r\n"), ["235 2.7.0"]);
        assert_eq!(c.codes("AUTH PLAIN AHUAcA==\r\n"), ["503 5.5.1"], "already authenticated");
        assert_eq!(c.codes("MAIL FROM:<a@test>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn sasl_responses_are_checked() {
        let mut c = Client::new(settings(true, true), false);
        c.send("EHLO x\r\nSTARTTLS\r\n");
        c.send("EHLO x\r\n");
        assert_eq!(c.send("AUTH PLAIN\r\n"), "334 \r\n");
        assert_eq!(c.codes("not base64!\r\n"), ["501 5.5.2"]);
        c.send("AUTH PLAIN\r\n");
        assert_eq!(c.codes("*\r\n"), ["501 5.0.0"]);
        // Acting for another user (authzid) is refused.
        assert_eq!(c.codes("AUTH PLAIN b3RoZXIAdQBw\r\n"), ["535 5.7.8"]);
        assert_eq!(c.codes("AUTH PLAIN dQB1AHA=\r\n"), ["235 2.7.0"]);
    }

    #[test]
    fn senders_outside_the_organisations_domains_are_refused() {
        let mut settings = (*settings(false, false)).clone();
        settings.senders.domains = vec!["example.org".into()];
        let mut c = Client::new(Arc::new(settings), true);
        c.send("EHLO x\r\n");
        assert_eq!(c.codes("MAIL FROM:<a@example.net>\r\n"), ["550 5.7.1"]);
        assert_eq!(c.codes("MAIL FROM:<a@EXAMPLE.org>\r\nRSET\r\n"), ["250 2.1.0", "250 2.0.0"]);
        // A bounce has no sender to check.
        assert_eq!(c.codes("MAIL FROM:<>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn with_a_tenant_only_its_exchange_online_messages_are_taken() {
        const OURS: &str = "8f0e3c52-1d3a-4c1e-9b4e-2f6a0c7d9e11";
        let mut settings = (*settings(false, false)).clone();
        settings.limits.message_size = 10_000;
        settings.senders.exchange_online_tenant = Some(OURS.into());
        let mut c = Client::new(Arc::new(settings), true);
        c.send("EHLO x\r\n");
        let send = |c: &mut Client, headers: &str| {
            c.codes(&format!(
                "MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n{headers}Subject: s\r\n\r\nbody\r\n.\r\n"
            ))
        };
        let ours = format!("X-MS-Exchange-CrossTenant-Id: {}\r\n", OURS.to_uppercase());
        let theirs = "X-MS-Exchange-CrossTenant-Id: 00000000-1111-2222-3333-444444444444\r\n";
        assert_eq!(send(&mut c, &ours), ["250 2.1.0", "250 2.1.5", "354 End", "250 2.0.0"]);
        assert_eq!(send(&mut c, theirs).last().unwrap(), "550 5.7.1");
        assert_eq!(send(&mut c, "").last().unwrap(), "550 5.7.1", "no stamp at all");
        assert_eq!(send(&mut c, &format!("{theirs}{ours}")).last().unwrap(), "550 5.7.1", "ours forged beside theirs");
        // Only in the headers: the same line in the body proves nothing.
        assert_eq!(
            c.codes(&format!("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\nSubject: s\r\n\r\n{ours}.\r\n"))
                .last()
                .unwrap(),
            "550 5.7.1"
        );
        assert_eq!(c.queued.len(), 1);
    }

    #[test]
    fn a_first_line_of_a_dot_ends_the_message_and_is_unstuffed() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\n");
        let codes = c.codes("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n.\r\nNOOP\r\n");
        assert_eq!(codes, ["250 2.1.0", "250 2.1.5", "354 End", "250 2.0.0", "250 2.0.0"]);
        assert_eq!(c.queued[0].data, b"");
        c.codes("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n..x\r\n.\r\n");
        assert_eq!(c.queued[1].data, b".x\r\n");
    }

    #[test]
    fn bare_line_breaks_are_refused_so_nothing_is_smuggled() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\n");
        // The SEC Consult payloads: <LF>.<CR><LF>, <CR>.<CR><LF> and bare LF lines.
        for body in ["a\n.\r\nMAIL FROM:<x@evil>\r\n", "a\r.\r\nb\r\n", "a\nb\r\n"] {
            let codes = c.codes(&format!("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\n{body}.\r\n"));
            assert_eq!(codes.last().unwrap(), "550 5.6.0", "{body:?}: {codes:?}");
        }
        let codes = c.codes("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nBDAT 4 LAST\r\na\nb\r");
        assert_eq!(codes.last().unwrap(), "550 5.6.0");
        assert!(c.queued.is_empty());
    }

    #[test]
    fn a_message_that_carries_the_loop_guard_is_refused() {
        let mut c = Client::new(settings(false, false), true);
        c.send("EHLO x\r\n");
        let codes = c.codes(
            "MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\nx-kluis-relay: anything\r\nSubject: s\r\n\r\nb\r\n.\r\n",
        );
        assert_eq!(codes.last().unwrap(), "554 5.4.6");
        // In the body it is only text.
        let codes =
            c.codes("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\nDATA\r\nSubject: s\r\n\r\nX-Kluis-Relay: x\r\n.\r\n");
        assert_eq!(codes.last().unwrap(), "250 2.0.0");
    }
}
