//! What a person meets in the first hour with the CLI: listings that show what was set, help
//! that explains every option, configuration errors that say where each mistake is.

use super::oidc_more::munji_cli as munji;
use crate::helpers::{Backend, TestApp};

crate::on_every_backend!(clients_list_shows_a_services_gmail_targets);

async fn clients_list_shows_a_services_gmail_targets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let add = ["clients", "add", "--id", "mailer", "--grant", "client_credentials", "--scope", "gmail.vend"];
    let targets = ["--gmail-target", "bot-1", "--gmail-target", "bot-2"];
    let added = munji(&app, &[&add[..], &targets[..]].concat());
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    let listed = String::from_utf8(munji(&app, &["clients", "list"]).stdout).unwrap();
    let line = listed.lines().find(|l| l.starts_with("mailer\t")).expect("the client is listed");
    assert!(line.split('\t').any(|field| field == "gmail_targets=bot-1,bot-2"), "{line}");
}

// `--help` reads no store: one backend is enough.
#[tokio::test]
async fn clients_add_help_explains_every_option() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let help = String::from_utf8(munji(&app, &["clients", "add", "--help"]).stdout).unwrap();
    for (option, words) in [
        ("--id", "client_id"),
        ("--redirect-uri", "authorization code may be sent"),
        ("--grant", "client_credentials"),
        ("--scope", "scope the client may ask for"),
        ("--gmail-target", "vend Gmail tokens for"),
        ("--public", "PKCE"),
    ] {
        let line = help.lines().skip_while(|l| !l.trim_start().starts_with(option)).take(3).collect::<String>();
        assert!(line.contains(words), "{option} is not explained: {line:?}\n{help}");
    }
}

// Configuration is refused before any store is opened: no backend involved.
#[test]
fn every_configuration_mistake_is_reported_at_once_with_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("munji.toml"), "registraton = \"form\"\naccess_token_ttl = \"an hour\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_munji"))
        .args(["serve", "--config", "munji.toml"])
        .env_clear()
        .env("MUNJI_SECRET_KEY", crate::helpers::SECRET_KEY)
        .env("MUNJI_RATE_LIMITS__PAGES", "lots")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expected = [
        "munji: 3 configuration errors:",
        "  config key `registraton` (munji.toml line 1): there is no such key; did you mean `registration`?",
        "  config key `access_token_ttl` (munji.toml line 2): \"an hour\" is not a duration like \"30s\" or \"1h\"",
        "  config key `rate_limits.pages` (env MUNJI_RATE_LIMITS__PAGES): \"lots\" is not a rate like \"60/min\" (units: s, min, h)",
    ];
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected, "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing but the file");
}
