#![allow(clippy::expect_used, clippy::unwrap_used)] // a load tool: failing loudly is the point
//! A load generator for munji's token endpoints, run against a live server (see
//! `scripts/load.sh`, which starts one pinned to its own core):
//!
//! ```text
//! cargo run --release --example load -- --base http://127.0.0.1:8080 --mode verify \
//!     --service-id bench-svc --service-secret … --web-id bench-web --web-secret … --seconds 20
//! ```
//!
//! Modes: `client_credentials` (POST /token), `refresh` (POST /token with rotation: each worker
//! follows its own family), `introspect` (POST /introspect), `verify` (GET /api/v1/verify).
//! User tokens come from real sign-ins through the dev provider (`serve --dev`).
//! Prints requests, errors, throughput and p50/p99 latency.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use reqwest::Client;
use serde_json::Value;
use tokio::sync::Mutex;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    #[arg(long)]
    mode: String,
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
}

fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().expect("client")
}

fn location(resp: &reqwest::Response, base: &str) -> url::Url {
    let value = resp.headers().get("location").expect("a redirect").to_str().expect("ascii");
    url::Url::parse(base).expect("base").join(value).expect("url")
}

/// Sign a user in through the dev provider (signing up on the way), then get tokens for the
/// web client with the authorization code flow. Returns (access token, refresh token).
async fn user_tokens(args: &Args, uid: usize) -> anyhow::Result<(String, String)> {
    let b = browser();
    let start = b.get(format!("{}/login/naver", args.base)).send().await?;
    let authorize = location(&start, &args.base);
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.extend([
        ("uid".into(), format!("load-{uid}")),
        ("email".into(), format!("load{uid}@example.com")),
        ("name".into(), "Load".into()),
        ("consent_email".into(), "on".into()),
        ("decision".into(), "allow".into()),
    ]);
    let mut action = authorize.clone();
    action.set_query(None);
    let back = b.post(action).form(&form).send().await?;
    let callback = location(&back, &args.base);
    let landed = b.get(callback).send().await?;
    if location(&landed, &args.base).path() == "/signup" {
        let page = b.get(format!("{}/signup", args.base)).send().await?.text().await?;
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default();
        let name = format!("load{uid}");
        b.post(format!("{}/signup", args.base))
            .form(&[("username", name.as_str()), ("display_name", "Load"), ("csrf", csrf)])
            .send()
            .await?;
    }
    let resp = b
        .get(format!("{}/authorize", args.base))
        .query(&[
            ("client_id", args.web_id.as_str()),
            ("redirect_uri", &args.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid profile"),
        ])
        .send()
        .await?;
    let code = location(&resp, &args.base).query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
    let code = code.ok_or_else(|| anyhow::anyhow!("no code"))?;
    let issued: Value = Client::new()
        .post(format!("{}/token", args.base))
        .basic_auth(&args.web_id, Some(&args.web_secret))
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", &args.redirect_uri)])
        .send()
        .await?
        .json()
        .await?;
    Ok((
        issued["access_token"].as_str().unwrap_or_default().into(),
        issued["refresh_token"].as_str().unwrap_or_default().into(),
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let http = Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let access = if args.token_from_client_credentials {
        let issued: Value = http
            .post(format!("{}/token", args.base))
            .basic_auth(&args.service_id, Some(&args.service_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .json()
            .await?;
        issued["access_token"].as_str().unwrap_or_default().to_owned()
    } else if matches!(args.mode.as_str(), "verify" | "introspect") {
        user_tokens(&args, 0).await?.0
    } else {
        String::new()
    };
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        let (args, http, access, latencies, errors) =
            (args.clone(), http.clone(), access.clone(), latencies.clone(), errors.clone());
        let mut refresh = if args.mode == "refresh" { user_tokens(&args, worker + 1).await?.1 } else { String::new() };
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let request = match args.mode.as_str() {
                    "client_credentials" => http
                        .post(format!("{}/token", args.base))
                        .basic_auth(&args.service_id, Some(&args.service_secret))
                        .form(&[("grant_type", "client_credentials")]),
                    "refresh" => http
                        .post(format!("{}/token", args.base))
                        .basic_auth(&args.web_id, Some(&args.web_secret))
                        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())]),
                    "introspect" => http
                        .post(format!("{}{}", args.base, args.introspect_path))
                        .basic_auth(&args.service_id, Some(&args.service_secret))
                        .form(&[("token", access.as_str())]),
                    _ => http.get(format!("{}/api/v1/verify", args.base)).bearer_auth(&access),
                };
                match request.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        if args.mode == "refresh" {
                            let body: Value = resp.json().await.unwrap_or_default();
                            if let Some(next) = body["refresh_token"].as_str() {
                                refresh = next.to_owned();
                            }
                        } else {
                            drop(resp.bytes().await);
                        }
                        mine.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    let began = Instant::now();
    for worker in workers {
        worker.await?;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let mut all = latencies.lock().await.clone();
    all.sort_by(f64::total_cmp);
    let pick =
        |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0.0);
    println!(
        "{:<18} requests={} errors={} throughput={:.0}/s p50={:.2}ms p99={:.2}ms",
        args.mode,
        all.len(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        all.len() as f64 / elapsed,
        pick(0.5),
        pick(0.99)
    );
    Ok(())
}
