//! Usernames are 3–32 characters of `a-z 0-9 . _ -` (surrounding spaces ignored, upper case
//! refused rather than folded), and every name munji makes up itself, from any e-mail or
//! display name a provider sends, follows the same rules.

use munji::{
    identity::{self, Username, UsernameProblem},
    upstream::{Provider, UpstreamProfile},
};
use proptest::{prelude::*, sample::select};

/// `min` to `max` characters, all from the allowed set.
fn allowed(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-z0-9._-]{{{min},{max}}}")).unwrap()
}

fn valid_name() -> impl Strategy<Value = String> {
    allowed(3, 32)
}

/// A character that is neither allowed nor trimmed away.
fn bad_char() -> impl Strategy<Value = char> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    prop_oneof![any::<char>(), select("ABCZ!@#$%/\\:;'\"`~é김ß\u{212a}\u{130}\u{0}".chars().collect::<Vec<_>>())]
        .prop_filter("outside the set, not a space", move |c| !allowed(*c) && !c.is_whitespace())
}

/// Whatever a provider might send as an e-mail or a name.
fn profile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9._%+-]{0,40}@[a-z0-9.-]{1,20}",
        "[ .a-zA-Z가-힣\u{212a}\u{130}_-]{0,50}",
        "[@._ -]{0,10}",
    ]
}

fn assert_valid(name: &Username) -> Result<(), TestCaseError> {
    prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()), "{:?} is not a valid username", name);
    Ok(())
}

proptest! {
    #[test]
    fn valid_names_pass_unchanged(name in valid_name(), pad in " {0,3}") {
        prop_assert_eq!(Username::parse(&name).map(|u| u.to_string()), Ok(name.clone()));
        prop_assert_eq!(Username::parse(&format!("{pad}{name}{pad}")).map(|u| u.to_string()), Ok(name));
    }

    #[test]
    fn a_character_outside_the_set_fails(name in valid_name(), bad in bad_char(), position: usize) {
        let mut chars: Vec<char> = name.chars().collect();
        chars.insert(position % (chars.len() + 1), bad);
        let with_bad: String = chars.into_iter().collect();
        let too_long = with_bad.chars().count() > 32;
        let expected = if too_long { UsernameProblem::TooLong } else { UsernameProblem::BadCharacters };
        prop_assert_eq!(Username::parse(&with_bad), Err(expected), "{:?}", with_bad);
    }

    #[test]
    fn a_space_inside_fails(head in allowed(1, 15), tail in allowed(1, 15)) {
        prop_assert_eq!(Username::parse(&format!("{head} {tail}")), Err(UsernameProblem::BadCharacters));
    }

    #[test]
    fn lengths_outside_3_to_32_fail(short in allowed(0, 2), long in allowed(33, 80)) {
        prop_assert_eq!(Username::parse(&short), Err(UsernameProblem::TooShort));
        prop_assert_eq!(Username::parse(&long), Err(UsernameProblem::TooLong));
    }

    #[test]
    fn suggestions_are_valid_or_nothing(from in profile_text()) {
        if let Some(name) = Username::suggest(&from) {
            assert_valid(&name)?;
        }
    }

    #[test]
    fn numbered_variants_stay_valid(
        from in profile_text(),
        // The suffixes `registration = "auto"` tries, and any other.
        n in prop_oneof![1u32..10, 1000u32..1_000_000, any::<u32>()],
    ) {
        if let Some(name) = Username::suggest(&from) {
            let numbered = name.with_suffix(n);
            assert_valid(&numbered)?;
            prop_assert!(numbered.as_str().ends_with(&n.to_string()));
        }
    }

    #[test]
    fn the_generated_username_of_any_profile_is_valid(
        email in proptest::option::of(profile_text()),
        name in proptest::option::of(profile_text()),
        provider in select(Provider::ALL.to_vec()),
    ) {
        let profile = UpstreamProfile { provider, uid: "1".into(), email, email_verified: false, name, email_private: false, upstream_token: None };
        let username = identity::suggested_username(&profile);
        assert_valid(&username)?;
        let display = identity::suggested_display_name(&profile, &username);
        prop_assert!(display.chars().count() <= identity::MAX_DISPLAY_NAME);
    }
}
