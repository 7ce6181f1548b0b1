#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a benchmark: failing loudly is the point
//! The admin user search (`munji::store::users::search`, docs/admin.md) on PostgreSQL with
//! 1,000,000 users: `cargo bench --bench admin_search`.
//!
//! Creates a database `munji_bench_<random>` next to `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), migrates it, seeds 1,000,000 users, ~1.3M
//! identities and ~100k past e-mails with `generate_series`, then times the real function through
//! a real pool for each kind of query (`ROUNDS` rounds, default 200, the kinds interleaved so
//! each one meets the others' plans in the statement cache) and prints p50/p99/max. The database
//! is dropped at the end unless `KEEP=1`. `USERS` changes the number of users. The target
//! (docs/operations.md) is a p50 under 20 ms for every kind.

use std::time::{Duration, Instant};

use munji::store::{
    Db,
    users::{After, Search, search},
};
use rand::{
    Rng, SeedableRng,
    rngs::StdRng,
    seq::{IndexedRandom, SliceRandom},
};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

const LIMIT: i64 = 50;
const TARGET: Duration = Duration::from_millis(20);

/// Seed statements; `$1` is the number of users. User `g` (1..=N) is `user` + g on 7 digits,
/// created at a pseudo-random second of the two years before 2025-06-01. Every user has an
/// identity at provider g % 3, three in ten a second one at the next provider; one identity in
/// ten (Kakao's, mostly) has no e-mail; one user in ten has an earlier address of the first
/// identity, one in a hundred two. A tenth of the accounts write their e-mail in mixed case.
const SEED: &[(&str, &str)] = &[
    (
        "users",
        "INSERT INTO users (id, username, display_name, email, created_at, updated_at)
         SELECT md5('u' || g)::uuid, 'user' || lpad(g::text, 7, '0'), initcap(n.family || ' ' || n.given),
                CASE WHEN g % 20 = 7 THEN NULL
                     WHEN g % 10 = 3 THEN initcap(n.given) || '.' || initcap(n.family) || g || '@' || n.domain
                     ELSE n.given || '.' || n.family || g || '@' || n.domain END,
                at, at
         FROM generate_series(1, $1::int) g,
              LATERAL (SELECT (ARRAY['kim','lee','park','choi','jung','kang','cho','yoon','jang','lim',
                                     'han','oh','seo','shin','kwon','hwang','ahn','song'])[1 + g % 18] AS family,
                              (ARRAY['minsu','jisoo','seoyeon','jihoon','hyunwoo','yuna','doyun','haeun',
                                     'jiwoo','seojun','minji','eunji','taeyang','sora','jaewon','nari',
                                     'hana','junho','yejin','sungmin'])[1 + (g / 18) % 20] AS given,
                              (ARRAY['gmail.com','naver.com','daum.net','kakao.com','hanmail.net',
                                     'example.com','outlook.com'])[1 + (g / 7) % 7] AS domain) n,
              LATERAL (SELECT timestamptz '2023-06-01 00:00:00+00'
                              + ((g::bigint * 7919 * 104729) % 63072000000) * interval '1 millisecond' AS at) t",
    ),
    (
        "identities",
        "INSERT INTO identities (id, user_id, provider, uid, email, email_verified, linked_at, last_login_at)
         SELECT md5('i' || s.k || ':' || s.g)::uuid, u.id, p.provider,
                CASE p.provider
                    WHEN 'google' THEN (100000000000000000000::numeric + s.g::bigint * 7919 + s.k)::text
                    WHEN 'naver' THEN substr(md5('naver' || s.k || ':' || s.g), 1, 22)
                    ELSE (3000000000::bigint + s.g::bigint * 2 + s.k)::text END,
                CASE WHEN s.k = 2 THEN split_part(lower(u.email), '@', 1) || '.' || p.provider || '@' || p.domain
                     WHEN p.provider = 'kakao' AND s.g % 3 = 2 AND s.g % 9 < 3 THEN NULL
                     ELSE lower(u.email) END,
                true, u.created_at,
                u.created_at + (timestamptz '2025-06-01 00:00:00+00' - u.created_at) * ((s.g * 37 + s.k) % 100) / 100.0
         FROM (SELECT g, 1 AS k FROM generate_series(1, $1::int) g
               UNION ALL SELECT g, 2 FROM generate_series(1, $1::int) g WHERE g % 10 < 3) s
         JOIN users u ON u.id = md5('u' || s.g)::uuid,
              LATERAL (SELECT (ARRAY['google','naver','kakao'])[1 + (s.g + s.k - 1) % 3] AS provider,
                              (ARRAY['gmail.com','naver.com','kakao.com'])[1 + (s.g + s.k - 1) % 3] AS domain) p",
    ),
    (
        "identity_emails",
        "INSERT INTO identity_emails (id, identity_id, email, replaced_at)
         SELECT md5('e' || h.n || ':' || g)::uuid, i.id,
                'old' || h.n || '.' || split_part(coalesce(i.email, 'kakao' || g || '@kakao.com'), '@', 1)
                    || '@' || (ARRAY['hotmail.com','yahoo.co.kr','nate.com','empal.com'])[1 + g % 4],
                i.linked_at + (i.last_login_at - i.linked_at) / (h.n + 1)
         FROM generate_series(1, $1::int) g
         JOIN identities i ON i.id = md5('i1:' || g)::uuid
         CROSS JOIN LATERAL (SELECT n FROM generate_series(1, 2) n WHERE n = 1 OR g % 100 = 5) h
         WHERE g % 10 = 5",
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    PrefixFew,
    PrefixMany,
    Email,
    PastEmail,
    EmailCase,
    Uid,
    UserId,
    FirstPage,
    SecondPage,
    SecondPagePrefix,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::PrefixFew,
        Kind::PrefixMany,
        Kind::Email,
        Kind::PastEmail,
        Kind::EmailCase,
        Kind::Uid,
        Kind::UserId,
        Kind::FirstPage,
        Kind::SecondPage,
        Kind::SecondPagePrefix,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::PrefixFew => "username prefix, 10 matches",
            Kind::PrefixMany => "username prefix, 100k matches",
            Kind::Email => "current e-mail",
            Kind::PastEmail => "past e-mail",
            Kind::EmailCase => "e-mail, other letter case",
            Kind::Uid => "provider uid",
            Kind::UserId => "user id",
            Kind::FirstPage => "no q, first page",
            Kind::SecondPage => "no q, second page (cursor)",
            Kind::SecondPagePrefix => "prefix 100k, second page (cursor)",
        }
    }
}

