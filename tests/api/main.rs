//! Integration tests: the real service over HTTP, on every storage backend.

// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod admin;
mod admin_pages;
mod apple;
mod backchannel;
mod browser;
mod cli;
mod consent;
mod examples;
mod faults;
mod first_hour;
mod generic_oidc;
mod gmail;
mod gmail_vend;
mod hardening;
mod hooks;
mod instances;
mod leaving;
mod legacy;
mod linking;
mod login;
mod logout;
mod oidc;
mod oidc_attacks;
mod oidc_more;
mod openapi;
mod ops;
mod pages;
mod rate_limits;
mod readiness;
mod refresh;
mod retention;
mod round_trips;
mod sessions;
