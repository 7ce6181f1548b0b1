use std::io::Write as _;

use super::*;

const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn load_env(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
    Config::load(Sources { file: None, env: env(pairs), purpose: Purpose::Serve { dev: false } })
}

fn load_err(pairs: &[(&str, &str)]) -> String {
    format!("{:#}", load_env(pairs).unwrap_err())
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults_match_the_contract() {
    let config = load_env(&[("MUNJI_SECRET_KEY", SECRET)]).unwrap();
    assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database_url.expose_secret(), "sqlite://munji.db");
    assert!(!config.uses_redis());
    assert_eq!(config.registration, Registration::Form);
    assert_eq!(config.access_token_ttl.0, Duration::from_secs(3600));
    assert_eq!(config.refresh_token_ttl.0, Duration::from_secs(24 * 3600));
    assert_eq!(config.signing_alg, SigningAlg::ES256);
    assert_eq!(config.upstream_timeout(), Duration::from_secs(10));
    assert_eq!(config.audit_retention.0, Duration::from_secs(400 * 86400));
    assert_eq!(config.audience(), "http://127.0.0.1:8080");
    assert_eq!(config.username_quarantine.0, Duration::from_secs(30 * 86400));
    assert!(config.providers.kakao.admin_key().is_none() && !config.providers.google.risc);
    assert_eq!(
        config.providers.kakao.unlink_url.as_ref().map(Url::as_str),
        Some("https://kapi.kakao.com/v1/user/unlink")
    );
    assert_eq!(config.rate_limits.pages, Rate { count: 60, per: Duration::from_secs(60) });
    assert_eq!(config.rate_limits.oauth.count, 600);
    assert_eq!(config.providers.naver.legacy_email_trust, EmailTrust::Asserted);
    assert_eq!(config.providers.google.legacy_email_trust, EmailTrust::Verified);
    assert!(!config.providers.google.enabled());
    assert_eq!(config.secret_key.as_ref().map(Base64Secret::len), Some(32));
}

#[test]
fn the_environment_overrides_the_file_which_overrides_the_defaults() {
    let file = toml_file(
        r#"
        registration = "auto"
        access_token_ttl = "15m"
        [providers.naver]
        client_id = "from-file"
        "#,
    );
    let sources = Sources {
        file: Some(file.path()),
        env: env(&[
            ("MUNJI_SECRET_KEY", SECRET),
            ("MUNJI_REGISTRATION", "closed"),
            ("MUNJI_PROVIDERS__KAKAO__CLIENT_ID", "from-env"),
            ("OTHER_VARIABLE", "ignored"),
        ]),
        purpose: Purpose::Serve { dev: false },
    };
    let config = Config::load(sources).unwrap();
    assert_eq!(config.registration, Registration::Closed);
    assert_eq!(config.access_token_ttl.0, Duration::from_secs(900));
    assert_eq!(config.providers.naver.client_id, "from-file");
    assert_eq!(config.providers.kakao.client_id, "from-env");
    // A nested key set in the file keeps its siblings' defaults.
    assert_eq!(config.providers.naver.token_url.unwrap().as_str(), "https://nid.naver.com/oauth2.0/token");
}

#[test]
fn array_settings_in_the_environment_are_comma_separated() {
    let config = load_env(&[
        ("MUNJI_SECRET_KEY", SECRET),
        ("MUNJI_CORS_ORIGINS", "https://a.example, https://b.example"),
        ("MUNJI_RATE_LIMITS__TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1/32"),
        ("MUNJI_ENCRYPTION_KEYS", &format!("k2:{SECRET},k1:{SECRET}")),
    ])
    .unwrap();
    assert_eq!(config.cors_origins, ["https://a.example", "https://b.example"]);
    assert_eq!(config.rate_limits.trusted_proxies.len(), 2);
    let ids: Vec<_> = config.encryption_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["k2", "k1"]);
}

#[test]
fn a_numeric_looking_value_in_the_environment_stays_a_string() {
    let config = load_env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_PROVIDERS__NAVER__CLIENT_SECRET", "12345")]).unwrap();
    assert_eq!(config.providers.naver.client_secret.expose_secret(), "12345");
}

