//! The name of an upstream provider: one of the built-in ones (`google`, `naver`, `kakao`,
//! `apple`) or an OpenID Connect provider the operator configured under
//! `[providers.oidc.NAME]` (docs/providers.md). Stored, logged, counted and shown by that name.
//!
//! A `Provider` is a `Copy` handle on a `&'static str`. The built-in names are constants
//! (`Provider::Google`, …); any other name is interned once, when it comes from a trusted source
//! (the configuration, the database). Names read from requests are only looked up
//! ([`Provider::known`], `FromStr`), never interned, so no request can grow the table.

use std::{
    collections::BTreeSet,
    fmt,
    str::FromStr,
    sync::{LazyLock, RwLock},
};

use serde::{Deserialize, Serialize};

use super::UpstreamError;

/// An upstream identity provider, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provider(&'static str);

/// Names interned so far, beyond the built-in ones. Bounded by what the configuration and the
/// database name: requests never add to it.
static INTERNED: LazyLock<RwLock<BTreeSet<&'static str>>> = LazyLock::new(|| RwLock::new(BTreeSet::new()));

// The built-in providers keep the spelling they had as enum variants.
#[allow(non_upper_case_globals)]
impl Provider {
    pub const Google: Provider = Provider("google");
    pub const Naver: Provider = Provider("naver");
    pub const Kakao: Provider = Provider("kakao");
    pub const Apple: Provider = Provider("apple");

    /// The three built-in OAuth providers whose callback is a `GET` (Google, Naver, Kakao).
    pub const ALL: [Provider; 3] = [Provider::Google, Provider::Naver, Provider::Kakao];

    /// Every built-in name, in display order; a generic provider may take none of them.
    pub const BUILT_IN: [Provider; 4] = [Provider::Google, Provider::Naver, Provider::Kakao, Provider::Apple];

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether this is one of [`Self::BUILT_IN`].
    pub fn is_built_in(self) -> bool {
        Self::BUILT_IN.contains(&self)
    }

    /// Whether `name` is a well-formed provider name: `[a-z0-9-]{1,32}`.
    pub fn is_valid_name(name: &str) -> bool {
        crate::config::is_provider_name(name)
    }

    /// A built-in or already interned provider named `name`; never interns.
    pub fn known(name: &str) -> Option<Provider> {
        if let Some(p) = Self::BUILT_IN.into_iter().find(|p| p.0 == name) {
            return Some(p);
        }
        let interned = INTERNED.read().unwrap_or_else(|e| e.into_inner());
        interned.get(name).map(|n| Provider(n))
    }

    /// The provider named `name`, interning it if it is new. Only for names from trusted
    /// sources (configuration, database): each new name is kept for the life of the process.
    pub fn intern(name: &str) -> Result<Provider, UpstreamError> {
        if let Some(p) = Self::known(name) {
            return Ok(p);
        }
        if !Self::is_valid_name(name) {
            return Err(UpstreamError::UnknownProvider);
        }
        let mut interned = INTERNED.write().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = interned.get(name) {
            return Ok(Provider(n));
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        interned.insert(leaked);
        Ok(Provider(leaked))
    }

    /// The brand name of a built-in provider; a generic provider's is in its configuration.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Naver => "NAVER",
            Self::Kakao => "Kakao",
            Self::Apple => "Apple",
            other => other.0,
        }
    }

    /// Whether munji sends PKCE (S256) to this provider: every provider but Naver, whose classic
    /// endpoints do not document it, so there the signed, single-use, browser-bound `state`
    /// carries the defence (docs/security.md).
    pub fn uses_pkce(self) -> bool {
        self != Self::Naver
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Looks the name up among the known providers; never interns (names in requests).
impl FromStr for Provider {
    type Err = UpstreamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::known(s).ok_or(UpstreamError::UnknownProvider)
    }
}

impl Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// Only known names: what munji reads back (flow records, tickets) it wrote itself.
impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Provider::known(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown provider {name:?}")))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for Provider
where
    str: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <str as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <str as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for Provider
where
    &'static str: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&'static str as sqlx::Encode<'q, DB>>::encode_by_ref(&self.0, buf)
    }
}

/// The database holds only names munji wrote; a name no longer configured still reads back.
impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Provider
where
    &'r str: sqlx::Decode<'r, DB>,
{
    fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let name = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(Provider::intern(name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_requests_are_looked_up_never_interned() {
        assert_eq!("google".parse::<Provider>().unwrap(), Provider::Google);
        assert_eq!("apple".parse::<Provider>().unwrap(), Provider::Apple);
        assert!("never-configured-x".parse::<Provider>().is_err());
        assert!(Provider::known("never-configured-x").is_none());
        let p = Provider::intern("interned-once").unwrap();
        assert_eq!(p.as_str(), "interned-once");
        assert_eq!("interned-once".parse::<Provider>().unwrap(), p);
        assert!(serde_json::from_str::<Provider>("\"never-configured-y\"").is_err());
        assert_eq!(serde_json::from_str::<Provider>("\"interned-once\"").unwrap(), p);
    }

    #[test]
    fn only_well_formed_names_are_interned() {
        for bad in ["", "Line", "line_2", "línea", &"a".repeat(33), "a b", "a/b"] {
            assert!(Provider::intern(bad).is_err(), "{bad:?}");
        }
        for good in ["line", "entra-id", "a", "0", &"z".repeat(32)] {
            assert!(Provider::intern(good).is_ok(), "{good:?}");
        }
    }
}
