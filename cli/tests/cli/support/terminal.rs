//! `kluis` at a pseudo-terminal (util-linux `script`), for what it does
//! only there: prompts, asking again, progress bars. The test waits for a
//! prompt's text before typing the answer, as a user would.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::KLUIS;

pub struct Terminal {
    child: Child,
    stdin: ChildStdin,
    seen: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    /// Where in `seen` the next [`Terminal::expect`] starts looking.
    cursor: usize,
    what: String,
}

/// `arg` quoted for `sh -c`.
fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

impl Terminal {
    /// Starts `kluis ARGS` in `dir` at a terminal `columns` wide, with `env`
    /// (and none of the caller's KLUIS_* variables).
    pub fn start(args: &[&str], env: &[(&str, &str)], dir: &Path, columns: u16) -> Terminal {
        let command: Vec<String> = std::iter::once(KLUIS).chain(args.iter().copied()).map(quote).collect();
        let command = format!("stty cols {columns} rows 40; exec {}", command.join(" "));
        let mut script = Command::new("script");
        script.args(["-qec", &command, "/dev/null"]).current_dir(dir);
        for var in ["KLUIS_SERVER", "KLUIS_TOKEN", "KLUIS_EMAIL"] {
            script.env_remove(var);
        }
        script.envs(env.iter().copied());
        let mut child = script
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux script");
        let seen = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let reader = {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        let stdin = child.stdin.take().unwrap();
        Terminal { child, stdin, seen, reader: Some(reader), cursor: 0, what: args.join(" ") }
    }

    /// Waits (at most 30 s) until `text` appears after what earlier calls found.
    pub fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let seen = self.seen.lock().unwrap();
                if let Some(at) = seen[self.cursor..].find(text) {
                    self.cursor += at + text.len();
                    return;
                }
            }
            assert!(Instant::now() < deadline, "kluis {}: no {text:?} in {:?}", self.what, self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Everything the terminal showed so far.
    pub fn output(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    /// Waits for the program to end; returns its status and everything shown.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status, self.output())
    }
}
