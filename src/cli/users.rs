//! `munji users list | show | grant-admin | revoke-admin | disable | enable | delete`
//! (docs/admin.md). The JSON these print is the admin API's (`/api/v1/admin/users…`).

use clap::Subcommand;
use poem_openapi::types::ToJSON as _;

use crate::{
    admin::{self, AdminError},
    http::api::admin::{AdminUser, AdminUserDetail},
    state::AppState,
};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Users, newest first (every one, however many pages that takes).
    List {
        /// A username prefix, an e-mail (current or past, any letter case), a provider uid or a
        /// user id.
        #[arg(long, value_name = "Q")]
        query: Option<String>,
        /// Print a JSON array of the admin API's user objects.
        #[arg(long)]
        json: bool,
    },
    /// One user with identities, past e-mails, sessions, apps and Gmail connections.
    Show {
        /// A username or a user id.
        user: String,
        /// Print the admin API's user detail.
        #[arg(long)]
        json: bool,
    },
    /// Let the user use the admin API and pages (with a token of scope `admin`).
    GrantAdmin { user: String },
    /// Take the admin rights away; their admin tokens stop working at once.
    RevokeAdmin { user: String },
    /// No sign-in any more; every session and token ends; no Gmail vending for them.
    Disable {
        user: String,
        /// Why, for the audit log and other admins.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Let the user sign in again (their old tokens stay dead).
    Enable { user: String },
    /// Delete the account and everything of it (docs/leaving.md); asks first.
    Delete {
        user: String,
        /// Delete without being asked (for scripts).
        #[arg(long)]
        yes: bool,
    },
}

/// Users per page while listing them all.
const PAGE: i64 = 200;

pub async fn run(state: &AppState, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::List { query, json } => list(state, query.as_deref().unwrap_or_default(), json).await,
        UsersCommand::Show { user, json } => {
            let user = admin::find_user(state, &user).await.map_err(explain)?;
            let detail = AdminUserDetail::from(admin::detail(state, user.id).await?);
            if json {
                println!("{}", detail.to_json_string());
            } else {
                print_user(&detail.user);
                for identity in &detail.identities {
                    let uid = identity.uid.as_deref().unwrap_or("(waiting for its first sign-in)");
                    let email = identity.email.as_deref().unwrap_or("");
                    println!("identity\t{}\t{}\t{uid}\t{email}", identity.id, identity.provider);
                }
                for past in &detail.email_history {
                    println!("past e-mail\t{}\t{}", past.identity_id, past.email);
                }
                println!("sessions\t{}", detail.sessions.len());
                for app in &detail.apps {
                    println!("app\t{}\t{}", app.client_id, app.scopes.join(" "));
                }
            }
            Ok(())
        }
        UsersCommand::GrantAdmin { user } => act(state, &user, |id| admin::set_admin(state, None, id, true)).await,
        UsersCommand::RevokeAdmin { user } => act(state, &user, |id| admin::set_admin(state, None, id, false)).await,
        UsersCommand::Disable { user, reason } => {
            act(state, &user, |id| admin::disable(state, None, id, reason.as_deref().unwrap_or_default())).await
        }
        UsersCommand::Enable { user } => act(state, &user, |id| admin::enable(state, None, id)).await,
        UsersCommand::Delete { user, yes } => {
            let user = admin::find_user(state, &user).await.map_err(explain)?;
            confirm_delete(&user.username, yes)?;
            let deleted = crate::leaving::delete_account(state, user.id, crate::leaving::Deleter::Cli).await?;
            println!("deleted {} ({}); receipt {}", user.username, user.id, deleted.receipt.id);
            println!("upstream\t{}", deleted.receipt.upstream.0);
            Ok(())
        }
    }
}

/// Find `spec`, do `action` to them, and print them as they are now.
async fn act<F, Fut>(state: &AppState, spec: &str, action: F) -> anyhow::Result<()>
where
    F: FnOnce(uuid::Uuid) -> Fut,
    Fut: Future<Output = Result<crate::store::users::User, AdminError>>,
{
    let user = admin::find_user(state, spec).await.map_err(explain)?;
    action(user.id).await?;
    print_user(&AdminUser::from(admin::listed(state, user.id).await?));
    Ok(())
}

async fn list(state: &AppState, query: &str, json: bool) -> anyhow::Result<()> {
    let mut all: Vec<AdminUser> = Vec::new();
    let mut cursor = None;
    loop {
        let page = admin::search_users(state, query, cursor.as_deref(), PAGE).await?;
        all.extend(page.items.into_iter().map(AdminUser::from));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if json {
        println!("{}", all.to_json_string());
    } else {
        all.iter().for_each(print_user);
    }
    Ok(())
}

fn print_user(user: &AdminUser) {
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        user.id,
        user.username,
        user.email.as_deref().unwrap_or("-"),
        user.created_at.format("%Y-%m-%d %H:%M UTC"),
        if user.is_admin { "admin" } else { "-" },
        if user.disabled { "disabled" } else { "enabled" },
    );
}

/// Say what a deletion does, then go on only with `--yes` or the username typed at a terminal.
fn confirm_delete(username: &str, yes: bool) -> anyhow::Result<()> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    eprintln!(
        "munji: this deletes the account {username:?} and everything of it, signs it out everywhere\n  \
         and revokes its provider grants (docs/leaving.md). It cannot be undone."
    );
    if yes {
        return Ok(());
    }
    anyhow::ensure!(std::io::stdin().is_terminal(), "nothing was deleted: add --yes to delete without being asked");
    eprint!("Type the username to delete it: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    anyhow::ensure!(answer.trim() == username, "nothing was deleted");
    Ok(())
}

fn explain(e: AdminError) -> anyhow::Error {
    match e {
        AdminError::NoSuchUser => anyhow::anyhow!("no user has that username or id"),
        other => other.into(),
    }
}
