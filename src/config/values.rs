//! Typed configuration values that parse from the strings an operator writes.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Deserializer, de};

/// A duration written as `"90s"`, `"10m"`, `"1h"` (humantime syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // The wording is the one docs/configuration.md#errors shows.
        let duration = humantime::parse_duration(&text)
            .map_err(|_| de::Error::custom(format!("{text:?} is not a duration like \"30s\" or \"1h\"")))?;
        if duration.is_zero() {
            return Err(de::Error::custom("a duration must be longer than zero"));
        }
        Ok(Self(duration))
    }
}

/// An IP address and a port. Host names are not resolved, so what munji listens on is exactly
/// what is written; `localhost:8080` gets a hint instead (docs/configuration.md).
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        let hint = match text.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => format!(
                "; host names are not resolved: write an IP address, such as 127.0.0.1:{port} (or [::1]:{port}, 0.0.0.0:{port})"
            ),
            _ => String::new(),
        };
        de::Error::custom(format!("{text:?} is not an IP address and port like \"127.0.0.1:8080\"{hint}"))
    })
}

/// A rate limit: `"N/s"`, `"N/min"` or `"N/h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text:?} is not a rate like \"60/min\" (units: s, min, h)");
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(bad());
        }
        Ok(Self { count, per })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// Secret bytes written in base64 (standard or URL-safe, padded or not).
#[derive(Clone)]
pub struct Base64Secret(SecretSlice<u8>);

impl Base64Secret {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let text = text.trim();
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(|bytes| Self(bytes.into()))
            .ok_or_else(|| anyhow::anyhow!("not valid base64"))
    }

    pub fn len(&self) -> usize {
        self.0.expose_secret().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Base64Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Base64Secret([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for Base64Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // The error never echoes the value: it is a secret, even when malformed.
        Self::parse(&text).map_err(|_| de::Error::custom("the value is not valid base64"))
    }
}

/// One entry of `encryption_keys`: `kid:base64key`, a 256-bit AES key.
#[derive(Clone)]
pub struct EncryptionKey {
    pub id: String,
    pub key: Base64Secret,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey").field("id", &self.id).field("key", &self.key).finish()
    }
}

impl FromStr for EncryptionKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (id, key) =
            text.split_once(':').ok_or_else(|| "an entry is not of the form \"kid:base64key\"".to_owned())?;
        let valid_id = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid_id {
            return Err(format!("key id {id:?} must be letters, digits, '-', '_' or '.'"));
        }
        let key = Base64Secret::parse(key).map_err(|_| format!("the key of {id:?} is not valid base64"))?;
        if key.len() != 32 {
            return Err(format!("the key of {id:?} has {} bytes; AES-256 needs exactly 32", key.len()));
        }
        Ok(Self { id: id.to_owned(), key })
    }
}

impl<'de> Deserialize<'de> for EncryptionKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// A list written either as a TOML array or, as environment variables must, as one
/// comma-separated string (`MUNJI_CORS_ORIGINS=https://a,https://b`).
pub fn comma_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list or a comma-separated string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| T::deserialize(de::value::StrDeserializer::<E>::new(item)))
                .collect()
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    d.deserialize_any(ListVisitor(std::marker::PhantomData))
}
