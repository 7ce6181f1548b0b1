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
    assert!(load_err(&[]).contains("`secret_key` is required"));
    assert!(load_err(&[("MUNJI_SECRET_KEY", "c2hvcnQ=")]).contains("`secret_key` is too short"));
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

#[test]
fn dev_mode_generates_a_secret_once_and_keeps_it_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("munji.db");
    let url = format!("sqlite://{}", db.display());
    let dev = || {
        Config::load(Sources {
            file: None,
            env: env(&[("MUNJI_DATABASE_URL", &url)]),
            purpose: Purpose::Serve { dev: true },
        })
        .unwrap()
    };
    let first = dev();
    assert!(first.dev);
    assert!(dir.path().join("munji.db.secret").is_file());
    let second = dev();
    assert_eq!(first.secret_key.unwrap().expose(), second.secret_key.unwrap().expose());
}

#[test]
fn dev_mode_refuses_a_non_loopback_bind() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/munji.db", dir.path().display());
    let sources = Sources {
        file: None,
        env: env(&[("MUNJI_DATABASE_URL", &url), ("MUNJI_BIND", "0.0.0.0:8080")]),
        purpose: Purpose::Serve { dev: true },
    };
    let message = format!("{:#}", Config::load(sources).unwrap_err());
    assert!(message.contains("`bind`") && message.contains("loopback"), "{message}");
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
