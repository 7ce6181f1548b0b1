//! `munji clients list | add | remove`.

use clap::Subcommand;

use crate::{
    config::Config,
    oidc::clients::{self, AUTHORIZATION_CODE, NewClient, REFRESH_TOKEN},
    store::{self, Db},
};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Clients from the database and from `[[clients]]` (marked "config").
    List,
    /// Register a client; a confidential client's secret is printed once.
    Add {
        /// The client's id, as apps send it (`client_id`); not a UUID.
        #[arg(long)]
        id: String,
        /// Where the authorization code may be sent: https, http on 127.0.0.1 or [::1], or an
        /// app scheme such as com.example.app:/cb. Repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// authorization_code, refresh_token or client_credentials (default: the first two).
        #[arg(long = "grant", value_name = "TYPE")]
        grants: Vec<String>,
        /// A scope the client may ask for (default: openid, profile, email; a service: gmail.vend).
        /// Repeat for several.
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// A target a service may vend Gmail tokens for, or "*" for any. Repeat for several.
        #[arg(long = "gmail-target", value_name = "T")]
        gmail_targets: Vec<String>,
        /// No secret: the client must use PKCE.
        #[arg(long)]
        public: bool,
        /// The name users see on the consent page and in their connected apps (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Ask users for consent before the client gets their tokens (default: first-party,
        /// no consent page).
        #[arg(long)]
        third_party: bool,
        /// Where /end-session may send the user after signing out (exact match). Repeat for
        /// several.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Where munji posts a logout token when a session the client holds tokens of ends:
        /// https, or http on 127.0.0.1 or [::1].
        #[arg(long = "backchannel-logout-uri", value_name = "URI")]
        backchannel_logout_uri: Option<String>,
    },
    /// Remove a client registered with `add`.
    Remove { id: String },
}

pub async fn run(config: &Config, db: &Db, command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::List => {
            for client in clients::list(config, db).await? {
                println!(
                    "{}\t{}\t{}\t{}\tgrants={}\tscopes={}\tredirect_uris={}\tgmail_targets={}\t\
                     post_logout_redirect_uris={}\tbackchannel_logout_uri={}\tname={}",
                    client.id,
                    if client.is_public() { "public" } else { "confidential" },
                    if client.from_config { "config" } else { "database" },
                    if client.first_party { "first-party" } else { "third-party" },
                    client.grant_types.join(","),
                    client.scopes.join(","),
                    client.redirect_uris.join(","),
                    client.gmail_targets.join(","),
                    client.post_logout_redirect_uris.join(","),
                    client.backchannel_logout_uri.as_deref().unwrap_or(""),
                    client.name,
                );
            }
        }
        ClientsCommand::Add {
            id,
            redirect_uris,
            grants,
            scopes,
            gmail_targets,
            public,
            name,
            third_party,
            post_logout_redirect_uris,
            backchannel_logout_uri,
        } => {
            let grant_types =
                if grants.is_empty() { vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()] } else { grants };
            let scopes =
                if scopes.is_empty() { vec!["openid".into(), "profile".into(), "email".into()] } else { scopes };
            let new = NewClient {
                id: id.clone(),
                redirect_uris,
                grant_types,
                scopes,
                gmail_targets,
                public,
                name,
                first_party: !third_party,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                backchannel_logout_session_required: true,
            };
            match clients::add(config, db, new).await? {
                Some(secret) => {
                    println!("client_id: {id}");
                    println!("client_secret: {secret}");
                    println!("(the secret is shown once; munji keeps only its hash)");
                }
                None => println!("client_id: {id} (public: PKCE required)"),
            }
        }
        ClientsCommand::Remove { id } => {
            if config.clients.iter().any(|c| c.id == id) {
                anyhow::bail!("client {id:?} is defined in the configuration file; remove it there");
            }
            if !store::clients::delete(db, &id).await? {
                anyhow::bail!("no client {id:?}");
            }
            println!("removed {id}");
        }
    }
    Ok(())
}
