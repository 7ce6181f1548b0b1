//! Gmail connections (DESIGN §8): a user's `gmail.send` grant, kept sealed by munji so that
//! services never see the refresh token or the client secret.
//!
//! The vault (AES-256-GCM with rotating keys); connecting (the Google authorization with
//! `gmail.send`, offline access and re-consent, under the same state rules as sign-in);
//! equipping a connection to a target; disconnecting (revoked at Google first); and vending
//! short-lived access tokens to services, with one refresh however many ask at once.

pub mod connect;
pub mod disconnect;
pub mod equip;
pub mod vault;
pub mod vend;
