//! Redirect URIs match the registered ones exactly (docs/tokens.md), with one exception
//! (RFC 8252 §7.3): a public client's loopback URI registered without a port, on `127.0.0.1`
//! or `[::1]` (never `localhost`), accepts any port. Every near miss (a trailing slash, case, a
//! query or fragment, `@` userinfo, `..`, an encoded dot, another port or scheme) is refused,
//! and registration takes only https, http on the two loopback addresses, or a reverse-domain
//! app scheme, never with a fragment.

use munji::oidc::clients::{AUTHORIZATION_CODE, Client, check_redirect_uri};
use proptest::{prelude::*, sample::select};

fn client(public: bool, uris: &[&str]) -> Client {
    Client {
        id: "app".into(),
        secret_hash: (!public).then(|| munji::crypto::sha256_hex("0123456789abcdef")),
        redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        grant_types: vec![AUTHORIZATION_CODE.into()],
        scopes: vec!["openid".into()],
        gmail_targets: vec![],
        from_config: false,
        name: "app".into(),
        first_party: true,
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        backchannel_logout_session_required: true,
    }
}

/// A registered URI's parts: `{scheme}://{host}{path}{query}`.
#[derive(Debug, Clone)]
struct Uri {
    scheme: &'static str,
    host: String,
    path: String,
    query: String,
}

impl Uri {
    fn with_port(&self, port: u16) -> String {
        format!("{}://{}:{port}{}{}", self.scheme, self.host, self.path, self.query)
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}{}", self.scheme, self.host, self.path, self.query)
    }
}

fn path() -> impl Strategy<Value = String> {
    "(/[a-z0-9_-]{1,8}){1,3}"
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\?[a-z]{1,5}=[a-z0-9]{1,5}"]
}

/// A web client's URI: https on a DNS name.
fn https_uri() -> impl Strategy<Value = Uri> {
    ("[a-z][a-z0-9]{0,8}\\.(example|test|co\\.kr)", path(), query()).prop_map(|(host, path, query)| Uri {
        scheme: "https",
        host,
        path,
        query,
    })
}

/// A native app's loopback URI, registered without a port.
fn loopback_uri() -> impl Strategy<Value = Uri> {
    (select(vec!["127.0.0.1", "[::1]"]), path(), query()).prop_map(|(host, path, query)| Uri {
        scheme: "http",
        host: host.to_owned(),
        path,
        query,
    })
}

fn any_uri() -> impl Strategy<Value = Uri> {
    prop_oneof![https_uri(), loopback_uri()]
}

/// One character replaced (by a different one), deleted or inserted.
fn mutate(uri: &str, position: usize, replacement: char, kind: u8) -> String {
    let mut chars: Vec<char> = uri.chars().collect();
    let i = position % chars.len();
    match kind % 3 {
        0 if chars[i] != replacement => chars[i] = replacement,
        0 | 1 => {
            chars.remove(i);
        }
        _ => chars.insert(i, replacement),
    }
    chars.into_iter().collect()
}

/// The near misses (docs/security.md) that keep the registered origin and port, plus
/// other spellings a URL parser would normalize to the same thing.
fn near_misses(uri: &Uri, port: Option<u16>) -> Vec<String> {
    let Uri { scheme, host, path, query } = uri;
    let origin = match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    let other_scheme = if *scheme == "https" { "http" } else { "https" };
    let mut misses = vec![
        format!("{origin}{path}/{query}"),
        format!("{origin}{}{query}", path.to_uppercase()),
        format!("{origin}{path}{query}{}x=1", if query.is_empty() { '?' } else { '&' }),
        format!("{origin}{path}{query}#frag"),
        format!("{scheme}://{host}@evil.example{path}{query}"),
        format!("{scheme}://evil.example@{}{path}{query}", &origin[scheme.len() + 3..]),
        format!("{origin}{path}/../x{query}"),
        format!("{origin}/x/..{path}{query}"),
        format!("{origin}/%2e%2e{path}{query}"),
        format!("{origin}/.{path}{query}"),
        format!("{}{path}{query}", origin.to_uppercase()),
        format!("{origin}{}{query}", path.replace('/', "\\")),
        format!("{other_scheme}{}{path}{query}", &origin[scheme.len()..]),
        format!(" {origin}{path}{query}"),
    ];
    misses.retain(|miss| *miss != uri.to_string() && port.is_none_or(|p| *miss != uri.with_port(p)));
    misses
}

