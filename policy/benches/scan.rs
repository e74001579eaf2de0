//! Scanner throughput: `cargo bench -p kluis-policy` (size in MiB as an
//! argument after `--`, default 100). Prints MB/s for the default policy and
//! for every detector and keyword list at once, over mixed Dutch and English
//! prose with a number every few hundred characters, pushed in 64 KiB pieces.
//! `tests/bench/policy.mjs` measures the wasm and ES2016 builds on the same text.

use std::time::Instant;

use kluis_policy::{ContentPolicy, DetectorKind, Scanner};
use serde_json::Value;

/// The words and numbers the text is made of, shared with `tests/bench/policy.mjs`.
fn corpus() -> (Vec<String>, Vec<String>) {
    let corpus: Value = serde_json::from_str(include_str!("words.json")).expect("words.json");
    let list =
        |key: &str| corpus[key].as_array().expect(key).iter().map(|w| w.as_str().expect("string").to_owned()).collect();
    (list("words"), list("numbers"))
}

fn text(size: usize) -> Vec<u8> {
    let (words, numbers) = corpus();
    let mut out = Vec::with_capacity(size + 64);
    // xorshift32, as in tests/bench/policy.mjs, which makes the same text for the JavaScript builds.
    let mut x = 0x9e37_79b9_u32;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % n as u32) as usize
    };
    while out.len() < size {
        let sentence = 6 + next(14);
        for i in 0..sentence {
            if i > 0 {
                out.push(b' ');
            }
            if next(40) == 0 {
                out.extend_from_slice(numbers[next(numbers.len())].as_bytes());
            } else {
                out.extend_from_slice(words[next(words.len())].as_bytes());
            }
        }
        out.extend_from_slice(match next(8) {
            0 => b".\n\n",
            1 => b", ",
            _ => b". ",
        });
    }
    out.truncate(size);
    out
}

/// Seconds of CPU this process has used (Linux; `None` elsewhere), so that a
/// busy machine shows in the difference between the two figures.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn measure(name: &str, policy: &ContentPolicy, text: &[u8]) {
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    let mut findings = 0;
    for _ in 0..3 {
        let (start, cpu_start) = (Instant::now(), cpu_seconds());
        let mut scanner = Scanner::new(policy);
        for piece in text.chunks(64 * 1024) {
            scanner.push(piece);
        }
        findings = scanner.finish().iter().map(|f| f.count).sum::<u32>();
        wall = wall.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            cpu = cpu.min(b - a);
        }
    }
    let mb = text.len() as f64 / 1e6;
    let per_cpu =
        if cpu < f64::MAX && cpu > 0.0 { format!("{:>5.0} MB/s per CPU second", mb / cpu) } else { String::new() };
    println!("{name:<34} {:>5.0} MB/s  {per_cpu}  ({findings} findings)", mb / wall);
}

fn main() {
    let mib = std::env::args().skip(1).find_map(|a| a.parse::<usize>().ok()).unwrap_or(100);
    let text = text(mib << 20);
    println!("kluis-policy scanner, native, {mib} MiB of prose, best of 3:");
    measure("default policy", &ContentPolicy::default(), &text);
    let all = ContentPolicy { detectors: DetectorKind::ALL.to_vec(), ..ContentPolicy::default() };
    measure("all detectors and keyword lists", &all, &text);
    let numbers = ContentPolicy { keyword_lists: Vec::new(), ..ContentPolicy::default() };
    measure("number detectors only", &numbers, &text);
}