#[test]
fn malformed_values_fail_naming_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("MUNJI_BIND", "not-an-address", "`bind`"),
        ("MUNJI_PUBLIC_URL", "no scheme", "`public_url`"),
        ("MUNJI_REGISTRATION", "sometimes", "`registration`"),
        ("MUNJI_ACCESS_TOKEN_TTL", "an hour", "`access_token_ttl`"),
        ("MUNJI_UPSTREAM_TIMEOUT", "0s", "`upstream_timeout`"),
        ("MUNJI_AUDIT_RETENTION", "forever", "`audit_retention`"),
        ("MUNJI_SIGNING_ALG", "none", "`signing_alg`"),
        ("MUNJI_RATE_LIMITS__PAGES", "60 per minute", "`rate_limits.pages`"),
        ("MUNJI_RATE_LIMITS__TRUSTED_PROXIES", "10.0.0.0/99", "`rate_limits.trusted_proxies`"),
        ("MUNJI_ENCRYPTION_KEYS", "no-colon", "`encryption_keys`"),
        ("MUNJI_ENCRYPTION_KEYS", "k1:c2hvcnQ=", "`encryption_keys`"),
        ("MUNJI_PROVIDERS__NAVER__LEGACY_EMAIL_TRUST", "verified", "`providers.naver.legacy_email_trust`"),
        ("MUNJI_PROVIDERS__GOOGLE__LEGACY_EMAIL_TRUST", "asserted", "`providers.google.legacy_email_trust`"),
        ("MUNJI_PROVIDERS__KAKAO__TOKEN_URL", "::", "`providers.kakao.token_url`"),
    ];
    for (var, value, key) in cases {
        let message = load_err(&[("MUNJI_SECRET_KEY", SECRET), (var, value)]);
        assert!(message.contains(key), "{var}={value}: {message}");
    }
}

#[test]
fn a_malformed_file_value_names_its_key() {
    let file = toml_file("[rate_limits]\noauth = 5\n");
    let sources =
        Sources { file: Some(file.path()), env: env(&[("MUNJI_SECRET_KEY", SECRET)]), purpose: Purpose::Admin };
    let message = format!("{:#}", Config::load(sources).unwrap_err());
    assert!(message.contains("`rate_limits.oauth`"), "{message}");
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let message = load_err(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_SECRET_KYE", "typo")]);
    assert!(message.contains("secret_kye"), "{message}");
}

#[test]
fn serving_needs_a_long_enough_secret_key() {
    assert!(load_err(&[]).contains("`secret_key`: is required"));
    assert!(load_err(&[("MUNJI_SECRET_KEY", "c2hvcnQ=")]).contains("is too short"));
    assert!(load_err(&[("MUNJI_SECRET_KEY", "not base64!")]).contains("`secret_key`"));
    // Administrative commands need no secret.
    let admin = Config::load(Sources { file: None, env: vec![], purpose: Purpose::Admin });
    assert!(admin.is_ok());
}

#[test]
fn a_bad_secret_is_not_echoed_in_the_error() {
    let message = load_err(&[("MUNJI_SECRET_KEY", "s3cr3t-value-with-bad-chars!")]);
    assert!(!message.contains("s3cr3t"), "{message}");
}

#[test]
fn hs256_needs_its_legacy_secret() {
    assert!(
        load_err(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_SIGNING_ALG", "HS256")]).contains("`legacy_hs256_secret`")
    );
    let long = "x".repeat(32);
    let config =
        load_env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_SIGNING_ALG", "HS256"), ("MUNJI_LEGACY_HS256_SECRET", &long)]);
    assert!(config.is_ok());
}

#[test]
fn debug_output_never_shows_secrets() {
    let config = load_env(&[
        ("MUNJI_SECRET_KEY", SECRET),
        ("MUNJI_DATABASE_URL", "postgres://munji:db-password@db/munji"),
        ("MUNJI_REDIS_URL", "redis://:redis-password@cache"),
        ("MUNJI_PROVIDERS__GOOGLE__CLIENT_SECRET", "google-client-secret"),
        ("MUNJI_LEGACY_HS256_SECRET", &"h".repeat(40)),
        ("MUNJI_ENCRYPTION_KEYS", &format!("k1:{SECRET}")),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    for secret in [SECRET, "db-password", "redis-password", "google-client-secret", &"h".repeat(40)] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
    assert!(debug.contains("REDACTED"));
}

fn load_dev(purpose: Purpose, pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
    Config::load(Sources { file: None, env: env(pairs), purpose })
}

#[test]
fn dev_mode_makes_a_secret_once_and_keeps_it_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("munji.db").display());
    let secret_file = dir.path().join("munji.db.secret");
    let dev = || {
        let mut config = load_dev(Purpose::Serve { dev: true }, &[("MUNJI_DATABASE_URL", &url)]).unwrap();
        config.keep_dev_secret().unwrap();
        config
    };
    let first = dev();
    assert!(first.dev);
    assert!(secret_file.is_file());
    let second = dev();
    assert_eq!(first.secret_key.unwrap().expose(), second.secret_key.unwrap().expose());
}

#[test]
fn loading_a_dev_configuration_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("munji.db").display());
    let good = load_dev(Purpose::Serve { dev: true }, &[("MUNJI_DATABASE_URL", &url)]).unwrap();
    assert!(good.secret_key.is_none());
    let refused = load_dev(Purpose::Serve { dev: true }, &[("MUNJI_DATABASE_URL", &url), ("MUNJI_CORS_ORIGINS", "x")]);
    assert!(refused.is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is written before the secret is kept");
}

#[test]
fn admin_commands_that_need_the_secret_say_how_to_give_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("munji.db").display());
    let env = [("MUNJI_DATABASE_URL", url.as_str())];
    let without = format!("{:#}", load_dev(Purpose::AdminWithSecret { dev: false }, &env).unwrap_err());
    assert!(without.contains("MUNJI_SECRET_KEY") && without.contains("add --dev"), "{without}");
    // `--dev` before `serve --dev` ever ran: no secret to use, and none is made.
    let no_file = format!("{:#}", load_dev(Purpose::AdminWithSecret { dev: true }, &env).unwrap_err());
    assert!(no_file.contains("munji.db.secret") && no_file.contains("munji serve --dev"), "{no_file}");
    assert!(!dir.path().join("munji.db.secret").exists());

    let mut served = load_dev(Purpose::Serve { dev: true }, &env).unwrap();
    served.keep_dev_secret().unwrap();
    let admin = load_dev(Purpose::AdminWithSecret { dev: true }, &env).unwrap();
    assert_eq!(admin.secret_key.unwrap().expose(), served.secret_key.unwrap().expose());
    // A configured secret wins over the dev one.
    let configured = load_dev(Purpose::AdminWithSecret { dev: true }, &[env[0], ("MUNJI_SECRET_KEY", SECRET)]);
    assert_eq!(configured.unwrap().secret_key.unwrap().expose(), Base64Secret::parse(SECRET).unwrap().expose());
}