proptest! {
    #[test]
    fn registered_uris_match_themselves_and_pass_registration(uri in any_uri(), public: bool) {
        let uri = uri.to_string();
        prop_assert!(client(public, &[&uri]).redirect_uri_matches(&uri));
        prop_assert!(check_redirect_uri(&uri).is_ok(), "{uri}");
    }

    #[test]
    fn one_changed_character_is_refused(
        uri in any_uri(),
        public: bool,
        position: usize,
        replacement in prop_oneof![any::<char>(), select(":/?#@.%\\0123456789".chars().collect::<Vec<_>>())],
        kind: u8,
    ) {
        let registered = uri.to_string();
        let requested = mutate(&registered, position, replacement, kind);
        prop_assert!(!client(public, &[&registered]).redirect_uri_matches(&requested), "{requested:?}");
    }

    #[test]
    fn near_misses_are_refused(uri in any_uri(), public: bool) {
        let registered = uri.to_string();
        let c = client(public, &[&registered]);
        for miss in near_misses(&uri, None) {
            prop_assert!(!c.redirect_uri_matches(&miss), "{registered} matched {miss:?}");
        }
    }

    #[test]
    fn an_https_uri_never_matches_another_port(uri in https_uri(), public: bool, port: u16) {
        prop_assert!(!client(public, &[&uri.to_string()]).redirect_uri_matches(&uri.with_port(port)));
    }

    #[test]
    fn a_public_loopback_uri_accepts_any_port(uri in loopback_uri(), port in 1u16..) {
        prop_assert!(client(true, &[&uri.to_string()]).redirect_uri_matches(&uri.with_port(port)));
    }

    #[test]
    fn any_port_but_nothing_else(uri in loopback_uri(), port in 1u16..) {
        let c = client(true, &[&uri.to_string()]);
        for miss in near_misses(&uri, Some(port)) {
            prop_assert!(!c.redirect_uri_matches(&miss), "{uri} matched {miss:?}");
        }
    }

    #[test]
    fn a_confidential_clients_loopback_uri_is_exact(uri in loopback_uri(), port: u16) {
        prop_assert!(!client(false, &[&uri.to_string()]).redirect_uri_matches(&uri.with_port(port)));
    }

    #[test]
    fn a_loopback_uri_registered_with_a_port_keeps_it(uri in loopback_uri(), registered: u16, port: u16) {
        prop_assume!(registered != port);
        let c = client(true, &[&uri.with_port(registered)]);
        prop_assert!(!c.redirect_uri_matches(&uri.with_port(port)));
    }

    #[test]
    fn the_port_exception_is_for_the_two_loopback_addresses_only(
        uri in loopback_uri(),
        host in select(vec![
            "localhost", "127.0.0.2", "127.1", "0x7f.0.0.1", "2130706433", "[0:0:0:0:0:0:0:1]", "[::2]",
            "127.0.0.1.nip.io", "evil.example",
        ]),
        port in 1u16..,
    ) {
        let registered = Uri { host: host.into(), ..uri.clone() };
        let c = client(true, &[&registered.to_string()]);
        prop_assert!(!c.redirect_uri_matches(&registered.with_port(port)), "{registered} with port {port}");
        // Nor does a loopback registration lend its exception to another host.
        let loopback = client(true, &[&uri.to_string()]);
        prop_assert!(!loopback.redirect_uri_matches(&registered.with_port(port)));
    }

    #[test]
    fn registration_refuses_fragments_and_plain_http_elsewhere(
        uri in any_uri(),
        host in prop_oneof![
            Just("localhost".to_owned()),
            Just("127.0.0.2".to_owned()),
            "[a-z][a-z0-9]{0,8}\\.(example|test)",
        ],
        fragment in "#[a-z0-9]{0,5}",
    ) {
        let with_fragment = format!("{uri}{fragment}");
        prop_assert!(check_redirect_uri(&with_fragment).is_err(), "{with_fragment}");
        let http = format!("http://{host}{}{}", uri.path, uri.query);
        prop_assert!(check_redirect_uri(&http).is_err(), "{http}");
    }

    #[test]
    fn registration_takes_reverse_domain_app_schemes(app in "[a-z]{2,8}\\.[a-z]{2,8}(\\.[a-z]{2,8})?", path in path()) {
        let native = format!("{app}:{path}");
        prop_assert!(check_redirect_uri(&native).is_ok(), "{native}");
    }
}

#[test]
fn script_and_file_schemes_are_never_registered() {
    for uri in ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "http:/cb", "//app.example/cb"] {
        assert!(check_redirect_uri(uri).is_err(), "{uri}");
    }
}
