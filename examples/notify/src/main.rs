//! # notify — the outage notifier
//!
//! Tells an ISP's customers that their line is down, over WhatsApp, with wagw: customers come
//! from a CSV file or the ISP's SQLite database (name, phone as typed, node such as
//! `ODP-001`, active flag), notices from a CSV file or the same database (title, text with
//! `{nama}`).
//!
//! ```text
//! notify --customers customers.csv --notices notices.csv node ODP-001 --notice 1
//! notify --customers customers.csv all --message "Halo {nama}, layanan pulih pukul 14.00."
//! notify --customers customers.csv ids 3 7 --notice 2
//! notify phone 0812-3456-7890 --name Budi --message "Halo {nama}, teknisi menuju lokasi."
//! ```
//!
//! Numbers are normalised for Indonesia (`0812…` → `62812…`); `0` and empty numbers are
//! skipped with a reason. Messages are recorded in a SQLite file and sent by wagw's
//! dispatcher at the number's rate (80/s by default), then the run waits for Meta's status
//! webhooks and reports total, sent, failed and skipped, and per customer phone, name,
//! success and error: numbers that are not on WhatsApp show as failed with Meta's reason.
//!
//! Without `WHATSAPP_TOKEN` everything runs against the in-process Cloud API emulator (the
//! sandbox). `notify --help` lists the settings and their environment variables.

mod customers;
mod error;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use wagw::campaign::render;
use wagw::content::MessageContent;
use wagw::dispatch::NewMessage;
use wagw::ids::MessageId;
use wagw::model::message::{MessageRecord, MessageStatus};
use wagw::phone::normalize;
use wagw::store::MessageStore;

use customers::{Customer, CustomerDb, Notice};
use error::{NotifyError, Result};
use report::{Report, ReportRow};
use single_number::{Gateway, GatewayArgs};

/// Tell customers on a network node (or all, or some) that their line is down.
#[derive(Parser, Debug)]
#[command(name = "notify", version, about, long_about = None)]
struct Cli {
    /// Where wagw keeps messages and statuses (a SQLite file).
    #[arg(long, env = "NOTIFY_DB", default_value = "sqlite://notify.db")]
    db: String,
    /// Customers CSV: id,name,phone,node,active.
    #[arg(long, env = "NOTIFY_CUSTOMERS", conflicts_with = "customers_db")]
    customers: Option<PathBuf>,
    /// The ISP's SQLite database with tables `customers` and `notices`.
    #[arg(long, env = "NOTIFY_CUSTOMERS_DB")]
    customers_db: Option<String>,
    /// Notices CSV: id,title,text (else the `notices` table of --customers-db).
    #[arg(long, env = "NOTIFY_NOTICES")]
    notices: Option<PathBuf>,
    /// Seconds to wait for the final statuses (delivered, read or failed) before reporting.
    #[arg(long, env = "NOTIFY_WAIT", default_value_t = 60)]
    wait: u64,
    /// Also write the report to this file: CSV for `.csv`, JSON otherwise.
    #[arg(long, env = "NOTIFY_REPORT")]
    report: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Every active customer.
    All {
        #[command(flatten)]
        message: MessageArgs,
    },
    /// The customers with these ids (active or not: they were named).
    Ids {
        /// Customer ids.
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Every active customer on a network node, e.g. ODP-001.
    Node {
        /// The node.
        node: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// One phone number, as typed.
    Phone {
        /// The number, e.g. 0812-3456-7890.
        phone: String,
        /// The name for {nama}.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        message: MessageArgs,
    },
}

/// What to send: a prepared notice or a custom text; both may use {nama}, {node} and {id}.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct MessageArgs {
    /// The id of a prepared notice.
    #[arg(long)]
    notice: Option<String>,
    /// A custom message, e.g. "Halo {nama}, gangguan di {node} sedang ditangani."
    #[arg(long)]
    message: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notify: error [{}]: {e}", e.code());
            std::process::ExitCode::FAILURE
        }
    }
}

