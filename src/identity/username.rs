//! Usernames: unique, 3–32 characters of `a-z 0-9 . _ -`.

use std::fmt;

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 32;

/// A username that follows the rules (uniqueness is the database's to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Why a username was refused; each has a message for the sign-up page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameProblem {
    TooShort,
    TooLong,
    BadCharacters,
    Taken,
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

impl Username {
    /// Check `input` as typed (surrounding spaces are ignored; upper case is refused, not folded,
    /// so the user sees exactly the name they get).
    pub fn parse(input: &str) -> Result<Self, UsernameProblem> {
        let name = input.trim();
        let len = name.chars().count();
        if len < MIN_LEN {
            return Err(UsernameProblem::TooShort);
        }
        if len > MAX_LEN {
            return Err(UsernameProblem::TooLong);
        }
        if !name.chars().all(allowed) {
            return Err(UsernameProblem::BadCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    /// A valid username suggested from profile data (an e-mail's local part or a name):
    /// lower-cased, other characters dropped, padded or cut to fit. `None` when nothing usable
    /// is left.
    pub fn suggest(from: &str) -> Option<Self> {
        let local = from.split('@').next().unwrap_or_default();
        let mut name: String = local
            .to_lowercase()
            .chars()
            .map(|c| if c.is_whitespace() { '.' } else { c })
            .filter(|c| allowed(*c))
            .take(MAX_LEN)
            .collect();
        name = name.trim_matches(|c| matches!(c, '.' | '_' | '-')).to_owned();
        if name.is_empty() {
            return None;
        }
        while name.len() < MIN_LEN {
            name.push('0');
        }
        Self::parse(&name).ok()
    }

    /// This name with a numeric suffix, cut so the result still fits.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = n.to_string();
        let keep = MAX_LEN - suffix.len();
        let base: String = self.0.chars().take(keep).collect();
        Self(format!("{base}{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_pass() {
        for ok in ["abc", "kim.minsu", "a_b-c.9", &"x".repeat(32)] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(Username::parse("  padded  ").unwrap().as_str(), "padded");
    }

    #[test]
    fn invalid_names_say_why() {
        assert_eq!(Username::parse("ab"), Err(UsernameProblem::TooShort));
        assert_eq!(Username::parse(&"x".repeat(33)), Err(UsernameProblem::TooLong));
        for bad in ["Kim", "kim minsu", "김민수", "a/b", "abc!", "a@b.c"] {
            assert_eq!(Username::parse(bad), Err(UsernameProblem::BadCharacters), "{bad}");
        }
    }

    #[test]
    fn suggestions_are_always_valid() {
        assert_eq!(Username::suggest("Kim.MinSu@example.com").unwrap().as_str(), "kim.minsu");
        assert_eq!(Username::suggest("Hong Gildong").unwrap().as_str(), "hong.gildong");
        assert_eq!(Username::suggest("jo").unwrap().as_str(), "jo0");
        assert_eq!(Username::suggest("홍길동"), None);
        let long = Username::suggest(&"a".repeat(50)).unwrap();
        assert_eq!(long.as_str().len(), 32);
        assert_eq!(long.with_suffix(123).as_str().len(), 32);
        assert!(long.with_suffix(123).as_str().ends_with("123"));
    }
}
