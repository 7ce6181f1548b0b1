//! The legacy CSV reader (`munji::legacy::parse_csv`) on arbitrary bytes. Beyond "never
//! panics", whatever it accepts must be importable as docs/legacy.md says: valid usernames and
//! display names, known lower-case providers, one user per `legacy_user_id`, each username used
//! by one user only, and every user with at least one mapping.
#![no_main]
// A broken invariant is reported by panicking.
#![allow(clippy::panic)]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use munji::{
    identity::{self, Username},
    upstream::Provider,
};

fuzz_target!(|data: &[u8]| {
    let Ok(users) = munji::legacy::parse_csv(data) else { return };
    let mut ids = HashSet::new();
    let mut usernames = HashSet::new();
    for user in &users {
        assert!(!user.legacy_id.is_empty(), "empty legacy_user_id accepted");
        assert!(ids.insert(&user.legacy_id), "legacy_user_id {:?} split into two users", user.legacy_id);
        assert!(usernames.insert(&user.username), "username {:?} given to two users", user.username);
        let parsed = Username::parse(&user.username).map(|u| u.to_string());
        assert_eq!(parsed.as_deref(), Ok(user.username.as_str()), "invalid username accepted");
        assert_eq!(identity::parse_display_name(&user.display_name).as_ref(), Some(&user.display_name));
        assert!(!user.mappings.is_empty(), "a user without a mapping");
        for mapping in &user.mappings {
            let provider = mapping.provider.parse::<Provider>().ok().map(Provider::as_str);
            assert_eq!(provider, Some(mapping.provider.as_str()), "provider {:?} accepted", mapping.provider);
            assert!(mapping.uid.is_none(), "a CSV mapping came with a uid");
        }
    }
});
