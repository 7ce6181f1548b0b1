//! The examples of docs/apps.md, each run against a live munji with a person signing in through
//! the provider imitation: the single-page app on oidc-client-ts (in Node), the server-side web
//! app on openidconnect, the Python and Rust back-ends that check tokens offline, and nginx
//! forward-auth. A broken example fails its test.
//!
//! They need Node with npm, Python 3 with venv, and nginx (`.ci/run` installs nginx). npm and
//! pip packages come from the pinned files under `examples/`: `npm ci` into
//! `examples/spa/node_modules`, pip into a venv under the target directory, once per run.
//! `SKIP_NGINX_TEST=1` skips the nginx test on a machine without nginx.
//!
//! The examples are about apps, not storage: every test here runs on SQLite alone.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use munji::{oidc::clients::NewClient, upstream::Provider};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::OnceCell,
};
use url::Url;

use crate::helpers::{
    Backend, TestApp,
    clients::{self, SPA_REDIRECT_URI},
    social::{Person, form_value, location},
};

#[allow(dead_code)] // its `main` is for running it by hand
#[path = "../../examples/web_app.rs"]
mod web_app;

#[allow(dead_code)]
#[path = "../../examples/verify_token.rs"]
mod verify_token;

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(path)
}

/// Run `command` to completion; it must succeed.
async fn run(command: &mut Command) {
    let output = command.output().await.unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `npm ci` in `examples/spa`, once: exactly the versions of its package-lock.json.
async fn node_modules() {
    static DONE: OnceCell<()> = OnceCell::const_new();
    DONE.get_or_init(|| async {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(example("spa")))
        .await;
    })
    .await;
}

/// The Python of a venv with `examples/python/requirements.txt` installed, made once.
async fn python() -> &'static Path {
    static VENV: OnceCell<PathBuf> = OnceCell::const_new();
    VENV.get_or_init(|| async {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples-venv");
        let python = venv.join("bin/python");
        if !python.exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).await;
        }
        let requirements = example("python/requirements.txt");
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(requirements))
        .await;
        python
    })
    .await
}

/// A running example program: its stdout read line by line, its stderr shown when it fails.
struct Program {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Program {
    fn start(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdin, stdout }
    }

    /// The next line it prints; if it ends instead, its stderr is the failure.
    async fn line(&mut self) -> String {
        if let Some(line) = self.stdout.next_line().await.unwrap() {
            return line;
        }
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
        panic!("the example ended ({:?}):\n{stderr}", self.child.wait().await.unwrap());
    }

