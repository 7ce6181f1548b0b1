//! The `munji` binary as an operator runs it.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{SECRET_KEY, databases::TestDatabase};

fn munji(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_munji"));
    cmd.args(args).env_clear().envs(env.iter().copied()).current_dir(dir);
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    munji(args, env, dir).output().expect("run munji")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// Start-up fails on the configuration, before any store is opened.
#[test]
fn a_malformed_config_value_fails_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["serve"], &[("MUNJI_SECRET_KEY", SECRET_KEY), ("MUNJI_BIND", "localhost-ish")], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config key `bind`") && stderr.contains("MUNJI_BIND"), "{stderr}");

    // A host name is not resolved; the message says what to write instead.
    let out = run(&["serve"], &[("MUNJI_SECRET_KEY", SECRET_KEY), ("MUNJI_BIND", "localhost:8080")], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MUNJI_BIND") && stderr.contains("such as 127.0.0.1:8080"), "{stderr}");

    std::fs::write(dir.path().join("munji.toml"), "registration = \"sometimes\"\n").unwrap();
    let out = run(&["serve", "--config", "munji.toml"], &[("MUNJI_SECRET_KEY", SECRET_KEY)], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config key `registration`"));
}

// Start-up fails on the configuration, before any store is opened.
#[test]
fn serve_without_a_secret_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["serve"], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`secret_key`: is required"));
    assert!(!dir.path().join("munji.db").exists(), "nothing is created when start-up fails");
}

// Start-up fails on the configuration, before any store is opened.
#[test]
fn serve_dev_refuses_a_non_loopback_bind() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["serve", "--dev"], &[("MUNJI_BIND", "0.0.0.0:8080")], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    assert!(!dir.path().join("munji.db.secret").exists(), "a refused start makes no dev secret");
}

// Start-up fails on the configuration, before any store is opened.
#[test]
fn a_refused_serve_dev_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("munji.toml"), "[[clients]]\nid = \"web\"\nsecret = \"short\"\n").unwrap();
    let out = run(&["serve", "--dev", "--config", "munji.toml"], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clients[0]"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["serve", "--dev"], &[("MUNJI_REGISTRATION", "sometimes")], dir.path());
    assert!(!out.status.success());
    let mut left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["munji.toml"], "no dev secret, no database");
}

// `serve --dev` embeds SQLite: that is the backend it is about.
#[tokio::test]
async fn serve_dev_runs_with_no_configuration_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = munji(&["serve", "--dev"], &[("MUNJI_BIND", &bind)], dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        match client.get(format!("http://{bind}/readyz")).send().await {
            Ok(resp) => break resp,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("munji serve --dev did not come up: {e}"),
        }
    };
    assert_eq!(ready.status(), 200);
    assert_eq!(client.get(format!("http://{bind}/healthz")).send().await.unwrap().status(), 200);
    let login = client.get(format!("http://{bind}/login")).header("accept-language", "en").send().await.unwrap();
    let login = login.text().await.unwrap();
    assert!(login.contains("href=\"/login/dev-oidc?") && login.contains("Sign in with Dev OIDC"), "{login}");
    assert!(login.contains("href=\"/login/apple?") && login.contains("Sign in with Apple"), "{login}");
    // Apple's imitation answers under the other loopback name, so its form post crosses sites.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let apple = no_redirects.get(format!("http://{bind}/login/apple")).send().await.unwrap();
    let to = url::Url::parse(apple.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.host_str(), Some("localhost"), "{to}");
    assert_eq!(to.path(), "/dev/apple/auth/authorize");
    assert!(dir.path().join("munji.db").is_file(), "the embedded database is created on first run");
    assert!(dir.path().join("munji.db.secret").is_file(), "the dev secret is kept beside it");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "munji did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");

    // The administrative commands that need the secret: told how to give it, then given it.
    let keys = run(&["keys", "list"], &[], dir.path());
    assert!(!keys.status.success());
    let stderr = String::from_utf8_lossy(&keys.stderr);
    assert!(stderr.contains("MUNJI_SECRET_KEY") && stderr.contains("add --dev"), "{stderr}");
    let keys = run(&["keys", "list", "--dev"], &[], dir.path());
    assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));
    let listed = String::from_utf8_lossy(&keys.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("ES256") && listed.contains("current"), "the key serve --dev made: {listed}");
}

// `keys --dev` on a database `serve --dev` never ran on: nothing to use, nothing made.
#[test]
fn keys_dev_without_a_dev_secret_says_where_it_looked_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["keys", "list", "--dev"], &[], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("munji.db.secret") && stderr.contains("MUNJI_SECRET_KEY"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no database, no secret");
}

// Printing the document opens no store.
#[test]
fn openapi_prints_the_committed_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["openapi"], &[], dir.path());
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), include_str!("../../openapi/munji.json"));
}

