#![allow(clippy::expect_used, clippy::unwrap_used)] // a load tool: failing loudly is the point
//! A load generator for munji's token endpoints, run against a live server (see
//! `scripts/load.sh`, which starts one pinned to its own core, and `scripts/soak.sh`):
//!
//! ```text
//! cargo run --release --example load -- --base http://127.0.0.1:8080 --mode verify \
//!     --service-id bench-svc --service-secret … --web-id bench-web --web-secret … --seconds 20
//! ```
//!
//! Modes: `discovery` (GET /.well-known/openid-configuration), `client_credentials` (POST /token), `refresh` (POST /token with rotation: each worker
//! follows its own family), `introspect` (POST /introspect), `verify` (GET /api/v1/verify),
//! `vend` (POST /api/v1/gmail/access-token for a user who connected Gmail and equipped it to
//! `--gmail-target`; the service client must be allowed that target), and `mixed`: every worker
//! draws from [`MIX`] (full sign-ins, rotations of its own family, verifies of its own access
//! token, vends for a handful of users with Gmail equipped).
//! User tokens come from real sign-ins through the dev provider (`serve --dev`).
//! Prints, per operation, the successful requests, the errors (with their causes), throughput
//! and p50/p99 latency of the successful ones; `mixed` adds the totals.

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, ValueEnum};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use url::Url;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long)]
    service_id: String,
    #[arg(long)]
    service_secret: String,
    #[arg(long)]
    web_id: String,
    #[arg(long)]
    web_secret: String,
    #[arg(long, default_value = "https://bench.example/cb")]
    redirect_uri: String,
    /// Introspect/verify a service token from client_credentials instead of a user's token
    /// (for servers without munji's dev provider, such as a peer being compared).
    #[arg(long)]
    token_from_client_credentials: bool,
    #[arg(long, default_value = "/introspect")]
    introspect_path: String,
    /// The target the vend users equip their Gmail to (the service client must be allowed it).
    #[arg(long, default_value = "bench-bot")]
    gmail_target: String,
    /// How many users with Gmail equipped `mixed` vends for (`vend` uses one).
    #[arg(long, default_value_t = 4)]
    vend_users: usize,
    /// Print the summary as a Markdown table.
    #[arg(long)]
    markdown: bool,
    /// Exit with status 2 when more than this percentage of operations failed.
    #[arg(long, default_value_t = 100.0)]
    max_error_rate: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Discovery,
    #[value(name = "client_credentials")]
    ClientCredentials,
    Refresh,
    Introspect,
    Verify,
    Vend,
    Mixed,
}

/// One thing a worker does, timed as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// A browser's whole sign-in: `/login/naver`, the provider form, `/callback/naver`,
    /// `/authorize` and the code exchange at `/token` (five requests).
    SignIn,
    /// `POST /token` refresh_token: rotates the worker's own family.
    Refresh,
    /// `GET /api/v1/verify` with the worker's access token.
    Verify,
    /// `POST /api/v1/gmail/access-token` for one of the users with Gmail equipped.
    Vend,
    /// `POST /token` client_credentials.
    ClientCredentials,
    /// `POST /introspect` of the worker's access token.
    Introspect,
    /// `GET /.well-known/openid-configuration`.
    Discovery,
}

/// What a `mixed` worker does, by weight (percent): mostly verifies, sign-ins a few percent.
const MIX: [(Op, u32); 4] = [(Op::Verify, 50), (Op::Refresh, 25), (Op::Vend, 22), (Op::SignIn, 3)];

impl Mode {
    /// The operations a worker draws from, with their weights.
    fn mix(self) -> &'static [(Op, u32)] {
        match self {
            Mode::Discovery => &[(Op::Discovery, 1)],
            Mode::ClientCredentials => &[(Op::ClientCredentials, 1)],
            Mode::Refresh => &[(Op::Refresh, 1)],
            Mode::Introspect => &[(Op::Introspect, 1)],
            Mode::Verify => &[(Op::Verify, 1)],
            Mode::Vend => &[(Op::Vend, 1)],
            Mode::Mixed => &MIX,
        }
    }

    fn has(self, op: Op) -> bool {
        self.mix().iter().any(|(o, _)| *o == op)
    }
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::SignIn => "sign_in",
            Op::Refresh => "refresh",
            Op::Verify => "verify",
            Op::Vend => "vend",
            Op::ClientCredentials => "client_credentials",
            Op::Introspect => "introspect",
            Op::Discovery => "discovery",
        }
    }
}

