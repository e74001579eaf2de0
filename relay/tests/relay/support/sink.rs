//! A stand-in upstream mail server that takes every message and keeps its
//! data: for what another `kluis-relay` as upstream would refuse (mail
//! that carries the loop guard).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct Sink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    let _ = writer.write_all(b"220 sink\r\n");
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                let _ = writer.write_all(b"354 go on\r\n");
                                let mut data = Vec::new();
                                while !data.ends_with(b"\r\n.\r\n") {
                                    if reader.read_until(b'\n', &mut data).unwrap_or(0) == 0 {
                                        return;
                                    }
                                }
                                data.truncate(data.len() - 3);
                                kept.lock().unwrap().push(data);
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
        self.messages.lock().unwrap().clone()
    }
}
