//! The `munji` command line (DESIGN §4). Every subcommand reads the same configuration as
//! `serve`: `--config FILE` and `MUNJI_*` variables.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret as _;

use crate::{
    config::{Config, Purpose, Sources},
    startup::{self, Application},
    store::Db,
};

#[derive(Debug, Parser)]
#[command(name = "munji", version, about = "munji: a self-hosted identity provider")]
pub struct Cli {
    /// TOML configuration file; `MUNJI_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies pending migrations first).
    Serve {
        /// Embedded defaults, a generated secret kept beside the database, readable logs;
        /// loopback addresses only.
        #[arg(long)]
        dev: bool,
    },
    /// Apply pending database migrations, or revert applied ones.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the OpenAPI document of `/api/v1`.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Run down scripts: the newest migration, or every one above `--target`.
    Revert {
        /// Keep migrations up to and including this version (`0` reverts all).
        #[arg(long, value_name = "VERSION")]
        target: Option<i64>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { dev } => serve(cli.config, dev).await,
        Command::Migrate { action } => migrate(cli.config, action).await,
        Command::Openapi => {
            print!("{}", crate::http::api::spec_json());
            Ok(())
        }
    }
}

async fn serve(file: Option<PathBuf>, dev: bool) -> anyhow::Result<()> {
    let config = Config::load(Sources::from_process(file.as_deref(), Purpose::Serve { dev }))?;
    crate::telemetry::init(config.dev);
    let app = Application::build(config).await?;
    app.run_until(startup::shutdown_signal()).await.context("serving HTTP")
}

async fn migrate(file: Option<PathBuf>, action: Option<MigrateAction>) -> anyhow::Result<()> {
    let config = Config::load(Sources::from_process(file.as_deref(), Purpose::Admin))?;
    let db = Db::connect(config.database_url.expose_secret())
        .await
        .context("connecting to the database (config key `database_url`)")?;
    match action {
        None => {
            let before = db.applied_versions().await?;
            db.migrate().await.context("applying migrations")?;
            let after = db.applied_versions().await?;
            let applied: Vec<_> = after.iter().filter(|v| !before.contains(v)).collect();
            println!("applied {} migration(s); now at version {}", applied.len(), after.last().unwrap_or(&0));
        }
        Some(MigrateAction::Revert { target }) => {
            let reverted = db.revert(target).await.context("reverting migrations")?;
            let now = db.applied_versions().await?;
            println!(
                "reverted {} migration(s) {reverted:?}; now at version {}",
                reverted.len(),
                now.last().unwrap_or(&0)
            );
        }
    }
    db.close().await;
    Ok(())
}
