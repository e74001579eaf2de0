//! A stand-in upstream mail server that takes every message and keeps its
//! recipients and data: for what another `kluis-relay` as upstream would
//! refuse (mail that carries the loop guard), and for refusals of single
//! recipients: `RCPT TO:<refuse…@…>` gets `550 5.1.1`, `<later…@…>` gets
//! `450 4.2.1`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Each message's accepted recipients and data.
type Kept = Arc<Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

pub struct Sink {
    pub port: u16,
    messages: Kept,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Kept = Arc::default();
        let kept = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    let _ = writer.write_all(b"220 sink\r\n");
                    let mut line = String::new();
                    let mut recipients = Vec::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "RCPT" => {
                                let to = line.trim_end().split_once(':').map_or("", |(_, to)| to);
                                let to = to.trim().trim_start_matches('<').trim_end_matches('>').to_string();
                                if to.starts_with("refuse") {
                                    b"550 5.1.1 no such user\r\n"
                                } else if to.starts_with("later") {
                                    b"450 4.2.1 mailbox busy, try later\r\n"
                                } else {
                                    recipients.push(to);
                                    b"250 ok\r\n"
                                }
                            }
                            "DATA" => {
                                let _ = writer.write_all(b"354 go on\r\n");
                                let mut data = Vec::new();
                                while !data.ends_with(b"\r\n.\r\n") {
                                    if reader.read_until(b'\n', &mut data).unwrap_or(0) == 0 {
                                        return;
                                    }
                                }
                                data.truncate(data.len() - 3);
                                kept.lock().unwrap().push((std::mem::take(&mut recipients), data));
                                b"250 kept\r\n"
                            }
                            "QUIT" => {
                                let _ = writer.write_all(b"221 bye\r\n");
                                return;
                            }
                            _ => b"250 ok\r\n",
                        };
                        let _ = writer.write_all(reply);
                        line.clear();
                    }
                });
            }
        });
        Sink { port, messages }
    }

    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.messages.lock().unwrap().iter().map(|(_, data)| data.clone()).collect()
    }

    /// The recipients each message was accepted for.
    pub fn recipients(&self) -> Vec<Vec<String>> {
        self.messages.lock().unwrap().iter().map(|(to, _)| to.clone()).collect()
    }
}