    /// The next line it prints, as JSON.
    async fn message(&mut self) -> Value {
        let line = self.line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    async fn send(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }
}

/// An app sent `browser` to munji's `authorize` URL and the person signs up there: munji's
/// login page, Google at the imitation, the sign-up form with `username`, and back to
/// `/authorize`. Returns where munji then sends the browser: the app's redirect URI, with the
/// code.
async fn person_signs_up(app: &TestApp, browser: &Client, authorize: &str, person: &Person, username: &str) -> Url {
    let resp = browser.get(authorize).send().await.unwrap();
    assert_eq!(resp.status(), 303, "GET {authorize}");
    let login = location(&resp, &app.base_url);
    assert_eq!(login.path(), "/login", "{login}");
    let return_to = login.query_pairs().find(|(k, _)| k == "return_to").expect("return_to").1.into_owned();

    let resp = browser.get(app.url("/login/google")).query(&[("return_to", &return_to)]).send().await.unwrap();
    assert_eq!(resp.status(), 303, "GET /login/google");
    let callback = app.provider_decides(browser, &location(&resp, &app.base_url), person, true).await;
    let resp = browser.get(callback).send().await.unwrap();
    assert_eq!(location(&resp, &app.base_url).path(), "/signup", "a first sign-in signs up");
    let page = browser.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf").expect("a CSRF field on the sign-up form");
    let resp = app.post_signup(browser, username, &person.name, &csrf).await;
    assert_eq!(resp.status(), 303, "POST /signup");

    let resp = browser.get(location(&resp, &app.base_url)).send().await.unwrap();
    assert_eq!(resp.status(), 303, "back at /authorize");
    location(&resp, &app.base_url)
}

/// Where the SPA example may send the browser after signing out.
const SPA_AFTER_LOGOUT: &str = "https://spa.example/bye";

#[tokio::test]
async fn a_single_page_app_signs_in_refreshes_and_signs_out_with_oidc_client_ts() {
    node_modules().await;
    let spa = NewClient { post_logout_redirect_uris: vec![SPA_AFTER_LOGOUT.to_owned()], ..clients::spa() };
    let app = TestApp::builder(Backend::Sqlite).with_client(spa).spawn().await;
    let mut node = Program::start(
        Command::new("node")
            .arg("node-runner.mjs")
            .current_dir(example("spa"))
            .env("MUNJI_URL", &app.base_url)
            .env("CLIENT_ID", "spa")
            .env("REDIRECT_URI", SPA_REDIRECT_URI)
            .env("POST_LOGOUT_REDIRECT_URI", SPA_AFTER_LOGOUT),
    );

    // The app sends the browser to munji with a PKCE challenge; the person signs up.
    let authorize = node.message().await["navigate"].as_str().expect("a navigation").to_owned();
    let url = Url::parse(&authorize).unwrap();
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"), "{authorize}");
    let browser = app.browser();
    let person = Person::new(4101, "spa.user@example.com");
    let callback = person_signs_up(&app, &browser, &authorize, &person, "spa.user").await;
    assert!(callback.as_str().starts_with(SPA_REDIRECT_URI), "{callback}");

    // The app redeems the code and calls an API with the access token.
    node.send(callback.as_str()).await;
    let signed_in = node.message().await;
    let signed_in = &signed_in["signed_in"];
    assert_eq!(signed_in["profile"]["preferred_username"], "spa.user", "{signed_in}");
    assert_eq!(signed_in["me"]["username"], "spa.user", "{signed_in}");
    let first = signed_in["access_token"].as_str().unwrap().to_owned();

    // A refresh gives a new access token that munji accepts.
    let refreshed = node.message().await["refreshed"]["access_token"].as_str().expect("a new token").to_owned();
    assert_ne!(refreshed, first);
    assert_eq!(app.get_userinfo(&refreshed).await.status(), 200);

    // Signing out: munji's /end-session ends the session and sends the browser back.
    let end_session = node.message().await["navigate"].as_str().expect("a navigation").to_owned();
    assert!(end_session.starts_with(&app.url("/end-session?")), "{end_session}");
    let resp = browser.get(&end_session).send().await.unwrap();
    assert_eq!(resp.status(), 303, "GET /end-session");
    let back = location(&resp, &app.base_url);
    assert!(back.as_str().starts_with(SPA_AFTER_LOGOUT), "{back}");
    node.send(back.as_str()).await;
    let signed_out = node.message().await;
    assert_eq!(signed_out["signed_out"], json!({"state": "signed-out", "user": null}), "{signed_out}");
    assert_eq!(app.get_userinfo(&refreshed).await.status(), 401, "the session has ended");
    assert!(node.child.wait().await.unwrap().success());
}

#[tokio::test]
async fn a_server_side_web_app_signs_in_with_openidconnect() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app_url = format!("http://{}", listener.local_addr().unwrap());
    let redirect_uri = format!("{app_url}/callback");
    let registered = app.register(clients::web("web-example", &redirect_uri, &["openid", "profile", "email"])).await;
    let settings = web_app::Settings {
        munji_url: app.base_url.clone(),
        client_id: registered.id.clone(),
        client_secret: registered.secret().to_owned(),
        app_url: app_url.clone(),
    };
    let web = web_app::WebApp::discover(settings).await.unwrap();
    let _server = AbortOnDrop(tokio::spawn(web_app::serve(web, listener)));

