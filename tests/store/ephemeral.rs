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

/// The store behind `MUNJI_TEST_{SENTINEL,CLUSTER}_URL` (set by `scripts/redis-failover.sh`),
/// or `None` when the variable is unset: these tests need servers of their own.
fn failover_store(variable: &str) -> Option<Ephemeral> {
    let url = std::env::var(variable).ok()?;
    Some(Ephemeral::redis(&url, &format!("munji-test-{}:", uuid::Uuid::new_v4().simple())).unwrap())
}

/// Every operation, a batch across slots included, on a Sentinel set's primary and on a
/// Cluster.
#[tokio::test]
async fn sentinel_and_cluster_stores_behave_like_one_server() {
    for variable in ["MUNJI_TEST_SENTINEL_URL", "MUNJI_TEST_CLUSTER_URL"] {
        let Some(store) = failover_store(variable) else { continue };
        a_value_put_can_be_read_until_taken(store.clone()).await;
        put_new_has_one_winner_and_only_the_holder_releases(store.clone()).await;
        counters_count_each_hit_once_within_their_window(store.clone()).await;
        store.put("session_ended:s1", b"1", Duration::from_secs(60)).await.unwrap();
        let hits = [("rl:oauth:ip:203.0.113.1", 1), ("rl:oauth:client:svc", 1)]
            .map(|(key, _)| munji::ephemeral::Hit { key: key.into(), window: Duration::from_secs(60) });
        let found = store.batch(&hits, &["session_ended:s1".into(), "session_ended:s2".into()]).await.unwrap();
        assert_eq!(found.counts.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 1], "{variable}");
        assert_eq!(found.present, [true, false], "{variable}");
    }
}

/// A Sentinel failover (`SENTINEL FAILOVER`, the replica promoted) fails at most the operations
/// in flight; afterwards state, link intents, vending locks and counters are all still there.
#[tokio::test]
async fn a_sentinel_failover_costs_only_the_operations_in_flight() {
    let Some(store) = failover_store("MUNJI_TEST_SENTINEL_URL") else { return };
    let url = std::env::var("MUNJI_TEST_SENTINEL_URL").unwrap();
    let (hosts, master) = url.trim_start_matches("redis+sentinel://").split_once('/').unwrap();
    let sentinel = redis::Client::open(format!("redis://{}", hosts.split(',').next().unwrap())).unwrap();
    let ask = |args: &[&str]| {
        let mut conn = sentinel.get_connection().unwrap();
        redis::cmd("SENTINEL").arg(args).query::<redis::Value>(&mut conn).unwrap()
    };
    let minute = Duration::from_secs(60);
    store.put("flow:f1", b"state", minute).await.unwrap();
    store.put("link_ticket:t1", b"intent", minute).await.unwrap();
    assert!(store.put_new("gmail-refresh:c1", b"holder", minute).await.unwrap());
    assert_eq!(store.incr("rl:oauth:client:svc", minute).await.unwrap().0, 1);
    // Let the replica catch up, then promote it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = ask(&["get-master-addr-by-name", master]);
    ask(&["failover", master]);
    let (mut failed, mut ok_in_a_row) = (0, 0);
    let began = std::time::Instant::now();
    while ok_in_a_row < 20 && began.elapsed() < Duration::from_secs(30) {
        match store.incr("rl:oauth:ip:203.0.113.9", minute).await {
            Ok(_) => ok_in_a_row += 1,
            Err(_) => {
                failed += 1;
                ok_in_a_row = 0;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(ask(&["get-master-addr-by-name", master]), before, "the primary moved");
    assert_eq!(ok_in_a_row, 20, "working again after the failover ({failed} operations failed)");
    assert!(failed <= 5, "{failed} operations failed: more than those in flight at the switch");
    assert_eq!(store.get("flow:f1").await.unwrap().as_deref(), Some(&b"state"[..]), "state");
    assert_eq!(store.take("link_ticket:t1").await.unwrap().as_deref(), Some(&b"intent"[..]), "link intent");
    assert!(!store.put_new("gmail-refresh:c1", b"other", minute).await.unwrap(), "the lock is still held");
    assert_eq!(store.incr("rl:oauth:client:svc", minute).await.unwrap().0, 2, "the counter kept its count");
}
