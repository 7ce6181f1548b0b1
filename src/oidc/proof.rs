//! Whether a public client's request holds something that only the client's real users have. A
//! public client has no secret, so anyone can name it; its own `oauth` budget counts only the
//! requests that carry a live code or token of it, so that junk naming the client from one
//! address spends that address's budget and not every real user's. Every look-up here reads
//! and changes nothing; the grant that follows does the real checks.

use chrono::Utc;

use super::{
    authorize::{self, Redemption},
    clients::{AUTHORIZATION_CODE, Client, REFRESH_TOKEN},
};
use crate::{crypto, state::AppState, store::refresh_tokens};

/// What a request offers as proof beyond the client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence<'a> {
    /// Nothing.
    None,
    /// An authorization code to redeem.
    Code(&'a str),
    /// A refresh token to redeem.
    RefreshToken(&'a str),
    /// A token to revoke or introspect: a refresh token or an access token.
    Token(&'a str),
}

impl<'a> Evidence<'a> {
    /// What a `/token` form offers, by its grant type.
    pub fn of_token_form(form: &'a [(String, String)]) -> Self {
        let get = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        match (get("grant_type"), get("code"), get("refresh_token")) {
            (Some(AUTHORIZATION_CODE), Some(code), _) => Self::Code(code),
            (Some(REFRESH_TOKEN), _, Some(token)) => Self::RefreshToken(token),
            _ => Self::None,
        }
    }
}

/// Whether `evidence` is `client`'s: an unredeemed code issued to it, a live refresh token of
/// it, or (a token to revoke or introspect) either that or a valid access token minted for it.
/// A store that cannot be read proves nothing; the request then fails on its own.
pub async fn holds(state: &AppState, client: &Client, evidence: Evidence<'_>) -> bool {
    match evidence {
        Evidence::None => false,
        Evidence::Code(code) => match authorize::look_up_code(&state.ephemeral, &state.clock, code).await {
            Ok(Redemption::Found(record)) => record.client_id == client.id,
            _ => false,
        },
        Evidence::RefreshToken(token) => live_refresh_token(state, client, token).await,
        Evidence::Token(token) => {
            live_refresh_token(state, client, token).await
                || state.tokens.verify_access(token).await.is_ok_and(|claims| claims.client_id == client.id)
        }
    }
}

async fn live_refresh_token(state: &AppState, client: &Client, token: &str) -> bool {
    let found = refresh_tokens::find_live(&state.db, &crypto::sha256_hex(token), Utc::now()).await;
    matches!(found, Ok(Some(row)) if row.client_id == client.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(form: &str, expected: Evidence<'_>) -> bool {
        Evidence::of_token_form(&authorize::single_valued(form).unwrap()) == expected
    }

    #[test]
    fn a_token_form_offers_what_its_grant_type_redeems() {
        assert!(offers("grant_type=authorization_code&code=c&refresh_token=r", Evidence::Code("c")));
        assert!(offers("grant_type=refresh_token&code=c&refresh_token=r", Evidence::RefreshToken("r")));
        assert!(offers("grant_type=refresh_token", Evidence::None));
        assert!(offers("grant_type=client_credentials&code=c", Evidence::None));
        assert!(offers("code=c", Evidence::None));
    }
}
