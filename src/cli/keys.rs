//! `munji keys list | rotate`.

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;

use crate::{
    config::Config,
    gmail::vault::Vault,
    startup,
    store::{self, Db},
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Every signing key: current, published (retired but still verifying), or gone.
    List,
    /// Make a new current key; the old ones keep verifying until their tokens expire.
    Rotate,
    /// Re-encrypt every Gmail token under the first of `encryption_keys` (keep the old key
    /// configured until this has run).
    RotateEncryption,
}

pub async fn run(config: &Config, db: &Db, command: KeysCommand) -> anyhow::Result<()> {
    if let KeysCommand::RotateEncryption = command {
        let vault = Vault::from_config(config);
        let kid = vault.current_kid().context("config key `encryption_keys` is empty")?.to_owned();
        let done = crate::gmail::connect::reseal_all(db, &vault).await?;
        println!("re-encrypted {} Gmail connection(s) under key {kid}", done.changed);
        anyhow::ensure!(
            done.left == 0,
            "{} connection(s) changed while being re-encrypted and still use an older key; run the command again",
            done.left
        );
        return Ok(());
    }
    let tokens = startup::token_service(config, db).await?;
    match command {
        KeysCommand::List => {
            let overlap = config.access_token_ttl.0 + std::time::Duration::from_secs(crate::oidc::tokens::LEEWAY_SECS);
            let current = tokens.keys().ring().current().map(|k| k.kid.clone());
            for key in store::keys::list_all(db).await? {
                let status = match key.retired_at {
                    _ if Some(&key.kid) == current.as_ref() => "current".to_owned(),
                    None => "published".to_owned(),
                    Some(at) if at + overlap > Utc::now() => format!("retired {at}, published until {}", at + overlap),
                    Some(at) => format!("retired {at}"),
                };
                println!("{}\t{}\tcreated {}\t{status}", key.kid, key.alg, key.created_at);
            }
        }
        KeysCommand::RotateEncryption => {}
        KeysCommand::Rotate => {
            let kid = tokens.keys().rotate_in(true).await?;
            println!("new signing key {kid}: published now, used for signing within 60 s");
        }
    }
    Ok(())
}
