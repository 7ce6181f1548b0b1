//! The `munji` command line (docs/operations.md). Every subcommand reads the same configuration as
//! `serve`: `--config FILE` and `MUNJI_*` variables.

mod clients;
mod keys;
mod legacy;
mod users;

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
    /// Signing keys (JWKS): list them, rotate.
    Keys {
        /// Use the secret `munji serve --dev` keeps beside its database when `secret_key` is not
        /// set.
        #[arg(long, global = true)]
        dev: bool,
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// OIDC clients (apps, services): list, add, remove.
    Clients {
        #[command(subcommand)]
        command: clients::ClientsCommand,
    },
    /// Legacy mappings from e-mail-keyed systems: import them, watch them get claimed.
    Legacy {
        #[command(subcommand)]
        command: legacy::LegacyCommand,
    },
    /// Accounts: find them, make admins, disable and enable them.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Print the OpenAPI document of `/api/v1`.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Run down scripts: the newest migration, or every one above `--target`. Stop every
    /// instance using the database first; asks for confirmation unless `--yes`.
    Revert {
        /// Keep migrations up to and including this version (`0` reverts all).
        #[arg(long, value_name = "VERSION")]
        target: Option<i64>,
        /// Revert without asking (for scripts); the warning is still printed.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { dev } => serve(cli.config, dev).await,
        Command::Migrate { action } => migrate(cli.config, action).await,
        Command::Legacy { command } => {
            let (config, db) = admin_db(cli.config).await?;
            let result = legacy::run(&config, &db, command).await;
            db.close().await;
            result
        }
        Command::Keys { dev, command } => {
            // Signing keys are sealed with `secret_key`; Gmail tokens are not, except by --dev.
            let purpose = match command {
                keys::KeysCommand::RotateEncryption if !dev => Purpose::Admin,
                _ => Purpose::AdminWithSecret { dev },
            };
            let (config, db) = admin_db_as(cli.config, purpose).await?;
            let result = keys::run(&config, &db, command).await;
            db.close().await;
            result
        }
        Command::Clients { command } => {
            let (config, db) = admin_db(cli.config).await?;
            let result = clients::run(&config, &db, command).await;
            db.close().await;
            result
        }
        Command::Users { command } => {
            let config = Config::load(Sources::from_process(cli.config.as_deref(), Purpose::Admin))?;
            let state = startup::state(config).await?;
            let result = users::run(&state, command).await;
            state.db.close().await;
            result
        }
        Command::Openapi => {
            print!("{}", crate::http::api::spec_json());
            Ok(())
        }
    }
}

async fn serve(file: Option<PathBuf>, dev: bool) -> anyhow::Result<()> {
    let mut config = Config::load(Sources::from_process(file.as_deref(), Purpose::Serve { dev }))?;
    // `[[clients]]` is checked before the dev secret is written: a refused start leaves nothing.
    crate::oidc::clients::check_config(&config)?;
    config.keep_dev_secret()?;
    crate::telemetry::init(config.dev);
    let app = Application::build(config).await?;
    app.run_until(startup::shutdown_signal()).await.context("serving HTTP")
}

/// The configuration and the durable store as the administrative commands use them:
/// connected, not migrated. The configuration is checked before anything is opened.
async fn connect_admin(file: Option<PathBuf>, purpose: Purpose) -> anyhow::Result<(Config, Db)> {
    let config = Config::load(Sources::from_process(file.as_deref(), purpose))?;
    let db = Db::connect(config.database_url.expose_secret())
        .await
        .context("connecting to the database (config key `database_url`)")?;
    Ok((config, db))
}

/// The same with every migration applied, for commands that read or write data.
async fn admin_db(file: Option<PathBuf>) -> anyhow::Result<(Config, Db)> {
    admin_db_as(file, Purpose::Admin).await
}

/// [`admin_db`] for a command that needs more of the configuration (`keys`: `secret_key`).
async fn admin_db_as(file: Option<PathBuf>, purpose: Purpose) -> anyhow::Result<(Config, Db)> {
    let (config, db) = connect_admin(file, purpose).await?;
    db.migrate().await.context("applying migrations")?;
    Ok((config, db))
}

async fn migrate(file: Option<PathBuf>, action: Option<MigrateAction>) -> anyhow::Result<()> {
    let (_, db) = connect_admin(file, Purpose::Admin).await?;
    match action {
        None => {
            let before = db.applied_versions().await?;
            db.migrate().await.context("applying migrations")?;
            let after = db.applied_versions().await?;
            let applied: Vec<_> = after.iter().filter(|v| !before.contains(v)).collect();
            println!("applied {} migration(s); now at version {}", applied.len(), after.last().unwrap_or(&0));
        }
        Some(MigrateAction::Revert { target, yes }) => {
            let applied = db.applied_versions().await?;
            let doomed: Vec<i64> = match target {
                Some(target) => applied.iter().rev().copied().filter(|v| *v > target).collect(),
                None => applied.last().copied().into_iter().collect(),
            };
            if let Err(e) = confirm_revert(&doomed, yes) {
                db.close().await;
                return Err(e);
            }
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

/// Warn that reverting breaks the instances still running on the database and loses data, then
/// go on only with `--yes` or a "yes" typed at a terminal (docs/operations.md#migrations).
fn confirm_revert(versions: &[i64], yes: bool) -> anyhow::Result<()> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if versions.is_empty() {
        return Ok(());
    }
    let list = versions.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    eprintln!(
        "munji: warning: this reverts migration(s) {list} of the database in `database_url`.\n  \
         Stop every munji instance that uses it first: a running instance expects the newer schema\n  \
         and fails, or keeps writing what is being removed. What each revert loses is in\n  \
         docs/operations.md#migrations."
    );
    if yes {
        return Ok(());
    }
    anyhow::ensure!(std::io::stdin().is_terminal(), "nothing was reverted: add --yes to revert without being asked");
    eprint!("Type yes to revert: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    anyhow::ensure!(answer.trim() == "yes", "nothing was reverted");
    Ok(())
}
