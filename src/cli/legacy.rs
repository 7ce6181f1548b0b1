//! `munji legacy import FILE.csv | import-allauth --database-url URL | status [--json]`.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;

use crate::{
    config::Config,
    legacy,
    store::{
        Db,
        legacy::{ImportCounts, import, pending_by_provider},
    },
    upstream::{self, Provider},
};

#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    /// Import (e-mail, provider) → user mappings from a CSV file, all or nothing.
    Import {
        /// Columns: legacy_user_id,username,display_name,email,provider
        file: std::path::PathBuf,
    },
    /// Import users and their Google, Naver and Kakao accounts from a django-allauth database.
    ImportAllauth {
        /// The allauth site's PostgreSQL database, e.g. postgres://user@host/site
        #[arg(long, value_name = "URL")]
        database_url: String,
    },
    /// How many legacy mappings still wait for their first login, per provider.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, db: &Db, command: LegacyCommand) -> anyhow::Result<()> {
    let providers = upstream::listed_providers(config);
    match command {
        LegacyCommand::Import { file } => import_csv(db, &file, &providers).await,
        LegacyCommand::ImportAllauth { database_url } => import_allauth(db, &database_url).await,
        LegacyCommand::Status { json } => status(db, json, &providers).await,
    }
}

async fn import_csv(db: &Db, file: &Path, providers: &[Provider]) -> anyhow::Result<()> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let users =
        legacy::parse_csv_for(input, providers).with_context(|| format!("{}: nothing was imported", file.display()))?;
    let counts =
        import(db, &users, Utc::now()).await.with_context(|| format!("{}: nothing was imported", file.display()))?;
    print_counts(&counts);
    Ok(())
}

async fn import_allauth(db: &Db, url: &str) -> anyhow::Result<()> {
    let export = legacy::allauth::read(url).await.context("reading the django-allauth database")?;
    let counts = import(db, &export.users, Utc::now()).await.context("nothing was imported")?;
    print_counts(&counts);
    for (provider, n) in &export.skipped_providers {
        println!("skipped {n} {provider} account(s): munji signs in with google, naver and kakao only");
    }
    if export.skipped_unmatchable > 0 {
        println!("skipped {} account(s) with neither a uid nor an e-mail", export.skipped_unmatchable);
    }
    Ok(())
}

fn print_counts(counts: &ImportCounts) {
    println!(
        "users: {} created, {} already present; mappings: {} created, {} already present",
        counts.users_created, counts.users_existing, counts.mappings_created, counts.mappings_existing
    );
}

/// Every listed provider has its line (its key with `--json`), and so has any other provider
/// that still has waiting mappings (one whose configuration was removed).
async fn status(db: &Db, json: bool, providers: &[Provider]) -> anyhow::Result<()> {
    let mut pending: BTreeMap<String, i64> = providers.iter().map(|p| (p.as_str().to_owned(), 0)).collect();
    for (provider, n) in pending_by_provider(db).await? {
        *pending.entry(provider).or_default() = n;
    }
    let total: i64 = pending.values().sum();
    if json {
        let mut body = serde_json::Map::new();
        for (provider, n) in &pending {
            body.insert(provider.clone(), (*n).into());
        }
        body.insert("total".to_owned(), total.into());
        println!("{}", serde_json::Value::Object(body));
    } else {
        for (provider, n) in &pending {
            println!("{provider} {n}");
        }
        println!("total {total}");
    }
    Ok(())
}