/// A customer picked for this run and what to tell them.
struct Target {
    customer: Customer,
    body: String,
}

async fn run(cli: Cli) -> Result<()> {
    let targets = select(&cli).await?;
    if targets.is_empty() {
        return Err(NotifyError::Input("no customer matches".into()));
    }
    let gateway = Gateway::open(&cli.db, &cli.gateway, "notify").await?;
    let dispatcher = gateway.dispatcher();
    let running = dispatcher.start();
    eprintln!(
        "notify: {} customer(s), sending from {} ({}) at {}/s",
        targets.len(),
        gateway.channel.display_number.e164(),
        match gateway.mode {
            single_number::Mode::Sandbox => "sandbox",
            single_number::Mode::CloudApi => "Cloud API",
        },
        gateway.channel.throughput.get(),
    );

    // Refuse what cannot be sent before anything is stored; submit the rest in one batch.
    let run_id = uuid::Uuid::now_v7();
    let mut rows: Vec<ReportRow> = Vec::with_capacity(targets.len());
    let mut outgoing = Vec::new();
    for (i, target) in targets.into_iter().enumerate() {
        let c = &target.customer;
        let mut row = ReportRow {
            customer_id: c.id.clone(),
            phone: c.phone.trim().to_owned(),
            name: c.name.clone(),
            success: false,
            status: "skipped".into(),
            error: None,
        };
        if c.phone.trim().trim_matches('0').is_empty() {
            row.error = Some("no phone number".into());
            rows.push(row);
            continue;
        }
        match normalize(&c.phone, gateway.tenant.default_region) {
            Ok(phone) => {
                row.phone = phone.e164();
                let message = NewMessage::new(
                    gateway.tenant.id,
                    gateway.channel.id,
                    phone,
                    MessageContent::text(target.body),
                )
                .idempotency_key(format!("notify:{run_id}:{i}"));
                outgoing.push((rows.len(), message));
            }
            Err(e) => row.error = Some(reason(&e)),
        }
        rows.push(row);
    }
    let (positions, messages): (Vec<usize>, Vec<NewMessage>) = outgoing.into_iter().unzip();
    let accepted = dispatcher.submit_each(messages).await?;
    let mut waiting: BTreeMap<MessageId, usize> = BTreeMap::new();
    for (position, result) in positions.into_iter().zip(accepted) {
        match result {
            Ok(inserted) => {
                rows[position].status = MessageStatus::Queued.as_str().to_owned();
                waiting.insert(inserted.id, position);
            }
            Err(e) => {
                rows[position].status = "failed".into();
                rows[position].error = Some(reason(&e));
            }
        }
    }
    // Final statuses come from Meta's webhooks, not from the send call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cli.wait);
    let mut last: BTreeMap<MessageId, MessageRecord> = BTreeMap::new();
    loop {
        for id in waiting.keys() {
            let record = gateway.store.get_message(gateway.tenant.id, *id).await?;
            last.insert(*id, record);
        }
        let open = last
            .values()
            .filter(|m| {
                !matches!(
                    m.status,
                    MessageStatus::Delivered | MessageStatus::Read | MessageStatus::Failed
                )
            })
            .count();
        if open == 0 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Reads that follow deliveries, when they come quickly (the sandbox's do).
    gateway.settle(Duration::from_secs(2)).await;
    for (id, position) in &waiting {
        let record = gateway.store.get_message(gateway.tenant.id, *id).await?;
        let row = &mut rows[*position];
        row.status = record.status.as_str().to_owned();
        row.success = matches!(
            record.status,
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read
        );
        row.error = match (&record.status, &record.error) {
            (MessageStatus::Failed, Some(e)) => Some(match e.code {
                Some(code) => format!("{code}: {}", e.reason),
                None => e.reason.clone(),
            }),
            (MessageStatus::Failed, None) => Some("failed".into()),
            (MessageStatus::Queued | MessageStatus::Sending, _) => Some(format!(
                "no answer from WhatsApp within {}s; the message stays queued in {} and the next run sends it",
                cli.wait, cli.db
            )),
            _ => None,
        };
    }
    running.shutdown().await;
    gateway.close().await;

    let report = Report::new(rows);
    let stdout = std::io::stdout();
    if cli.json {
        serde_json::to_writer_pretty(stdout.lock(), &report)
            .map_err(|e| NotifyError::io("writing the report", e.into()))?;
        println!();
    } else {
        report
            .print(stdout.lock())
            .map_err(|e| NotifyError::io("writing the report", e))?;
    }
    if let Some(path) = &cli.report {
        report.write(path)?;
        eprintln!("notify: report written to {}", path.display());
    }
    Ok(())
}

/// The customers this command picks, each with the message rendered for them.
async fn select(cli: &Cli) -> Result<Vec<Target>> {
    let message_args = match &cli.command {
        Command::All { message }
        | Command::Ids { message, .. }
        | Command::Node { message, .. }
        | Command::Phone { message, .. } => message,
    };
    let db = match &cli.customers_db {
        Some(url) => Some(CustomerDb::open(url).await?),
        None => None,
    };
    let template = match (&message_args.notice, &message_args.message) {
        (_, Some(text)) => text.clone(),
        (Some(id), None) => {
            let notices = match (&cli.notices, &db) {
                (Some(path), _) => customers::notices_from_csv(path)?,
                (None, Some(db)) => db.notices().await?,
                (None, None) => {
                    return Err(NotifyError::Input(
                        "--notice needs --notices FILE.csv or --customers-db".into(),
                    ));
                }
            };
            notices
                .into_iter()
                .find(|n| &n.id == id)
                .map(|n: Notice| n.body())
                .ok_or_else(|| NotifyError::Input(format!("no notice with id {id}")))?
        }
        (None, None) => return Err(NotifyError::Input("give --notice or --message".into())),
    };

    let customers = if let Command::Phone { phone, name, .. } = &cli.command {
        vec![Customer {
            id: String::new(),
            name: name.clone(),
            phone: phone.clone(),
            node: String::new(),
            active: true,
        }]
    } else {
        let all = match (&cli.customers, &db) {
            (Some(path), _) => customers::customers_from_csv(path)?,
            (None, Some(db)) => db.customers().await?,
            (None, None) => {
                return Err(NotifyError::Input(
                    "give --customers FILE.csv or --customers-db sqlite://FILE".into(),
                ));
            }
        };
        match &cli.command {
            Command::All { .. } => all.into_iter().filter(|c| c.active).collect(),
            Command::Node { node, .. } => all
                .into_iter()
                .filter(|c| c.active && c.node.eq_ignore_ascii_case(node.trim()))
                .collect(),
            Command::Ids { ids, .. } => {
                let mut picked = Vec::with_capacity(ids.len());
                for id in ids {
                    let customer = all
                        .iter()
                        .find(|c| &c.id == id)
                        .ok_or_else(|| NotifyError::Input(format!("no customer with id {id}")))?;
                    picked.push(customer.clone());
                }
                picked
            }
            Command::Phone { .. } => Vec::new(),
        }
    };
    let targets = customers
        .into_iter()
        .map(|customer| {
            let vars = BTreeMap::from([
                ("nama".to_owned(), customer.name.clone()),
                ("name".to_owned(), customer.name.clone()),
                ("node".to_owned(), customer.node.clone()),
                ("id".to_owned(), customer.id.clone()),
            ]);
            Target {
                body: render(&template, &vars),
                customer,
            }
        })
        .collect();
    Ok(targets)
}

/// What a person reads for a refused input: the reason, without the error's wrapping.
fn reason(error: &wagw::Error) -> String {
    match error {
        wagw::Error::InvalidNumber { reason, .. } => format!("invalid number: {reason}"),
        other => other.to_string(),
    }
}