/// The inputs of each kind, drawn from the seeded data.
struct Inputs {
    emails: Vec<String>,
    past: Vec<String>,
    uids: Vec<String>,
    ids: Vec<String>,
    users: i64,
}

impl Inputs {
    async fn load(pool: &PgPool, users: i64) -> Self {
        async fn sample(pool: &PgPool, sql: &'static str) -> Vec<String> {
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.expect("sample");
            assert!(!rows.is_empty(), "no sample for {sql}");
            rows
        }
        Self {
            emails: sample(pool, "SELECT email FROM users WHERE email IS NOT NULL ORDER BY random() LIMIT 500").await,
            past: sample(pool, "SELECT email FROM identity_emails ORDER BY random() LIMIT 500").await,
            uids: sample(pool, "SELECT uid FROM identities ORDER BY random() LIMIT 500").await,
            ids: sample(pool, "SELECT id::text FROM users ORDER BY random() LIMIT 500").await,
            users,
        }
    }

    fn q(&self, kind: Kind, rng: &mut impl Rng) -> String {
        let pick = |v: &[String], rng: &mut _| v.choose(rng).expect("inputs").clone();
        match kind {
            // Seven digits; six of them fix ten users.
            Kind::PrefixFew => format!("user{:06}", rng.random_range(0..(self.users + 9) / 10)),
            // Each a tenth of a million users (`USERS` below it: the prefixes that exist).
            Kind::PrefixMany | Kind::SecondPagePrefix => {
                format!("user0{}", rng.random_range(0..=((self.users - 1) / 100_000).min(9)))
            }
            Kind::Email => pick(&self.emails, rng),
            Kind::PastEmail => pick(&self.past, rng),
            Kind::EmailCase => swap_case(&pick(&self.emails, rng)),
            Kind::Uid => pick(&self.uids, rng),
            Kind::UserId => pick(&self.ids, rng).to_uppercase(),
            Kind::FirstPage | Kind::SecondPage => String::new(),
        }
    }
}