/// A user's tokens for the web client.
struct Tokens {
    access: String,
    refresh: String,
}

impl Tokens {
    /// The tokens in a `/token` answer.
    fn issued(answer: &Value) -> anyhow::Result<Self> {
        let field = |name: &str| answer[name].as_str().map(str::to_owned).with_context(|| format!("no {name}"));
        Ok(Self { access: field("access_token")?, refresh: field("refresh_token")? })
    }
}

/// What every worker shares: the arguments, a connection pool, and what was prepared.
struct Bench {
    args: Args,
    http: Client,
    /// A user's access token (or a service token, `--token-from-client-credentials`) for the
    /// `introspect` and `verify` modes; in `mixed`, each worker has its own.
    shared_access: String,
    /// The service client's token, for vends (it lives an hour; runs are shorter).
    service_token: String,
    /// Users who equipped Gmail to `--gmail-target`.
    vend_users: Vec<String>,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.args.base)
    }

    /// Tokens for `client` from `/token`.
    async fn token(&self, client: (&str, &str), form: &[(&str, &str)]) -> anyhow::Result<Value> {
        call_json(self.http.post(self.url("/token")).basic_auth(client.0, Some(client.1)).form(form)).await
    }

    async fn service_token(&self) -> anyhow::Result<String> {
        let client = (self.args.service_id.as_str(), self.args.service_secret.as_str());
        let issued = self.token(client, &[("grant_type", "client_credentials")]).await?;
        Ok(issued["access_token"].as_str().context("no access_token")?.to_owned())
    }

    /// A full sign-in of `uid` (signing up the first time) in a fresh browser; their tokens.
    async fn sign_in(&self, uid: &str) -> anyhow::Result<Tokens> {
        let browser = Browser::new(&self.args.base)?;
        browser.sign_in(uid).await?;
        browser.tokens(self).await
    }

    /// Sign `uid` up, connect Gmail and equip it to `--gmail-target`; the user's id.
    async fn vend_user(&self, uid: &str) -> anyhow::Result<String> {
        let browser = Browser::new(&self.args.base)?;
        browser.sign_in(uid).await?;
        browser.connect_and_equip_gmail(uid, &self.args.gmail_target).await?;
        let tokens = browser.tokens(self).await?;
        let me = call_json(self.http.get(self.url("/api/v1/me")).bearer_auth(&tokens.access)).await?;
        Ok(me["id"].as_str().context("no id in /api/v1/me")?.to_owned())
    }
}

/// A browser of its own (its own cookie jar; redirects not followed) on munji and the dev provider.
struct Browser<'a> {
    client: Client,
    base: &'a str,
}