/// The versions of the migrations the binary carries (the `.up.sql` files of one backend), in
/// order. Numbers may have gaps: each branch of work takes its own.
fn migration_versions() -> Vec<i64> {
    let mut versions: Vec<i64> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".up.sql"))
        .map(|name| name[..name.find('_').unwrap()].parse().unwrap())
        .collect();
    versions.sort_unstable();
    versions
}

async fn migrate_then_revert_everything(database: TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let versions = migration_versions();
    let (count, n, before_last) = (versions.len(), versions[versions.len() - 1], versions[versions.len() - 2]);
    let env = [("MUNJI_DATABASE_URL", database.url.as_str())];

    let up = run(&["migrate"], &env, dir.path());
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let stdout = String::from_utf8_lossy(&up.stdout).to_string();
    assert!(stdout.contains(&format!("applied {count} migration(s); now at version {n}")), "{stdout}");

    let again = run(&["migrate"], &env, dir.path());
    assert!(String::from_utf8_lossy(&again.stdout).contains("applied 0 migration(s)"));

    // Not at a terminal and without --yes: warned, refused, nothing reverted.
    let asked = run(&["migrate", "revert"], &env, dir.path());
    assert!(!asked.status.success());
    let stderr = String::from_utf8_lossy(&asked.stderr);
    assert!(stderr.contains(&format!("reverts migration(s) {n} ")), "{stderr}");
    assert!(stderr.contains("Stop every munji instance") && stderr.contains("add --yes"), "{stderr}");
    let again = run(&["migrate"], &env, dir.path());
    assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("applied 0 migration(s); now at version {n}")));

    let one = run(&["migrate", "revert", "--yes"], &env, dir.path());
    let reverted_one = format!("now at version {before_last}");
    assert!(String::from_utf8_lossy(&one.stdout).contains(&reverted_one), "{}", String::from_utf8_lossy(&one.stderr));
    assert!(String::from_utf8_lossy(&one.stderr).contains("Stop every munji instance"), "--yes still warns");

    let all = run(&["migrate", "revert", "--target", "0", "--yes"], &env, dir.path());
    assert!(all.status.success());
    assert!(String::from_utf8_lossy(&all.stdout).contains("now at version 0"));

    let db = munji::store::Db::connect(&database.url).await.unwrap();
    assert_eq!(db.applied_versions().await.unwrap(), Vec::<i64>::new());
    db.close().await;
}

// Each backend has its own migrations: one test for each.
#[tokio::test]
async fn migrate_applies_and_reverts_on_sqlite() {
    migrate_then_revert_everything(TestDatabase::sqlite()).await;
}

// Each backend has its own migrations: one test for each.
#[tokio::test]
async fn migrate_applies_and_reverts_on_postgres() {
    migrate_then_revert_everything(TestDatabase::postgres().await).await;
}

/// Ids that parse as UUIDs, in the spellings a UUID parser accepts.
const UUID_IDS: [&str; 3] = [
    "0b6e4f8a-3c1d-4e2f-9a7b-5c6d7e8f9a0b",
    "0B6E4F8A3C1D4E2F9A7B5C6D7E8F9A0B",
    "{0b6e4f8a-3c1d-4e2f-9a7b-5c6d7e8f9a0b}",
];

// The id is refused before it reaches a store; a SQLite file is enough.
#[test]
fn clients_add_refuses_an_id_that_parses_as_a_uuid() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("munji.db").display());
    let env = [("MUNJI_DATABASE_URL", database.as_str()), ("MUNJI_SECRET_KEY", SECRET_KEY)];
    for id in UUID_IDS {
        let out = run(
            &["clients", "add", "--id", id, "--grant", "client_credentials", "--scope", "gmail.vend"],
            &env,
            dir.path(),
        );
        assert!(!out.status.success(), "{id} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("UUID"), "{id}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("client_secret"), "{id}: no secret is printed");
    }
    let listed = run(&["clients", "list"], &env, dir.path());
    assert!(listed.status.success());
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "", "nothing was registered");
    // Hex that is not a UUID is an ordinary id.
    let ok = run(&["clients", "add", "--id", "mailer-0b6e4f8a", "--grant", "client_credentials"], &env, dir.path());
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

// Start-up fails on the configuration, before any store is opened.
#[test]
fn a_configured_client_whose_id_parses_as_a_uuid_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("munji.toml"),
        format!(
            "[[clients]]\nid = \"web\"\nsecret = \"0123456789abcdef\"\nredirect_uris = [\"https://app.example/cb\"]\n\n\
             [[clients]]\nid = \"{}\"\nsecret = \"0123456789abcdef\"\ngrant_types = [\"client_credentials\"]\n",
            UUID_IDS[0]
        ),
    )
    .unwrap();
    let mut child = munji(
        &["serve", "--config", "munji.toml"],
        &[("MUNJI_SECRET_KEY", SECRET_KEY), ("MUNJI_BIND", &bind)],
        dir.path(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("munji serve started with a client id that is a UUID");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("config key `clients[1]`") && stderr.contains(UUID_IDS[0]), "{stderr}");
    assert!(stderr.contains("UUID"), "{stderr}");
}