#[test]
fn dev_mode_refuses_a_non_loopback_bind() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/munji.db", dir.path().display());
    let refused =
        load_dev(Purpose::Serve { dev: true }, &[("MUNJI_DATABASE_URL", &url), ("MUNJI_BIND", "0.0.0.0:8080")]);
    let message = format!("{:#}", refused.unwrap_err());
    assert!(message.contains("`bind`") && message.contains("loopback"), "{message}");
    // Administrative commands do not listen: --dev there does not care.
    let admin = load_dev(
        Purpose::AdminWithSecret { dev: true },
        &[("MUNJI_DATABASE_URL", &url), ("MUNJI_BIND", "0.0.0.0:8080"), ("MUNJI_SECRET_KEY", SECRET)],
    );
    assert!(admin.is_ok());
}

#[test]
fn every_mistake_is_reported_at_once_with_its_file_line_or_variable() {
    let file = toml_file(
        "public_url = \"https://id.example\"\nregistraton = \"form\"\n\n[rate_limits]\npages = \"60 per minute\"\n",
    );
    let shown = file.path().display().to_string();
    let sources = Sources {
        file: Some(file.path()),
        env: env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_ACCESS_TOKEN_TTL", "an hour")]),
        purpose: Purpose::Serve { dev: false },
    };
    let message = format!("{:#}", Config::load(sources).unwrap_err());
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines,
        [
            "3 configuration errors:".to_owned(),
            format!("  config key `registraton` ({shown} line 2): there is no such key; did you mean `registration`?"),
            format!("  config key `rate_limits.pages` ({shown} line 5): \"60 per minute\" is not a rate like \"60/min\" (units: s, min, h)"),
            "  config key `access_token_ttl` (env MUNJI_ACCESS_TOKEN_TTL): \"an hour\" is not a duration like \"30s\" or \"1h\"".to_owned(),
        ],
        "{message}"
    );
}

