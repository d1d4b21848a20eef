//! `uic reload`: asks the `uic serve` running on this machine to load its
//! flows and texts again (`POST /admin/reload`, signed with ADMIN_TOKEN), as
//! `SIGHUP` and the console's button do, and prints what it answered.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Secret;
use crate::core::diagnostic::Language;

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The token `uic serve` was started with: the request is refused without it.
    #[arg(long, value_name = "TOKEN", env = "ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<Secret>,
    /// The address `uic serve` listens on (0.0.0.0 or :: is reached on this machine).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// The port `uic serve` listens on.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
    /// The server's address instead of HOST and PORT, e.g. http://127.0.0.1:8000.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The language of the lint lines of a refused reload: fr or en (default: the locale's).
    #[arg(long, value_name = "fr|en", value_parser = super::lint::parse_language)]
    lang: Option<Language>,
}

pub fn run(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let Some(token) = args.admin_token else {
        anyhow::bail!(
            "ADMIN_TOKEN is not set: `uic reload` signs its request with the token `uic serve` was started with \
             (or send the server SIGHUP: `systemctl reload whatsapp-uic`, `kill -HUP <pid>`)"
        );
    };
    let base = match args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if args.port == 0 => anyhow::bail!("PORT=0 lets the server pick its port: give --url"),
        None => {
            let host = match args.host.as_str() {
                "0.0.0.0" => "127.0.0.1".to_string(),
                "::" | "[::]" => "[::1]".to_string(),
                host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
                host => host.to_string(),
            };
            format!("http://{host}:{}", args.port)
        }
    };
    let language = args.lang.unwrap_or_else(|| Language::from_locale(|name| std::env::var(name).ok()));
    crate::support::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (status, body) = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(90)).build()?;
        let response = client
            .post(format!("{base}/admin/reload?lang={}", language.code()))
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|error| anyhow::anyhow!("{base}: no answer from uic serve ({error})"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        anyhow::Ok((status, body))
    })?;
    let lines = |key: &str| -> Vec<String> {
        body[key].as_array().into_iter().flatten().filter_map(|line| line.as_str().map(str::to_string)).collect()
    };
    match status.as_u16() {
        200 => {
            println!("flows and texts reloaded");
            for file in lines("left_out") {
                println!("left out (fails `uic lint`): {file}");
            }
            Ok(ExitCode::SUCCESS)
        }
        409 => {
            eprintln!("reload refused: the flows loaded before keep serving");
            if let Some(reason) = body["reason"].as_str() {
                eprintln!("{reason}");
            }
            for line in lines("errors") {
                println!("{line}");
            }
            Ok(ExitCode::FAILURE)
        }
        401 => anyhow::bail!("{base}: ADMIN_TOKEN is not the one `uic serve` was started with"),
        other => anyhow::bail!("{base}: uic serve answered {other}"),
    }
}