// Registering an app for logout and consent (docs/logout.md, docs/consent.md); a SQLite file is
// enough.
#[test]
fn clients_add_takes_logout_uris_and_third_party_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("munji.db").display());
    let env = [("MUNJI_DATABASE_URL", database.as_str()), ("MUNJI_SECRET_KEY", SECRET_KEY)];
    let base = ["clients", "add", "--id", "partner", "--redirect-uri", "https://partner.example/cb"];
    for (bad, why) in [
        (["--backchannel-logout-uri", "http://partner.example/bc"], "http off loopback"),
        (["--post-logout-redirect-uri", "https://partner.example/bye#x"], "a fragment"),
        (["--name", ""], "an empty name"),
    ] {
        let out = run(&[&base[..], &bad[..]].concat(), &env, dir.path());
        assert!(!out.status.success(), "{why} was accepted");
    }
    let listed = run(&["clients", "list"], &env, dir.path());
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "", "nothing was registered");
    let extra = [
        "--name",
        "Partner app",
        "--third-party",
        "--post-logout-redirect-uri",
        "https://partner.example/bye",
        "--backchannel-logout-uri",
        "http://127.0.0.1:9/bc",
    ];
    let ok = run(&[&base[..], &extra[..]].concat(), &env, dir.path());
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let listed = String::from_utf8_lossy(&run(&["clients", "list"], &env, dir.path()).stdout).into_owned();
    for shown in ["third-party", "https://partner.example/bye", "http://127.0.0.1:9/bc", "name=Partner app"] {
        assert!(listed.contains(shown), "{shown} in {listed}");
    }
}

// A configured OpenID Connect provider may be named in the CSV, and `legacy status` gets a line
// (a key with --json) for it; a SQLite file is enough.
#[test]
fn legacy_import_and_status_know_configured_oidc_providers() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("munji.db").display());
    let oidc = [
        ("MUNJI_PROVIDERS__OIDC__LINE__ISSUER_URL", "https://access.line.me"),
        ("MUNJI_PROVIDERS__OIDC__LINE__CLIENT_ID", "1650000000"),
        ("MUNJI_PROVIDERS__OIDC__LINE__CLIENT_SECRET", "s"),
        ("MUNJI_PROVIDERS__OIDC__LINE__DISPLAY_NAME", "LINE"),
    ];
    let csv = "legacy_user_id,username,display_name,email,provider\n1,kim,Kim,kim@line.me,line\n";
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    let bare = [("MUNJI_DATABASE_URL", database.as_str())];
    let refused = run(&["legacy", "import", "users.csv"], &bare, dir.path());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown provider \"line\""), "not configured here");
    let mut env = bare.to_vec();
    env.extend(oidc);
    let out = run(&["legacy", "import", "users.csv"], &env, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = run(&["legacy", "status", "--json"], &env, dir.path());
    let body: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(body, serde_json::json!({"google": 0, "kakao": 0, "naver": 0, "line": 1, "total": 1}));
    // Without its configuration the waiting mapping is still counted under its name.
    let json = run(&["legacy", "status", "--json"], &bare, dir.path());
    let body: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(body["line"], 1);
}

// The CSV is refused before the import writes anything; a SQLite file is enough.
#[test]
fn legacy_import_reports_every_bad_line_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("munji.db").display());
    let env = [("MUNJI_DATABASE_URL", database.as_str())];
    std::fs::write(
        dir.path().join("users.csv"),
        "legacy_user_id,username,display_name,email,provider\n\
         1,kim,Kim,kim@naver.com,naver\n\
         2,lee,Lee,lee@naver.com,Naver\n\
         3,park,Park,park@kakao.com,kakao\n\
         4,han,Han,han.yu@gmail,google\n",
    )
    .unwrap();
    let out = run(&["legacy", "import", "users.csv"], &env, dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("munji: users.csv: nothing was imported: 2 bad lines:\n"), "{stderr}");
    assert!(stderr.contains("\n  line 3: unknown provider \"Naver\""), "{stderr}");
    assert!(stderr.contains("\n  line 5: malformed e-mail \"han.yu@gmail\""), "{stderr}");
    let status = run(&["legacy", "status"], &env, dir.path());
    assert!(String::from_utf8_lossy(&status.stdout).contains("total 0"), "the good lines were not imported either");
}
