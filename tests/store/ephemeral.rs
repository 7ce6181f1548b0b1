//! The ephemeral store behaves the same on Redis, on the SQLite table and on the PostgreSQL
//! table.

use std::{sync::Arc, time::Duration};

use munji::{ephemeral::Ephemeral, store::Db};

use crate::databases::{RedisPrefix, TestDatabase};

/// An ephemeral store and whatever must live as long as it.
struct Subject {
    store: Ephemeral,
    _database: Option<TestDatabase>,
    _redis: Option<RedisPrefix>,
}

async fn sql_subject(database: TestDatabase) -> Subject {
    let (db, database) = crate::migrated(database).await;
    Subject { store: Ephemeral::sql(db), _database: Some(database), _redis: None }
}

async fn sqlite() -> Subject {
    sql_subject(TestDatabase::sqlite()).await
}

async fn postgres() -> Subject {
    sql_subject(TestDatabase::postgres_migrated().await).await
}

async fn redis() -> Subject {
    let prefix = RedisPrefix::new();
    let store = Ephemeral::redis(&prefix.url, &prefix.prefix).unwrap();
    Subject { store, _database: None, _redis: Some(prefix) }
}

macro_rules! on_every_ephemeral_backend {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $(#[tokio::test] async fn $name() { super::$name(super::sqlite().await.store).await })* }
        mod on_postgres { $(#[tokio::test] async fn $name() { super::$name(super::postgres().await.store).await })* }
        mod on_redis { $(#[tokio::test] async fn $name() { super::$name(super::redis().await.store).await })* }
    };
}

on_every_ephemeral_backend!(
    a_value_put_can_be_read_until_taken,
    put_overwrites_the_value_and_its_ttl,
    values_expire_after_their_ttl,
    fifty_concurrent_takes_have_exactly_one_winner,
    delete_removes_a_value,
    keys_are_independent,
    put_new_has_one_winner_and_only_the_holder_releases,
    counters_count_each_hit_once_within_their_window,
);

async fn a_value_put_can_be_read_until_taken(store: Ephemeral) {
    store.put("state:a", b"record", Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.get("state:a").await.unwrap().as_deref(), Some(&b"record"[..]));
    assert_eq!(store.get("state:a").await.unwrap().as_deref(), Some(&b"record"[..]), "get leaves it in place");
    assert_eq!(store.take("state:a").await.unwrap().as_deref(), Some(&b"record"[..]));
    assert_eq!(store.take("state:a").await.unwrap(), None, "a value is taken once");
    assert_eq!(store.get("state:a").await.unwrap(), None);
}

async fn put_overwrites_the_value_and_its_ttl(store: Ephemeral) {
    store.put("k", b"first", Duration::from_millis(300)).await.unwrap();
    store.put("k", b"second", Duration::from_secs(60)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"second"[..]), "the longer TTL replaced the shorter");
}

async fn values_expire_after_their_ttl(store: Ephemeral) {
    store.put("short", b"v", Duration::from_millis(700)).await.unwrap();
    store.put("long", b"v", Duration::from_secs(60)).await.unwrap();
    assert!(store.get("short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
    assert_eq!(store.take("short").await.unwrap(), None, "an expired value cannot be taken");
    assert!(store.get("long").await.unwrap().is_some());
    store.purge_expired().await.unwrap();
    assert!(store.get("long").await.unwrap().is_some(), "purging keeps live values");
}

async fn fifty_concurrent_takes_have_exactly_one_winner(store: Ephemeral) {
    for round in 0..3 {
        let key = format!("once:{round}");
        store.put(&key, b"prize", Duration::from_secs(60)).await.unwrap();
        let store = Arc::new(store.clone());
        let takers: Vec<_> = (0..50)
            .map(|_| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move { store.take(&key).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for taker in takers {
            if let Some(value) = taker.await.unwrap() {
                assert_eq!(value, b"prize");
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn delete_removes_a_value(store: Ephemeral) {
    store.put("gone", b"v", Duration::from_secs(60)).await.unwrap();
    store.delete("gone").await.unwrap();
    assert_eq!(store.get("gone").await.unwrap(), None);
    store.delete("never-there").await.unwrap();
}

async fn put_new_has_one_winner_and_only_the_holder_releases(store: Ephemeral) {
    let store = Arc::new(store);
    let contenders: Vec<_> = (0..30u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { store.put_new("lock", &[i], Duration::from_millis(800)).await.unwrap().then_some(i) },
            )
        })
        .collect();
    let mut winners = vec![];
    for contender in contenders {
        winners.extend(contender.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "one holder of the lock");
    let holder = winners[0];
    assert!(!store.delete_if("lock", &[holder.wrapping_add(1)]).await.unwrap(), "another value does not release it");
    assert!(!store.put_new("lock", b"late", Duration::from_secs(1)).await.unwrap());
    assert!(store.delete_if("lock", &[holder]).await.unwrap());
    assert!(store.put_new("lock", b"next", Duration::from_millis(500)).await.unwrap(), "released: free again");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(store.put_new("lock", b"after", Duration::from_secs(5)).await.unwrap(), "an expired lock is free");
    assert_eq!(store.get("lock").await.unwrap().as_deref(), Some(&b"after"[..]));
}

async fn counters_count_each_hit_once_within_their_window(store: Ephemeral) {
    let window = Duration::from_millis(900);
    let store = Arc::new(store);
    let hits: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.incr("rl:ip:1", window).await.unwrap() })
        })
        .collect();
    let mut counts = vec![];
    for hit in hits {
        let (count, left) = hit.await.unwrap();
        assert!(left <= window && !left.is_zero(), "{left:?} left of the window");
        counts.push(count);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u64>>(), "every hit counted once");
    assert_eq!(store.incr("rl:ip:2", window).await.unwrap().0, 1, "keys count apart");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.incr("rl:ip:1", window).await.unwrap().0, 1, "a new window starts from one");
    store.purge_expired().await.unwrap();
}

async fn keys_are_independent(store: Ephemeral) {
    store.put("a", b"1", Duration::from_secs(60)).await.unwrap();
    store.put("b", b"2", Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.take("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn concurrent_takes_are_exclusive_across_two_pools_on_postgres() {
    // Two pools stand for two munji instances sharing one database.
    let database = TestDatabase::postgres_migrated().await;
    let first = Db::connect(&database.url).await.unwrap();
    first.migrate().await.unwrap();
    let second = Db::connect(&database.url).await.unwrap();
    let (a, b) = (Ephemeral::sql(first), Ephemeral::sql(second));
    a.put("shared", b"v", Duration::from_secs(60)).await.unwrap();
    let takes: Vec<_> = (0..50)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.take("shared").await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for take in takes {
        winners += usize::from(take.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}
