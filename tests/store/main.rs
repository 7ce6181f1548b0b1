//! The shared storage suite (docs/operations.md): the ephemeral store behaves the same on Redis,
//! on the SQLite table and on the PostgreSQL table; migrations are reversible and mirror each
//! other.

// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/databases.rs"]
mod databases;

mod ephemeral;
mod migrations;
