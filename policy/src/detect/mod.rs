//! The detectors, one module each, named for what they find.

pub mod keywords;
