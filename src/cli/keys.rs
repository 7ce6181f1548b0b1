//! `munji keys list | rotate`.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;

use crate::{
    config::Config,
    gmail::vault::Vault,
    oidc::{
        keys::{PUBLISH_AHEAD, RELOAD_EVERY, publication_overlap},
        tokens::LEEWAY_SECS,
    },
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
            let overlap = publication_overlap(config.access_token_ttl.0, Duration::from_secs(LEEWAY_SECS));
            let current = tokens.keys().ring().current().map(|k| k.kid.clone());
            let now = Utc::now();
            for key in store::keys::list_all(db).await? {
                let retired = match key.retired_at {
                    None => None,
                    Some(at) if at + overlap > now => Some(format!("retired {at}, published until {}", at + overlap)),
                    Some(at) => Some(format!("retired {at}")),
                };
                let signs_from = key.created_at + PUBLISH_AHEAD;
                let status = match retired {
                    // A retired key signs until its successor has been published long enough.
                    _ if Some(&key.kid) == current.as_ref() => {
                        retired.map_or("current".to_owned(), |retired| format!("current, {retired}"))
                    }
                    None if signs_from > now => format!("published, signs from {signs_from}"),
                    None => "published".to_owned(),
                    Some(retired) => retired,
                };
                println!("{}\t{}\tcreated {}\t{status}", key.kid, key.alg, key.created_at);
            }
        }
        KeysCommand::RotateEncryption => {}
        KeysCommand::Rotate => {
            let kid = tokens.keys().rotate_in(true).await?;
            println!(
                "new signing key {kid}: published by every instance within {} s, signing {} to {} s from now",
                RELOAD_EVERY.as_secs(),
                PUBLISH_AHEAD.as_secs(),
                (PUBLISH_AHEAD + RELOAD_EVERY).as_secs()
            );
        }
    }
    Ok(())
}
