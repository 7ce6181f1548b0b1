//! What a person meets in the first hour with the CLI: listings that show what was set, and
//! help that explains every option.

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