    let browser = app.browser();
    let home = browser.get(&app_url).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/login\""), "{home}");
    let resp = browser.get(format!("{app_url}/login")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let authorize = location(&resp, &app_url);
    assert!(authorize.as_str().starts_with(&app.url("/authorize?")), "{authorize}");
    let person = Person::new(4102, "web.user@example.com");
    let callback = person_signs_up(&app, &browser, authorize.as_str(), &person, "web.user").await;
    assert!(callback.as_str().starts_with(&redirect_uri), "{callback}");

    // The callback in another browser is refused, and does not spend the sign-in.
    let resp = app.browser().get(callback.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let home = browser.get(&app_url).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("<b id=\"username\">web.user</b>"), "{home}");
    // Once only.
    let resp = browser.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

/// A spawned task that ends with the test.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The tokens a back-end is shown, and what it must answer to each.
struct Tokens {
    user_id: String,
    access: String,
    id_token: String,
    service: String,
    /// A service token of another munji, with its own keys.
    foreign: String,
}

impl Tokens {
    /// A munji with the `web` app and the `reports` service, and its tokens.
    async fn issued() -> (TestApp, Self) {
        let app = TestApp::builder(Backend::Sqlite)
            .with_web_client()
            .with_service_client("reports", &["gmail.vend"])
            .spawn()
            .await;
        let tokens = Self::of(&app).await;
        (app, tokens)
    }

    async fn of(app: &TestApp) -> Self {
        let browser = app.browser();
        let person = Person::new(4103, "api.user@example.com");
        app.sign_up_with(&browser, Provider::Google, &person, "api.user").await;
        let issued = app.web_token_response(&browser, &[]).await;
        let access = issued["access_token"].as_str().unwrap().to_owned();
        let userinfo: Value = app.get_userinfo(&access).await.json().await.unwrap();
        let other = TestApp::builder(Backend::Sqlite).with_service_client("reports", &["gmail.vend"]).spawn().await;
        Self {
            user_id: userinfo["sub"].as_str().unwrap().to_owned(),
            id_token: issued["id_token"].as_str().unwrap().to_owned(),
            service: app.service_token(app.registered("reports")).await,
            foreign: other.service_token(other.registered("reports")).await,
            access,
        }
    }

    /// `GET {hello}` with each token: the user's and the service's are accepted, and nothing
    /// else is.
    async fn check(&self, hello: &str) {
        let http = Client::new();
        let call = |token: Option<&str>| {
            let request = http.get(hello);
            match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
            .send()
        };
        let resp = call(Some(&self.access)).await.unwrap();
        assert_eq!(resp.status(), 200, "{hello}: the user's token");
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"user_id": self.user_id, "username": "api.user"}));
        let resp = call(Some(&self.service)).await.unwrap();
        assert_eq!(resp.status(), 200, "{hello}: a service's token");
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"client_id": "reports"}));

        // A character inside the signature: the last one carries bits that lenient base64
        // decoders (Python's) ignore, so changing it may change nothing.
        let mut tampered = self.access.clone();
        let at = tampered.len() - 10;
        let changed = if &tampered[at..=at] == "A" { "B" } else { "A" };
        tampered.replace_range(at..=at, changed);
        for (what, token) in [
            ("no token", None),
            ("an ID token", Some(self.id_token.as_str())),
            ("a changed signature", Some(tampered.as_str())),
            ("another issuer's key", Some(self.foreign.as_str())),
            ("not a JWT", Some("not-a-token")),
        ] {
            let resp = call(token).await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{hello}: {what}");
            assert!(resp.headers().contains_key("www-authenticate"), "{hello}: {what}");
        }
    }
}

