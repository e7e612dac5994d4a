//! Runs the shop of [`embed`] with WhatsApp order confirmations.
//!
//! ```text
//! cargo run -p embed                      # sandbox: the in-process Cloud API emulator
//! curl -s localhost:3000/orders -H 'content-type: application/json' \
//!      -d '{"customer":"Budi","phone":"0812-3456-7890","total":"Rp 150.000"}'
//! curl -s -X POST localhost:3000/orders/1001/confirm
//! curl -s localhost:3000/orders/1001     # "whatsapp": "read" (or delivered) moments later
//! ```

use std::net::SocketAddr;

use clap::Parser;
use embed::{Settings, WhatsApp, app};

/// A shop service that confirms orders over WhatsApp.
#[derive(Parser, Debug)]
#[command(name = "embed", version, about)]
struct Cli {
    /// Where the shop listens.
    #[arg(long, env = "SHOP_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// wagw's database.
    #[arg(long, env = "SHOP_WAGW_DB", default_value = "sqlite://shop-wagw.db")]
    db: String,
    /// Cloud API access token; without it the shop runs against the in-process emulator.
    #[arg(long, env = "WHATSAPP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Meta's phone-number id of the sending number (Cloud API).
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID", requires = "token")]
    phone_number_id: Option<String>,
    /// Its WhatsApp Business Account id (Cloud API).
    #[arg(long, env = "WHATSAPP_WABA_ID", requires = "token")]
    waba_id: Option<String>,
    /// The number as people write it (Cloud API).
    #[arg(long, env = "WHATSAPP_NUMBER", requires = "token")]
    number: Option<String>,
    /// The app secret that signs Meta's webhooks (Cloud API).
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    app_secret: Option<String>,
    /// The verify token of Meta's webhook handshake (Cloud API).
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    verify_token: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match serve(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let number = match (cli.phone_number_id, cli.waba_id, cli.number) {
        (Some(pnid), Some(waba), Some(number)) => Some((pnid, waba, number)),
        (None, None, None) => None,
        _ => {
            return Err(
                "give WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_WABA_ID and WHATSAPP_NUMBER together"
                    .into(),
            );
        }
    };
    let settings = Settings {
        db: cli.db,
        token: cli.token,
        number,
        app_secret: cli.app_secret,
        verify_token: cli.verify_token,
        sandbox_unreachable: Vec::new(),
    };
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let (whatsapp, running) = WhatsApp::open(&settings, listener.local_addr()?).await?;
    println!("shop listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(whatsapp))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    running.shutdown().await;
    Ok(())
}
