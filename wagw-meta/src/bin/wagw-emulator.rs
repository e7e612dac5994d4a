//! Runs the Cloud API emulator by hand.
//!
//! ```text
//! wagw-emulator [--port 8090] [--seed 1] [--token test-token]
//!               [--webhook-url http://127.0.0.1:8080/webhook --app-secret secret]
//!               [--number PNID:DISPLAY:WABA]... [--throughput 80|off] [--no-pair-limit]
//!               [--no-window] [--auto-numbers]
//! ```
//!
//! Logs go to stderr (`RUST_LOG` filters them); Ctrl-C stops it.

use std::net::SocketAddr;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use wagw_meta::emulator::{Emulator, EmulatorBuilder, PairLimit, PhoneNumberSpec, Throughput};

const USAGE: &str = "usage: wagw-emulator [--port N] [--seed N] [--token T] \
[--webhook-url URL --app-secret S] [--number PNID:DISPLAY:WABA]... [--throughput N|off] \
[--no-pair-limit] [--no-window] [--auto-numbers]";

fn parse(args: &[String]) -> Result<EmulatorBuilder, String> {
    let mut builder = Emulator::builder();
    let (mut url, mut secret) = (None, None);
    let mut numbers = 0;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        builder = match arg.as_str() {
            "--port" => {
                let port: u16 = value()?.parse().map_err(|e| format!("--port: {e}"))?;
                builder.bind(SocketAddr::from(([127, 0, 0, 1], port)))
            }
            "--seed" => builder.seed(value()?.parse().map_err(|e| format!("--seed: {e}"))?),
            "--token" => builder.access_token(value()?),
            "--webhook-url" => {
                url = Some(value()?);
                builder
            }
            "--app-secret" => {
                secret = Some(value()?);
                builder
            }
            "--number" => {
                let spec = value()?;
                let parts: Vec<&str> = spec.split(':').collect();
                let [id, display, waba] = parts[..] else {
                    return Err(format!("--number {spec}: expected PNID:DISPLAY:WABA"));
                };
                numbers += 1;
                builder.number(PhoneNumberSpec::new(id, display, waba))
            }
            "--throughput" => match value()?.as_str() {
                "off" => builder.throughput(Throughput::Off),
                n => builder.throughput(Throughput::per_second(
                    n.parse().map_err(|e| format!("--throughput: {e}"))?,
                )),
            },
            "--no-pair-limit" => builder.pair_limit(PairLimit::Off),
            "--no-window" => builder.customer_window(None),
            "--auto-numbers" => builder.auto_numbers(true),
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        };
    }
    if let (Some(url), Some(secret)) = (&url, &secret) {
        builder = builder.webhook(url.clone(), secret.clone());
    } else if url.is_some() || secret.is_some() {
        return Err("--webhook-url and --app-secret go together".to_owned());
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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let builder = match parse(&args) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("{message}");
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
        token = %emulator.access_token(),
        "emulator ready; Graph API at {}/v23.0",
        emulator.base_url()
    );
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!(%error, "cannot wait for Ctrl-C");
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