#[tokio::test]
async fn back_ends_in_python_and_rust_verify_access_tokens_offline() {
    let python = python().await;
    let (app, tokens) = Tokens::issued().await;

    let mut backend = Program::start(
        Command::new(python).arg(example("python/verify.py")).env("MUNJI_URL", &app.base_url).env("PORT", "0"),
    );
    let listening = backend.line().await;
    let base = listening.strip_prefix("listening on ").unwrap_or_else(|| panic!("{listening}"));
    tokens.check(&format!("{base}/hello")).await;

    let verifier = verify_token::Verifier::new(&app.base_url, &app.base_url).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let _server = AbortOnDrop(tokio::spawn(verify_token::serve(verifier, listener)));
    tokens.check(&format!("{base}/hello")).await;
}

fn skip_nginx() -> bool {
    if std::env::var_os("SKIP_NGINX_TEST").is_some() {
        eprintln!("SKIP_NGINX_TEST is set: skipping the nginx test");
        return true;
    }
    false
}

/// nginx with `examples/nginx/munji-auth.conf` in front of a back-end that answers with the
/// identity headers it got; munji at `munji`. nginx runs in the foreground, as one process,
/// with everything in `dir`, so it needs no privileges.
async fn start_nginx(dir: &Path, munji: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir_str = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
pid {dir_str}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir_str}/body;
    proxy_temp_path {dir_str}/proxy;
    fastcgi_temp_path {dir_str}/fastcgi;
    uwsgi_temp_path {dir_str}/uwsgi;
    scgi_temp_path {dir_str}/scgi;
    upstream munji {{ server {munji}; }}
    upstream backend {{ server unix:{dir_str}/backend.sock; }}
    server {{
        listen unix:{dir_str}/backend.sock;
        default_type text/plain;
        return 200 "user_id=$http_x_user_id username=$http_x_username client_id=$http_x_client_id uri=$request_uri";
    }}
    server {{
        listen 127.0.0.1:{port};
        include {example};
    }}
}}
"#,
        example = example("nginx/munji-auth.conf").display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    // Debian's nginx is in /usr/sbin, which is not on every user's PATH.
    let sbin = Path::new("/usr/sbin/nginx");
    let mut nginx = Command::new(if sbin.exists() { sbin } else { Path::new("nginx") })
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-e", "stderr"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx (apt-get install nginx, or SKIP_NGINX_TEST=1)");
    // Wait until it listens, or has stopped.
    let addr = format!("127.0.0.1:{port}");
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        if let Some(status) = nginx.try_wait().unwrap() {
            let mut stderr = String::new();
            nginx.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
            panic!("nginx stopped ({status}):\n{stderr}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (nginx, format!("http://{addr}"))
}

#[tokio::test]
async fn nginx_passes_only_requests_that_munji_verifies() {
    if skip_nginx() {
        return;
    }
    let (app, tokens) = Tokens::issued().await;
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, base) = start_nginx(dir.path(), app.base_url.trim_start_matches("http://")).await;
    let http = Client::new();
    let get = |token: &str| http.get(format!("{base}/api/orders?page=2")).bearer_auth(token);

    let resp = get(&tokens.access).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let expected = format!("user_id={} username=api.user client_id= uri=/api/orders?page=2", tokens.user_id);
    assert_eq!(resp.text().await.unwrap(), expected);

    // A service's token: no user headers, even ones the caller sent itself.
    let resp = get(&tokens.service).header("X-User-Id", &tokens.user_id).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "user_id= username= client_id=reports uri=/api/orders?page=2");

    let resp = http.get(format!("{base}/api/orders")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "no token");
    assert!(resp.headers().contains_key("www-authenticate"));
    for (what, token) in [("an ID token", &tokens.id_token), ("another issuer's token", &tokens.foreign)] {
        assert_eq!(get(token).send().await.unwrap().status(), 401, "{what}");
    }

    // munji checks online: once the session ends, its access token stops working at once.
    let resp = app.post_revoke(app.web_client(), &tokens.access).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(get(&tokens.access).send().await.unwrap().status(), 401, "a token of an ended session");
}
