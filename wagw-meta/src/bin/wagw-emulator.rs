//! Runs the Cloud API emulator by hand: `wagw-emulator --help` lists every option and the
//! environment variable that sets it.
//!
//! ```text
//! wagw-emulator --port 8090 --config scenario.yaml
//! WAGW_EMULATOR_WEBHOOK_URL=http://127.0.0.1:8080/webhook WAGW_EMULATOR_APP_SECRET=s wagw-emulator
//! ```
//!
//! Logs go to stderr (`RUST_LOG` filters them); Ctrl-C stops it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wagw_meta::emulator::{
    Emulator, EmulatorBuilder, PairLimit, PhoneNumberSpec, ScenarioFile, Throughput,
};

/// A local WhatsApp Cloud API (Graph API) for tests, benchmarks and sandboxes.
///
/// Without --number or a --config file holding numbers, it serves one number
/// (106540352242922, WABA 419561257915477) and creates any other number on first use.
#[derive(Debug, Parser)]
#[command(name = "wagw-emulator", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "WAGW_EMULATOR_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "WAGW_EMULATOR_PORT", default_value_t = 8090)]
    port: u16,
    /// Seed of every id and random outcome.
    #[arg(long, env = "WAGW_EMULATOR_SEED", default_value_t = 1)]
    seed: u64,
    /// Access token accepted as `Authorization: Bearer`.
    #[arg(long, env = "WAGW_EMULATOR_TOKEN", default_value = "test-token")]
    token: String,
    /// Scenario file (YAML or JSON) with numbers, templates and webhook settings.
    #[arg(long, env = "WAGW_EMULATOR_CONFIG")]
    config: Option<PathBuf>,
    /// Webhook callback URL (overrides the file's); needs --app-secret.
    #[arg(long, env = "WAGW_EMULATOR_WEBHOOK_URL", requires = "app_secret")]
    webhook_url: Option<String>,
    /// App secret the webhook bodies are signed with.
    #[arg(
        long,
        env = "WAGW_EMULATOR_APP_SECRET",
        requires = "webhook_url",
        hide_env_values = true
    )]
    app_secret: Option<String>,
    /// A business number, `PNID:DISPLAY:WABA`; repeat for more.
    #[arg(long = "number", value_name = "PNID:DISPLAY:WABA", value_parser = parse_number)]
    numbers: Vec<PhoneNumberSpec>,
    /// Default throughput per number: messages per second, or `off`.
    #[arg(long, env = "WAGW_EMULATOR_THROUGHPUT", value_parser = parse_throughput)]
    throughput: Option<Throughput>,
    /// Turns the per-recipient pair limit (131056) off.
    #[arg(long, env = "WAGW_EMULATOR_NO_PAIR_LIMIT")]
    no_pair_limit: bool,
    /// Lets free-form messages through outside the 24-hour window (no 131047).
    #[arg(long, env = "WAGW_EMULATOR_NO_WINDOW")]
    no_window: bool,
    /// Creates numbers not configured on first use.
    #[arg(long, env = "WAGW_EMULATOR_AUTO_NUMBERS")]
    auto_numbers: bool,
}

fn parse_number(spec: &str) -> Result<PhoneNumberSpec, String> {
    match spec.split(':').collect::<Vec<_>>()[..] {
        [id, display, waba] if !id.is_empty() && !display.is_empty() && !waba.is_empty() => {
            Ok(PhoneNumberSpec::new(id, display, waba))
        }
        _ => Err(format!("{spec:?}: expected PNID:DISPLAY:WABA")),
    }
}

fn parse_throughput(value: &str) -> Result<Throughput, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(Throughput::Off);
    }
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Throughput::per_second(n)),
        _ => Err(format!(
            "{value:?}: a positive number of messages/s, or off"
        )),
    }
}

fn builder(args: Args) -> Result<EmulatorBuilder, String> {
    let mut builder = Emulator::builder()
        .bind(SocketAddr::new(args.host, args.port))
        .seed(args.seed)
        .access_token(args.token);
    let mut numbers = args.numbers.len();
    if let Some(path) = &args.config {
        let file = ScenarioFile::load(path).map_err(|e| e.to_string())?;
        numbers += file.numbers.len();
        builder = file.apply(builder).map_err(|e| e.to_string())?;
    }
    for number in args.numbers {
        builder = builder.number(number);
    }
    if let (Some(url), Some(secret)) = (args.webhook_url, args.app_secret) {
        if secret.trim().is_empty() {
            return Err("--app-secret must not be empty".to_owned());
        }
        builder = builder.webhook(url, secret);
    }
    if let Some(throughput) = args.throughput {
        builder = builder.throughput(throughput);
    }
    if args.no_pair_limit {
        builder = builder.pair_limit(PairLimit::Off);
    }
    if args.no_window {
        builder = builder.customer_window(None);
    }
    if args.auto_numbers {
        builder = builder.auto_numbers(true);
    }
    if numbers == 0 {
        builder = builder
            .number(PhoneNumberSpec::new(
                "106540352242922",
                "15550783881",
                "419561257915477",
            ))
            .auto_numbers(true);
    }
    Ok(builder)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let builder = match builder(args) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("wagw-emulator: {message}");
            return ExitCode::from(2);
        }
    };
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(error) => {
            tracing::error!(%error, "cannot start the emulator");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        base_url = %emulator.base_url(),
        "emulator ready; Graph API at {}/v23.0",
        emulator.base_url()
    );
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!(%error, "cannot wait for Ctrl-C");
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
