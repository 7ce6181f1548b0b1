//! Gmail connections (docs/gmail.md): a user's `gmail.send` grant, kept sealed by munji so that
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

/// What a target (`equipped_to`) may look like, for error messages.
pub const TARGET_RULE: &str = "a target is 1–64 characters of A-Z a-z 0-9 . _ : -";

/// Whether `target` is a plain short name a connection can be equipped to. Checked before
/// anything is looked up or written, so a malformed target never reaches the database.
pub fn valid_target(target: &str) -> bool {
    (1..=64).contains(&target.len()) && target.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

#[cfg(test)]
mod tests {
    #[test]
    fn targets_are_short_plain_names() {
        let longest = "x".repeat(64);
        for ok in ["bot-1", "robeing:42", "a.b_c", longest.as_str()] {
            assert!(super::valid_target(ok), "{ok}");
        }
        for bad in ["", "has space", "a/b", &"x".repeat(65), "<script>", "b\u{f6}t", "bot\n"] {
            assert!(!super::valid_target(bad), "{bad}");
        }
    }
}
