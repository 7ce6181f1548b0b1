//! Reading a django-allauth database: `auth_user`, `socialaccount_socialaccount` (provider,
//! uid, extra_data) and `account_emailaddress`. Social accounts of Google, Naver and Kakao
//! become identities keyed by `(provider, uid)` at once; one without a uid becomes an e-mail
//! mapping that waits for its first login. Users with no such account are left out.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::{Connection as _, PgConnection};

use crate::{
    identity::{self, Username},
    store::legacy::{LegacyMapping, LegacyUser},
    upstream::Provider,
};

/// What was read, and what was left out and why.
#[derive(Debug, Default)]
pub struct AllauthExport {
    pub users: Vec<LegacyUser>,
    /// Social accounts of other providers (`facebook`, …), by provider.
    pub skipped_providers: HashMap<String, u64>,
    /// Social accounts with neither a uid nor any e-mail to match on.
    pub skipped_unmatchable: u64,
}

#[derive(sqlx::FromRow)]
struct AuthUser {
    id: i64,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
}

#[derive(sqlx::FromRow)]
struct SocialAccount {
    user_id: i64,
    provider: String,
    uid: String,
    extra_data: Option<String>,
}

/// Read every user with a Google, Naver or Kakao account from the database at `url`.
pub async fn read(url: &str) -> Result<AllauthExport, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let users: Vec<AuthUser> =
        sqlx::query_as("SELECT id::BIGINT AS id, username, first_name, last_name, email FROM auth_user ORDER BY id")
            .fetch_all(&mut conn)
            .await?;
    let socials: Vec<SocialAccount> = sqlx::query_as(
        "SELECT user_id::BIGINT AS user_id, provider, uid, extra_data::TEXT AS extra_data
         FROM socialaccount_socialaccount ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await?;
    // The primary address first, then verified ones, then the rest.
    let addresses: Vec<(i64, String)> = sqlx::query_as(
        r#"SELECT user_id::BIGINT, email FROM account_emailaddress ORDER BY "primary" DESC, verified DESC, id"#,
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;

    let mut primary: HashMap<i64, String> = HashMap::new();
    for (user_id, email) in addresses {
        primary.entry(user_id).or_insert(email);
    }
    let mut export = AllauthExport::default();
    let mut accounts: HashMap<i64, Vec<SocialAccount>> = HashMap::new();
    for social in socials {
        if Provider::ALL.iter().any(|p| p.as_str() == social.provider) {
            accounts.entry(social.user_id).or_default().push(social);
        } else {
            *export.skipped_providers.entry(social.provider).or_default() += 1;
        }
    }
    let mut taken = HashSet::new();
    for user in users {
        let Some(socials) = accounts.remove(&user.id) else { continue };
        let fallback_email =
            primary.get(&user.id).cloned().or_else(|| Some(user.email.clone()).filter(|e| !e.is_empty()));
        let mappings: Vec<LegacyMapping> = socials
            .into_iter()
            .filter_map(|social| {
                let email =
                    social.extra_data.as_deref().and_then(email_in_extra_data).or_else(|| fallback_email.clone());
                let uid = Some(social.uid.trim().to_owned()).filter(|u| !u.is_empty());
                if uid.is_none() && email.is_none() {
                    export.skipped_unmatchable += 1;
                    return None;
                }
                Some(LegacyMapping { provider: social.provider, email: email.unwrap_or_default(), uid, line: 0 })
            })
            .collect();
        if mappings.is_empty() {
            continue;
        }
        let username = unique_username(&user.username, user.id, &mut taken);
        let full_name = format!("{} {}", user.first_name.trim(), user.last_name.trim());
        let display_name = identity::parse_display_name(&full_name).unwrap_or_else(|| username.to_string());
        export.users.push(LegacyUser {
            legacy_id: format!("allauth:{}", user.id),
            username: username.to_string(),
            display_name,
            line: 0,
            mappings,
        });
    }
    Ok(export)
}

/// Django usernames allow upper case, `@`, `+`: keep the name when it follows munji's rules,
/// otherwise make one from it, and keep names unique within the import.
fn unique_username(django: &str, id: i64, taken: &mut HashSet<String>) -> Username {
    let base = Username::parse(django)
        .ok()
        .or_else(|| Username::suggest(django))
        .or_else(|| Username::suggest(&format!("user{id}")))
        .unwrap_or_else(|| unreachable!("user{{id}} is a valid username"));
    let mut candidate = base.clone();
    let mut n = 1;
    while !taken.insert(candidate.to_string()) {
        candidate = base.with_suffix(n);
        n += 1;
    }
    candidate
}

/// The e-mail a provider reported, as allauth kept it in `extra_data`: Google and Naver at the
/// top level (Naver sometimes inside `response`), Kakao in `kakao_account`.
fn email_in_extra_data(extra_data: &str) -> Option<String> {
    let data: Value = serde_json::from_str(extra_data).ok()?;
    [&data["email"], &data["response"]["email"], &data["kakao_account"]["email"]]
        .into_iter()
        .find_map(|v| v.as_str().filter(|e| !e.is_empty()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_found_where_each_provider_put_them() {
        assert_eq!(
            email_in_extra_data(r#"{"email":"g@gmail.com","verified_email":true}"#).as_deref(),
            Some("g@gmail.com")
        );
        assert_eq!(
            email_in_extra_data(r#"{"response":{"id":"1","email":"n@naver.com"}}"#).as_deref(),
            Some("n@naver.com")
        );
        assert_eq!(
            email_in_extra_data(r#"{"id":1,"kakao_account":{"email":"k@kakao.com"}}"#).as_deref(),
            Some("k@kakao.com")
        );
        assert_eq!(email_in_extra_data(r#"{"id":1,"kakao_account":{}}"#), None);
        assert_eq!(email_in_extra_data("not json"), None);
    }

    #[test]
    fn django_usernames_become_valid_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(unique_username("kim.minsu", 1, &mut taken).as_str(), "kim.minsu");
        assert_eq!(unique_username("Kim.Minsu", 2, &mut taken).as_str(), "kim.minsu1");
        assert_eq!(unique_username("lee+test@example.com", 3, &mut taken).as_str(), "leetest");
        assert_eq!(unique_username("홍길동", 4, &mut taken).as_str(), "user4");
    }
}
