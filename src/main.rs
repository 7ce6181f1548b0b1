//! The `munji` binary: parse the command line and hand over to [`munji::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = munji::cli::Cli::parse();
    match munji::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "config key `bind`: …".
            eprintln!("munji: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
