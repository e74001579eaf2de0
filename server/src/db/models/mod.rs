//! Storage of each entity, one module per table family. Functions take a
//! connection (or transaction) and never do I/O beyond the database.

pub mod audit;
pub mod code;
pub mod organisation;
pub mod package;
pub mod session;
pub mod token;
pub mod upload;
pub mod user;
