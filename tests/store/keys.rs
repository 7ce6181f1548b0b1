//! Signing keys: a new key may retire the others in the same transaction; retired keys stay
//! published until the cutoff.

use chrono::Duration;
use munji::store::{Db, keys};

use crate::now;

on_every_durable_backend!(keys_are_published_until_retired_before_the_cutoff);

async fn keys_are_published_until_retired_before_the_cutoff(db: Db) {
    let start = now();
    let at = |minutes| start + Duration::minutes(minutes);
    keys::insert(&db, "k1", "ES256", b"sealed-1", "{}", at(0), false).await.unwrap();
    keys::insert(&db, "k2", "ES256", b"sealed-2", "{}", at(1), false).await.unwrap();
    keys::insert(&db, "k3", "RS256", &[0, 255, 7], r#"{"kty":"RSA"}"#, at(2), true).await.unwrap();
    let kids = |list: Vec<keys::StoredKey>| list.into_iter().map(|k| k.kid).collect::<Vec<_>>();

    let all = keys::list_all(&db).await.unwrap();
    assert_eq!(kids(all.clone()), ["k3", "k2", "k1"], "newest first");
    assert_eq!(
        (all[0].alg.as_str(), all[0].sealed_key.as_slice(), all[0].public_jwk.as_str()),
        ("RS256", &[0, 255, 7][..], r#"{"kty":"RSA"}"#)
    );
    assert_eq!(all.iter().map(|k| k.retired_at).collect::<Vec<_>>(), [None, Some(at(2)), Some(at(2))]);

    assert_eq!(kids(keys::list_published(&db, at(1)).await.unwrap()), ["k3", "k2", "k1"], "retired after the cutoff");
    assert_eq!(kids(keys::list_published(&db, at(2)).await.unwrap()), ["k3"], "retired at the cutoff");
    assert!(keys::insert(&db, "k3", "ES256", b"again", "{}", at(3), true).await.is_err(), "kids are unique");
    assert_eq!(kids(keys::list_published(&db, at(2)).await.unwrap()), ["k3"], "the failed insert retired nothing");
}