impl<'a> Browser<'a> {
    fn new(base: &'a str) -> anyhow::Result<Self> {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, base })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send; where the redirect it answers points (made absolute). Anything else is an error.
    async fn redirected(&self, request: RequestBuilder) -> anyhow::Result<Url> {
        let resp = send(request).await?;
        match resp.headers().get("location").and_then(|v| v.to_str().ok()) {
            Some(to) if resp.status().is_redirection() => Ok(Url::parse(self.base)?.join(to)?),
            _ => bail!("{} from {} (expected a redirect)", resp.status().as_u16(), resp.url().path()),
        }
    }

    async fn page(&self, path: &str) -> anyhow::Result<String> {
        Ok(call(self.client.get(self.url(path))).await?.text().await?)
    }

    /// Post the dev provider's form at `authorize` for `uid`, sharing the e-mail and granting
    /// `gmail.send` when asked; the callback it sends the browser back to.
    async fn provider_allows(&self, authorize: Url, uid: &str) -> anyhow::Result<Url> {
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        let email = format!("{uid}@example.com");
        form.extend(
            [
                ("uid", uid),
                ("email", email.as_str()),
                ("name", "Load"),
                ("consent_email", "on"),
                ("email_verified", "on"),
                ("grant_gmail", "on"),
                ("decision", "allow"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let mut action = authorize;
        action.set_query(None);
        self.redirected(self.client.post(action).form(&form)).await
    }

    /// Sign `uid` in with Naver, signing them up (username `uid` without dashes) the first time.
    async fn sign_in(&self, uid: &str) -> anyhow::Result<()> {
        let authorize = self.redirected(self.client.get(self.url("/login/naver"))).await?;
        let callback = self.provider_allows(authorize, uid).await?;
        let landed = self.redirected(self.client.get(callback)).await?;
        if landed.path() == "/signup" {
            let csrf = form_value(&self.page("/signup").await?, "csrf")?;
            let username = uid.replace('-', "");
            let form = [("username", username.as_str()), ("display_name", "Load"), ("csrf", csrf.as_str())];
            self.redirected(self.client.post(self.url("/signup")).form(&form)).await?;
        }
        Ok(())
    }

    /// The signed-in user authorizes the web client; the tokens its code is exchanged for.
    async fn tokens(&self, bench: &Bench) -> anyhow::Result<Tokens> {
        let args = &bench.args;
        let query = [
            ("client_id", args.web_id.as_str()),
            ("redirect_uri", &args.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid profile"),
        ];
        let back = self.redirected(self.client.get(self.url("/authorize")).query(&query)).await?;
        let code = back.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
        let code = code.with_context(|| format!("no code in {back}"))?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", args.redirect_uri.as_str()),
        ];
        Tokens::issued(&bench.token((&args.web_id, &args.web_secret), &form).await?)
    }

    /// Connect a Gmail account of `uid` from the account page and equip it to `target`.
    async fn connect_and_equip_gmail(&self, uid: &str, target: &str) -> anyhow::Result<()> {
        let csrf = form_value(&self.page("/account").await?, "csrf")?;
        let connect = self.client.post(self.url("/account/gmail/connect")).form(&[("csrf", &csrf)]);
        let authorize = self.redirected(connect).await?;
        let callback = self.provider_allows(authorize, uid).await?;
        self.redirected(self.client.get(callback)).await?;
        let account = self.page("/account").await?;
        let equip = account
            .split("action=\"")
            .filter_map(|a| a.split('"').next())
            .find(|a| a.ends_with("/equip"))
            .context("no equip form on /account")?;
        let form = [("csrf", csrf.as_str()), ("equipped_to", target)];
        self.redirected(self.client.post(self.url(equip)).form(&form)).await?;
        Ok(())
    }
}

/// Send, with the transport error's causes (not its URL) as the error.
async fn send(request: RequestBuilder) -> anyhow::Result<Response> {
    request.send().await.map_err(|e| anyhow!(e.without_url()))
}

/// Send; the response if it succeeded, otherwise an error naming its status, error code and path.
async fn call(request: RequestBuilder) -> anyhow::Result<Response> {
    let resp = send(request).await?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let (status, path) = (resp.status(), resp.url().path().to_owned());
    let body: Value = resp.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().or(body["error"].as_str()).unwrap_or_default();
    bail!("{} {code} from {path}", status.as_u16())
}

async fn call_json(request: RequestBuilder) -> anyhow::Result<Value> {
    Ok(call(request).await?.json().await?)
}

/// The `value` of the form field `name` in an HTML page.
fn form_value(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let value = html.split(&marker).nth(1).and_then(|s| s.split('"').next());
    Ok(value.with_context(|| format!("no {name} field on the page"))?.to_owned())
}

/// One concurrent client: its own user, tokens and random draws.
struct Worker {
    bench: Arc<Bench>,
    /// Its user at the dev provider (`refresh`, `mixed`).
    uid: String,
    tokens: Tokens,
    vends: usize,
    rng: StdRng,
}

impl Worker {
    async fn new(bench: Arc<Bench>, n: usize) -> anyhow::Result<Self> {
        let uid = format!("load-{n}");
        // A worker that rotates follows a family of its own (and, in `mixed`, verifies its own
        // access token); the others share one user's token, if they need one at all.
        let tokens = if bench.args.mode.has(Op::Refresh) {
            bench.sign_in(&uid).await?
        } else {
            Tokens { access: bench.shared_access.clone(), refresh: String::new() }
        };
        Ok(Self { bench, uid, tokens, vends: n, rng: StdRng::seed_from_u64(n as u64) })
    }

    /// Run operations drawn from the mode's mix until `deadline`.
    async fn work(mut self, deadline: Instant) -> Tally {
        let mut tally = Tally::default();
        while Instant::now() < deadline {
            let op = self.draw();
            let started = Instant::now();
            let outcome = self.run(op).await;
            tally.record(op, started.elapsed(), outcome);
        }
        tally
    }

    fn draw(&mut self) -> Op {
        let mix = self.bench.args.mode.mix();
        let mut n = self.rng.random_range(0..mix.iter().map(|(_, w)| w).sum::<u32>());
        for &(op, weight) in mix {
            if n < weight {
                return op;
            }
            n -= weight;
        }
        unreachable!("the draw is below the total weight")
    }

    async fn run(&mut self, op: Op) -> anyhow::Result<()> {
        match op {
            Op::SignIn => self.sign_in().await,
            Op::Refresh => self.refresh().await,
            Op::Verify => self.verify().await,
            Op::Vend => self.vend().await,
            Op::ClientCredentials => self.client_credentials().await,
            Op::Introspect => self.introspect().await,
            Op::Discovery => {
                call(self.bench.http.get(self.bench.url("/.well-known/openid-configuration"))).await?.bytes().await?;
                Ok(())
            }
        }
    }

    /// A new sign-in starts a new family, which the worker follows from then on.
    async fn sign_in(&mut self) -> anyhow::Result<()> {
        self.tokens = self.bench.sign_in(&self.uid).await?;
        Ok(())
    }

    async fn refresh(&mut self) -> anyhow::Result<()> {
        let args = &self.bench.args;
        let form = [("grant_type", "refresh_token"), ("refresh_token", self.tokens.refresh.as_str())];
        match self.bench.token((&args.web_id, &args.web_secret), &form).await.and_then(|t| Tokens::issued(&t)) {
            Ok(tokens) => {
                self.tokens = tokens;
                Ok(())
            }
            Err(e) => {
                // The family may be spent (an answer lost after the rotation): start a new one so
                // one failure stays one error.
                if let Ok(tokens) = self.bench.sign_in(&self.uid).await {
                    self.tokens = tokens;
                }
                Err(e)
            }
        }
    }

    async fn verify(&mut self) -> anyhow::Result<()> {
        let request = self.bench.http.get(self.bench.url("/api/v1/verify")).bearer_auth(&self.tokens.access);
        call(request).await?.bytes().await?;
        Ok(())
    }

    async fn vend(&mut self) -> anyhow::Result<()> {
        let bench = &self.bench;
        let user_id = &bench.vend_users[self.vends % bench.vend_users.len()];
        self.vends += 1;
        let body = json!({"user_id": user_id, "equipped_to": bench.args.gmail_target});
        let request = bench.http.post(bench.url("/api/v1/gmail/access-token")).bearer_auth(&bench.service_token);
        let vended = call_json(request.json(&body)).await?;
        vended["access_token"].as_str().map(drop).context("no access_token in the vend")
    }

    async fn client_credentials(&mut self) -> anyhow::Result<()> {
        self.bench.service_token().await.map(drop)
    }

    async fn introspect(&mut self) -> anyhow::Result<()> {
        let bench = &self.bench;
        let request = bench
            .http
            .post(bench.url(&bench.args.introspect_path))
            .basic_auth(&bench.args.service_id, Some(&bench.args.service_secret))
            .form(&[("token", self.tokens.access.as_str())]);
        let answer = call_json(request).await?;
        if answer["active"] != Value::Bool(true) {
            bail!("introspection says inactive");
        }
        Ok(())
    }
}

/// What happened to one operation: latencies of the successes (ms), the failures by cause.
#[derive(Default)]
struct OpTally {
    latencies: Vec<f64>,
    errors: BTreeMap<String, u64>,
}

impl OpTally {
    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The `q` quantile of the sorted latencies.
    fn quantile(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        self.latencies.get(((n as f64 * q) as usize).min(n.saturating_sub(1))).copied().unwrap_or(0.0)
    }
}

#[derive(Default)]
struct Tally(BTreeMap<Op, OpTally>);

impl Tally {
    fn record(&mut self, op: Op, took: Duration, outcome: anyhow::Result<()>) {
        let tally = self.0.entry(op).or_default();
        match outcome {
            Ok(()) => tally.latencies.push(took.as_secs_f64() * 1000.0),
            Err(e) => *tally.errors.entry(format!("{e:#}")).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        for (op, theirs) in other.0 {
            let mine = self.0.entry(op).or_default();
            mine.latencies.extend(theirs.latencies);
            for (cause, n) in theirs.errors {
                *mine.errors.entry(cause).or_default() += n;
            }
        }
    }

    /// Print the summary; the percentage of operations that failed.
    fn report(mut self, mode: Mode, elapsed: f64, markdown: bool) -> f64 {
        for tally in self.0.values_mut() {
            tally.latencies.sort_by(f64::total_cmp);
        }
        let oks: usize = self.0.values().map(|t| t.latencies.len()).sum();
        let errors: u64 = self.0.values().map(OpTally::error_count).sum();
        let error_rate = 100.0 * errors as f64 / (oks as f64 + errors as f64).max(1.0);
        let label = |op: Op| if mode == Mode::Mixed { format!("mixed:{}", op.name()) } else { op.name().to_owned() };
        if markdown {
            println!("| operation | share | requests | errors | throughput | p50 | p99 |");
            println!("|---|---|---|---|---|---|---|");
        }
        for (&op, tally) in &self.0 {
            let (n, failed) = (tally.latencies.len(), tally.error_count());
            let (rate, p50, p99) = (n as f64 / elapsed, tally.quantile(0.5), tally.quantile(0.99));
            if markdown {
                let share = 100.0 * (n as f64 + failed as f64) / (oks as f64 + errors as f64).max(1.0);
                println!(
                    "| `{}` | {share:.1}% | {n} | {failed} | {rate:.0}/s | {p50:.2} ms | {p99:.2} ms |",
                    op.name()
                );
            } else {
                println!(
                    "{:<18} requests={n} errors={failed} throughput={rate:.0}/s p50={p50:.2}ms p99={p99:.2}ms",
                    label(op)
                );
            }
        }
        if mode == Mode::Mixed || markdown {
            let rate = oks as f64 / elapsed;
            if markdown {
                println!("| **all** | 100% | {oks} | {errors} ({error_rate:.3}%) | {rate:.0}/s | | |");
            } else {
                println!(
                    "{:<18} requests={oks} errors={errors} error_rate={error_rate:.3}% throughput={rate:.0}/s",
                    "mixed:all"
                );
            }
        }
        for (&op, tally) in &self.0 {
            for (cause, n) in &tally.errors {
                let bullet = if markdown { "-" } else { " " };
                println!("{bullet} {} error ×{n}: {cause}", label(op));
            }
        }
        error_rate
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let http = Client::builder().pool_max_idle_per_host(args.concurrency).timeout(Duration::from_secs(30)).build()?;
    let mut bench =
        Bench { args, http, shared_access: String::new(), service_token: String::new(), vend_users: vec![] };
    let mode = bench.args.mode;
    if mode.has(Op::Vend) {
        bench.service_token = bench.service_token().await.context("the service client's token")?;
        let count = if mode == Mode::Vend { 1 } else { bench.args.vend_users.max(1) };
        for n in 0..count {
            let user = bench.vend_user(&format!("vend-{n}")).await.context("preparing a user with Gmail equipped")?;
            bench.vend_users.push(user);
        }
    }
    if bench.args.token_from_client_credentials {
        bench.shared_access = bench.service_token().await?;
    } else if matches!(mode, Mode::Verify | Mode::Introspect) {
        bench.shared_access = bench.sign_in("load-0").await.context("signing a user in")?.access;
    }
    let bench = Arc::new(bench);
    let mut workers = Vec::new();
    for n in 1..=bench.args.concurrency {
        workers.push(Worker::new(bench.clone(), n).await.context("preparing a worker's user")?);
    }

    let began = Instant::now();
    let deadline = began + Duration::from_secs(bench.args.seconds);
    let running: Vec<_> = workers.into_iter().map(|w| tokio::spawn(w.work(deadline))).collect();
    let mut tally = Tally::default();
    for worker in running {
        tally.merge(worker.await?);
    }
    let error_rate = tally.report(mode, began.elapsed().as_secs_f64(), bench.args.markdown);
    Ok(if error_rate > bench.args.max_error_rate { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
