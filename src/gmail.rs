//! Gmail connections (DESIGN §8): a user's `gmail.send` grant, kept sealed by munji so that
//! services never see the refresh token or the client secret.
//!
//! Built so far: the vault (AES-256-GCM with rotating keys) and connecting (the Google
//! authorization with `gmail.send`, offline access and re-consent, under the same state rules
//! as sign-in), with the connections listed on the account page and the API, and equipping a
//! connection to a target, and disconnecting (revoked at Google first). Vending arrives next.

pub mod connect;
pub mod disconnect;
pub mod equip;
pub mod vault;