fn swap_case(s: &str) -> String {
    s.chars().map(|c| if c.is_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too, without it run nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let admin_url =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let users: i64 = env_or("USERS", 1_000_000);
    let rounds: usize = env_or("ROUNDS", 200);
    let keep = std::env::var("KEEP").is_ok_and(|v| v == "1");
    let name = format!("munji_bench_{:08x}", rand::rng().random::<u32>());
    let mut admin = PgConnection::connect(&admin_url).await.expect("connect to TEST_POSTGRES_URL");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create database");
    let (base, _) = admin_url.rsplit_once('/').expect("a database URL");
    let url = format!("{base}/{name}");
    println!("database {name}");

    let result = tokio::spawn(run(url.clone(), users, rounds)).await;
    if keep {
        println!("kept: {url}");
    } else {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
            .execute(&mut admin)
            .await
            .expect("drop database");
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run(url: String, users: i64, rounds: usize) {
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let Db::Postgres(pool) = &db else { unreachable!("a postgres:// URL") };

    let started = Instant::now();
    for &(table, sql) in SEED {
        let at = Instant::now();
        let rows = sqlx::query(sql).bind(users).execute(pool).await.expect("seed").rows_affected();
        println!("seeded {rows} {table} in {:.1} s", at.elapsed().as_secs_f64());
    }
    pool.execute("VACUUM ANALYZE users, identities, identity_emails").await.expect("analyze");
    println!("seeded and analyzed in {:.1} s", started.elapsed().as_secs_f64());

    let inputs = Inputs::load(pool, users).await;
    let mut rng = StdRng::from_os_rng();
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); Kind::ALL.len()];
    let mut sizes: Vec<usize> = vec![0; Kind::ALL.len()];
    // Warm-up rounds are not counted.
    for round in 0..rounds + 10 {
        let mut kinds = Kind::ALL.to_vec();
        kinds.shuffle(&mut rng);
        for kind in kinds {
            let q = inputs.q(kind, &mut rng);
            let mut after: Option<After> = None;
            if matches!(kind, Kind::SecondPage | Kind::SecondPagePrefix) {
                let first = search(&db, &Search { q: q.clone() }, None, LIMIT).await.expect("search");
                let last = first.last().expect("a full first page");
                after = Some((last.user.created_at, last.user.id));
            }
            let at = Instant::now();
            let found = search(&db, &Search { q: q.clone() }, after, LIMIT).await.expect("search");
            let took = at.elapsed();
            let i = Kind::ALL.iter().position(|k| *k == kind).expect("a kind");
            match kind {
                Kind::Email | Kind::PastEmail | Kind::EmailCase | Kind::Uid | Kind::UserId => {
                    assert!(!found.is_empty(), "{}: nothing for {q:?}", kind.name())
                }
                Kind::PrefixMany | Kind::FirstPage | Kind::SecondPage | Kind::SecondPagePrefix => {
                    assert_eq!(found.len(), LIMIT as usize, "{}: {q:?}", kind.name())
                }
                Kind::PrefixFew => {}
            }
            if round >= 10 {
                times[i].push(took);
                sizes[i] += found.len();
            }
        }
    }

    println!();
    println!("{users} users, limit {LIMIT}, {rounds} searches per kind");
    println!("| query | p50 | p99 | max | rows (avg) |");
    println!("|---|---|---|---|---|");
    let mut slowest: Option<(Kind, Duration)> = None;
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let sorted = &mut times[i];
        sorted.sort();
        let p50 = percentile(sorted, 0.5);
        println!(
            "| {} | {} | {} | {} | {:.1} |",
            kind.name(),
            ms(p50),
            ms(percentile(sorted, 0.99)),
            ms(*sorted.last().expect("times")),
            sizes[i] as f64 / rounds as f64
        );
        if slowest.is_none_or(|(_, d)| p50 > d) {
            slowest = Some((kind, p50));
        }
    }
    if let Some((kind, p50)) = slowest.filter(|(_, d)| *d >= TARGET) {
        println!("\n{} misses the target ({} ≥ {}); its plan:", kind.name(), ms(p50), ms(TARGET));
        explain(pool, &inputs, kind).await;
    }
}

/// `EXPLAIN ANALYZE` of what `search` runs for `kind`, with the parameters it binds.
async fn explain(pool: &PgPool, inputs: &Inputs, kind: Kind) {
    let q = inputs.q(kind, &mut rand::rng());
    let sql = if q.is_empty() { munji::store::users::SEARCH_ALL } else { munji::store::users::SEARCH_POSTGRES };
    let mut conn = pool.acquire().await.expect("a connection");
    let statement = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
    let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(statement));
    if q.is_empty() {
        query = query.bind(None::<chrono::DateTime<chrono::Utc>>).bind(uuid::Uuid::nil()).bind(LIMIT);
    } else {
        let (prefix, email) = (munji::store::users::postgres_prefix(&q), q.to_lowercase());
        query = query
            .bind(prefix)
            .bind(String::new())
            .bind(email)
            .bind(q.clone())
            .bind(uuid::Uuid::parse_str(&q).ok())
            .bind(None::<chrono::DateTime<chrono::Utc>>)
            .bind(uuid::Uuid::nil())
            .bind(LIMIT);
    }
    println!("q = {q:?}");
    for line in query.fetch_all(&mut *conn).await.expect("explain") {
        println!("  {line}");
    }
}