#[test]
fn an_unknown_key_far_from_any_lists_the_known_ones() {
    let message = load_err(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_RATE_LIMITS__BURST", "5")]);
    assert_eq!(
        message,
        "config key `rate_limits.burst` (env MUNJI_RATE_LIMITS__BURST): there is no such key; the keys here are `pages`, `oauth`, `vend`, `trusted_proxies`"
    );
}

#[test]
fn the_error_line_in_the_docs_is_the_one_munji_prints() {
    let docs = include_str!("../../docs/configuration.md");
    let printed =
        format!("munji: {}", load_err(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_ACCESS_TOKEN_TTL", "an hour")]));
    assert!(docs.lines().any(|line| line == printed), "docs/configuration.md does not show {printed:?}");
}

#[test]
fn bind_takes_an_ip_address_and_hints_at_one_for_a_host_name() {
    let message = load_err(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_BIND", "localhost:8080")]);
    assert!(message.contains("MUNJI_BIND") && message.contains("such as 127.0.0.1:8080"), "{message}");
    let config = load_env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_BIND", "[::1]:9000")]).unwrap();
    assert_eq!(config.bind.to_string(), "[::1]:9000");
}

#[test]
fn rates_parse_in_the_three_units() {
    assert_eq!("5/s".parse::<Rate>().unwrap().per, Duration::from_secs(1));
    assert_eq!("60/min".parse::<Rate>().unwrap().per, Duration::from_secs(60));
    assert_eq!("100/h".parse::<Rate>().unwrap(), Rate { count: 100, per: Duration::from_secs(3600) });
    for bad in ["0/s", "5/day", "five/min", "5"] {
        assert!(bad.parse::<Rate>().is_err(), "{bad}");
    }
}

#[test]
fn cors_origins_must_be_origins() {
    let ok =
        load_env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_CORS_ORIGINS", "https://app.example,http://127.0.0.1:5173")]);
    assert_eq!(ok.unwrap().cors_origins, ["https://app.example", "http://127.0.0.1:5173"]);
    assert!(load_env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_CORS_ORIGINS", "*")]).is_ok());
    for bad in
        ["https://app.example/", "https://app.example/spa", "app.example", "https://u@app.example", "ftp://x.example"]
    {
        let err = load_err(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_CORS_ORIGINS", bad)]);
        assert!(err.contains("cors_origins"), "{bad}: {err}");
    }
}

#[test]
fn provider_event_settings_are_refused_for_the_wrong_provider() {
    let err = load_err(&[
        ("MUNJI_SECRET_KEY", SECRET),
        ("MUNJI_PROVIDERS__GOOGLE__ADMIN_KEY", "k"),
        ("MUNJI_PROVIDERS__KAKAO__RISC", "true"),
    ]);
    assert!(err.contains("providers.google.admin_key") && err.contains("only read for Kakao"), "{err}");
    assert!(err.contains("providers.kakao.risc") && err.contains("only read for Google"), "{err}");
    assert!(!err.contains("`k`"), "the key is not echoed: {err}");
    let config = load_env(&[
        ("MUNJI_SECRET_KEY", SECRET),
        ("MUNJI_PROVIDERS__KAKAO__ADMIN_KEY", "kakao-admin"),
        ("MUNJI_PROVIDERS__GOOGLE__RISC", "true"),
    ])
    .unwrap();
    assert_eq!(
        config.providers.kakao.admin_key().map(|k| k.expose_secret().to_owned()).as_deref(),
        Some("kakao-admin")
    );
    assert!(config.providers.google.risc);
}

#[test]
fn generic_oidc_providers_are_read_with_their_defaults() {
    let file = toml_file(
        r#"
        [providers.oidc.line]
        issuer_url = "https://access.line.me"
        client_id = "1650000000"
        client_secret = "channel-secret"
        display_name = "LINE"
        id_token_hs256 = true
        legacy_email_trust = "never"
        [providers.oidc.entra]
        issuer_url = "https://login.microsoftonline.com/common/v2.0"
        client_id = "app"
        client_secret = "s"
        display_name = "Microsoft"
        scopes = ["openid", "email"]
        uid_claim = "oid"
        "#,
    );
    let env = env(&[("MUNJI_SECRET_KEY", SECRET), ("MUNJI_PROVIDERS__OIDC__ENTRA__CLIENT_ID", "from-env")]);
    let config =
        Config::load(Sources { file: Some(file.path()), env, purpose: Purpose::Serve { dev: false } }).unwrap();
    let line = &config.providers.oidc["line"];
    assert_eq!(line.scopes, ["openid", "email", "profile"]);
    assert_eq!(
        (line.uid_claim.as_str(), line.legacy_email_trust, line.id_token_hs256),
        ("sub", EmailTrust::Never, true)
    );
    let entra = &config.providers.oidc["entra"];
    assert_eq!((entra.client_id.as_str(), entra.uid_claim.as_str()), ("from-env", "oid"));
    assert_eq!((entra.scopes.len(), entra.legacy_email_trust, entra.id_token_hs256), (2, EmailTrust::Verified, false));
}

#[test]
fn every_mistake_in_generic_oidc_providers_is_reported_at_once() {
    let file = toml_file(
        r#"
        [providers.oidc.Bad_Name]
        issuer_url = "https://idp.example"
        client_id = "c"
        client_secret = "s"
        display_name = "Bad"
        [providers.oidc.google]
        issuer_url = "https://idp.example"
        client_id = "c"
        client_secret = "s"
        display_name = "Not Google"
        [providers.oidc.line]
        issuer_url = "https://access.line.me"
        client_id = ""
        client_secret = ""
        display_name = " "
        scopes = ["email"]
        uid_claim = ""
        id_token_hs256 = true
        "#,
    );
    let error = load_file_err(&file);
    for expected in [
        "providers.oidc.Bad_Name",
        "providers.oidc.google",
        "built-in",
        "providers.oidc.line.client_id",
        "providers.oidc.line.display_name",
        "providers.oidc.line.scopes",
        "providers.oidc.line.uid_claim",
        "providers.oidc.line.client_secret",
    ] {
        assert!(error.contains(expected), "{expected:?} missing from:\n{error}");
    }
}

#[test]
fn an_unknown_key_of_a_generic_oidc_provider_is_named() {
    let file = toml_file(
        r#"
        [providers.oidc.typo]
        issuer_url = "https://idp.example"
        client_id = "c"
        client_secret = "s"
        display_name = "T"
        uid_clam = "sub"
        [providers.oidc.nourl]
        client_id = "c"
        client_secret = "s"
        display_name = "N"
        "#,
    );
    let error = load_file_err(&file);
    assert!(error.contains("providers.oidc.typo.uid_clam") && error.contains("did you mean `uid_claim`"), "{error}");
    assert!(error.contains("providers.oidc.nourl") && error.contains("issuer_url"), "{error}");
}

fn load_file_err(file: &tempfile::NamedTempFile) -> String {
    let env = env(&[("MUNJI_SECRET_KEY", SECRET)]);
    Config::load(Sources { file: Some(file.path()), env, purpose: Purpose::Serve { dev: false } })
        .unwrap_err()
        .to_string()
}

#[test]
fn apple_is_checked_when_it_is_on() {
    let config = load_env(&[("MUNJI_SECRET_KEY", SECRET)]).unwrap();
    assert!(!config.providers.apple.enabled());
    assert_eq!(config.providers.apple.issuer_url.as_str(), "https://appleid.apple.com/");
    assert_eq!(config.providers.apple.legacy_email_trust, EmailTrust::Verified);
    let p8 = include_str!("../../fixtures/keys/dev-apple-es256.p8");
    let good = [
        ("MUNJI_SECRET_KEY", SECRET),
        ("MUNJI_PROVIDERS__APPLE__CLIENT_ID", "kr.example.web"),
        ("MUNJI_PROVIDERS__APPLE__TEAM_ID", "TEAM123456"),
        ("MUNJI_PROVIDERS__APPLE__KEY_ID", "KEY1234567"),
        ("MUNJI_PROVIDERS__APPLE__PRIVATE_KEY", p8),
    ];
    assert!(load_env(&good).unwrap().providers.apple.enabled());
    let error = load_err(&[
        ("MUNJI_SECRET_KEY", SECRET),
        ("MUNJI_PROVIDERS__APPLE__CLIENT_ID", "kr.example.web"),
        ("MUNJI_PROVIDERS__APPLE__TEAM_ID", "TEAM"),
        ("MUNJI_PROVIDERS__APPLE__PRIVATE_KEY", "not a key"),
        ("MUNJI_PROVIDERS__APPLE__LEGACY_EMAIL_TRUST", "asserted"),
    ]);
    for key in
        ["providers.apple.team_id", "providers.apple.key_id", "providers.apple.private_key", "legacy_email_trust"]
    {
        assert!(error.contains(key), "{key} missing from:\n{error}");
    }
    assert!(!error.contains("not a key"), "the secret is never echoed: {error}");
}
