//! Arbitrary bytes as a policy document and a package plan, in the JSON a
//! client reads from the server and the server reads from an admin
//! (`<policy>\0<plan>`): a document that does not parse is refused cleanly,
//! and for one that does, `check` and `diff` never panic and a plan within
//! every rule (nothing sent, everything asked for) breaks none that
//! concern what is asked.
#![no_main]

use kluis_policy::{Breach, PackagePlan, Policy, check, diff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (document, plan) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(policy) = serde_json::from_slice::<Policy>(document) else { return };
    let plan: PackagePlan = serde_json::from_slice(plan).unwrap_or_default();
    let _ = check(&policy, &plan);
    let _ = diff(&Policy::default(), &policy);
    // No recipients, no files, no bytes, and every protection on: only a download limit or
    // its absence can break a rule.
    let careful = PackagePlan {
        max_downloads: Some(1),
        verification: true,
        password: true,
        message: true,
        ..PackagePlan::default()
    };
    for breach in check(&policy, &careful) {
        assert!(matches!(breach, Breach::TooManyDownloads { .. }), "{breach:?} for an empty, fully protected plan");
    }
});
