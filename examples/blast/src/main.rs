//! # blast — a broadcast from the terminal
//!
//! Sends one text or template to every row of a CSV with wagw's campaign engine, at the
//! number's rate, with a progress bar (sent, delivered, read, failed, rate). Ctrl-C pauses
//! the campaign cleanly; `blast resume` goes on where it stopped and sends nothing twice;
//! `blast report` writes every row's outcome as CSV.
//!
//! ```text
//! blast send --csv contacts.csv --text "Halo {nama}, promo minggu ini ..."
//! blast send --csv contacts.csv --template tagihan --lang id --param "{nama}" --param "{tagihan}"
//! blast resume
//! blast report --out report.csv
//! ```
//!
//! The CSV needs a header with a phone column (`phone`, `nomor`, `no_hp`, `hp`, `whatsapp`,
//! `wa` ...); every other column is a placeholder (`{nama}`). Numbers are normalised for
//! Indonesia (`0812…` → `62812…`), invalid ones and duplicates are refused with their line.
//!
//! State lives in a SQLite file (`blast.db`), so a paused or interrupted blast survives the
//! process. Without `WHATSAPP_TOKEN` everything runs against the in-process Cloud API
//! emulator (the sandbox). `blast --help` lists the settings and their environment variables.

mod error;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use wagw::campaign::CampaignEngine;
use wagw::ids::CampaignId;
use wagw::meta::MetaTransport;
use wagw::meta::emulator::TemplateSpec;
use wagw::model::campaign::{Audience, Campaign, CampaignContent, CampaignCounters, CampaignState};
use wagw::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
use wagw::phone::PhoneNumber;
use wagw::sql::{SqlQueue, SqlStore};
use wagw::store::{CampaignStore, Page, TemplateStore};
use wagw::{ErrorCode, Transport};

use error::{BlastError, Result};
use single_number::{Gateway, GatewayArgs, Mode, SqlDispatcher};

type Engine = CampaignEngine<SqlStore, SqlQueue, MetaTransport>;

/// Send a blast from a CSV, pause it with Ctrl-C, resume it, report it.
#[derive(Parser, Debug)]
#[command(name = "blast", version, about, long_about = None)]
struct Cli {
    /// Where campaigns, recipients, messages and jobs are kept (a SQLite file).
    #[arg(long, env = "BLAST_DB", default_value = "sqlite://blast.db")]
    db: String,
    /// Seconds to wait, once everything is sent, for the last delivery and read statuses.
    #[arg(long, env = "BLAST_WAIT", default_value_t = 30)]
    wait: u64,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a campaign from a CSV and send it.
    Send {
        /// Contacts: a header with a phone column; other columns are placeholders.
        #[arg(long)]
        csv: PathBuf,
        /// Free text with placeholders, e.g. "Halo {nama}". (The Cloud API delivers free
        /// text only to people who wrote to the number in the last 24 hours.)
        #[arg(
            long,
            conflicts_with = "template",
            required_unless_present = "template"
        )]
        text: Option<String>,
        /// An approved template's name.
        #[arg(long)]
        template: Option<String>,
        /// The template's language.
        #[arg(long, default_value = "id", requires = "template")]
        lang: String,
        /// A body parameter of the template, in order; placeholders are filled per row,
        /// e.g. --param "{nama}" --param "{tagihan}".
        #[arg(long = "param", requires = "template")]
        params: Vec<String>,
        /// The campaign's name (default: the CSV file's name and the time).
        #[arg(long)]
        name: Option<String>,
    },
    /// Resume the last paused (or interrupted) campaign; nothing sent is sent again.
    Resume {
        /// The campaign; default: the most recent paused or running one.
        #[arg(long)]
        campaign: Option<String>,
    },
    /// Write a campaign's report: one CSV row per input row.
    Report {
        /// The campaign; default: the most recent one.
        #[arg(long)]
        campaign: Option<String>,
        /// The CSV file to write.
        #[arg(long, default_value = "report.csv")]
        out: PathBuf,
    },
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
            eprintln!("blast: error [{}]: {e}", e.code());
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let gateway = Gateway::open(&cli.db, &cli.gateway, "blast").await?;
    let outcome = match &cli.command {
        Command::Send {
            csv,
            text,
            template,
            lang,
            params,
            name,
        } => {
            let content = match (text, template) {
                (Some(text), _) => CampaignContent::Text { body: text.clone() },
                (None, Some(template)) => {
                    let template = find_template(&gateway, template, lang, params.len()).await?;
                    CampaignContent::Template {
                        template_id: template.id,
                        body_params: params.clone(),
                        header_params: Vec::new(),
                    }
                }
                (None, None) => return Err(BlastError::Input("give --text or --template".into())),
            };
            send(&cli, &gateway, csv, content, name.clone()).await
        }
        Command::Resume { campaign } => resume(&cli, &gateway, campaign.as_deref()).await,
        Command::Report { campaign, out } => report(&gateway, campaign.as_deref(), out).await,
    };
    gateway.close().await;
    outcome
}

async fn send(
    cli: &Cli,
    gateway: &Gateway,
    csv: &PathBuf,
    content: CampaignContent,
    name: Option<String>,
) -> Result<()> {
    let file = std::fs::File::open(csv)
        .map_err(|e| BlastError::io(format!("reading {}", csv.display()), e))?;
    let name = name.unwrap_or_else(|| {
        format!(
            "{} {}",
            csv.file_name()
                .map_or_else(|| "blast".into(), |f| f.to_string_lossy()),
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        )
    });
    let dispatcher = gateway.dispatcher();
    let engine = Engine::new(dispatcher.clone());
    let campaign = Campaign::new(
        gateway.tenant.id,
        gateway.channel.id,
        name,
        content,
        Audience {
            csv: true,
            ..Audience::default()
        },
    );
    engine.create(&campaign).await?;
    // Bad input changes nothing: a CSV that cannot be read, or holds no valid recipient,
    // leaves no draft campaign behind.
    let discard = async |error: BlastError| -> Result<()> {
        gateway
            .store
            .delete_campaign(gateway.tenant.id, campaign.id)
            .await?;
        Err(error)
    };
    let imported = match engine
        .import_csv(
            gateway.tenant.id,
            campaign.id,
            std::io::BufReader::new(file),
        )
        .await
    {
        Ok(imported) => imported,
        Err(e) => return discard(e.into()).await,
    };
    eprintln!(
        "blast: campaign {} \"{}\": {} recipient(s), {} duplicate(s), {} refused",
        campaign.id, campaign.name, imported.added, imported.duplicates, imported.rejected
    );
    for r in &imported.rejections {
        match r.line {
            Some(line) => eprintln!("  line {line}: {:?}: {}", r.input, r.reason),
            None => eprintln!("  {:?}: {}", r.input, r.reason),
        }
    }
    if imported.added == 0 {
        let error = format!("{} has no valid recipient; nothing to send", csv.display());
        return discard(BlastError::Input(error)).await;
    }
    engine.start(gateway.tenant.id, campaign.id, None).await?;
    drive(cli, gateway, &dispatcher, &engine, campaign.id).await
}

async fn resume(cli: &Cli, gateway: &Gateway, id: Option<&str>) -> Result<()> {
    let campaign = match id {
        Some(id) => get_campaign(gateway, id).await?,
        None => latest(gateway, |c| {
            matches!(c.state, CampaignState::Paused | CampaignState::Running)
        })
        .await?
        .ok_or_else(|| BlastError::Input("no paused or interrupted campaign to resume".into()))?,
    };
    if let CampaignContent::Template { template_id, .. } = &campaign.content {
        // A new sandbox knows no template until it is told again.
        let template = gateway
            .store
            .get_template(gateway.tenant.id, *template_id)
            .await?;
        register_in_sandbox(gateway, &template);
    }
    let dispatcher = gateway.dispatcher();
    let engine = Engine::new(dispatcher.clone());
    match campaign.state {
        CampaignState::Paused => {
            engine.resume(gateway.tenant.id, campaign.id).await?;
        }
        // Interrupted without a pause (killed): the campaign still runs; its jobs come back
        // when their reservations expire.
        CampaignState::Running => {}
        other => {
            return Err(BlastError::Input(format!(
                "campaign {} is {}; only a paused or interrupted campaign resumes",
                campaign.id,
                other.as_str()
            )));
        }
    }
    eprintln!(
        "blast: resuming campaign {} \"{}\"",
        campaign.id, campaign.name
    );
    drive(cli, gateway, &dispatcher, &engine, campaign.id).await
}

/// Runs the dispatcher and the campaign engine until the campaign finishes or Ctrl-C pauses
/// it, showing progress; then waits for the last statuses and prints a summary.
async fn drive(
    cli: &Cli,
    gateway: &Gateway,
    dispatcher: &SqlDispatcher,
    engine: &Engine,
    id: CampaignId,
) -> Result<()> {
    let tenant = gateway.tenant.id;
    let running = dispatcher.start();
    let counters = engine.counters(tenant, id).await?;
    let bar = ProgressBar::new(counters.total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
            .map_err(|e| BlastError::Input(format!("progress bar template: {e}")))?,
    );
    eprintln!(
        "blast: sending from {} ({}) at up to {}/s; Ctrl-C pauses",
        gateway.channel.display_number.e164(),
        match gateway.mode {
            Mode::Sandbox => "sandbox",
            Mode::CloudApi => "Cloud API",
        },
        gateway.channel.throughput.get()
    );
    let started = Instant::now();
    let mut rate = RateMeter::new(dispatcher.stats().sent);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut paused = false;
    let mut state = CampaignState::Running;
    let mut counters = counters;
    while !state.is_final() {
        tokio::select! {
            signal = &mut interrupt => {
                if let Err(e) = signal {
                    tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                }
                engine.pause(tenant, id).await?;
                paused = true;
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if let Err(e) = engine.tick().await {
            // A busy database or a lost connection: the next tick tries again.
            tracing::warn!(error = %e, "campaign tick failed");
        }
        counters = engine.counters(tenant, id).await?;
        state = gateway.store.get_campaign(tenant, id).await?.state;
        show(&bar, &counters, rate.update(dispatcher.stats().sent));
    }
    // Sends in flight are recorded; jobs waiting for a slot go back to the queue.
    running.shutdown().await;
    let sent_now = dispatcher.stats().sent;
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    if !paused {
        // Everything is sent: wait for the deliveries and reads still on their way.
        let deadline = Instant::now() + Duration::from_secs(cli.wait);
        while counters.sent > 0 && Instant::now() < deadline {
            tokio::select! {
                // Ctrl-C now only stops waiting: everything is sent already.
                _ = &mut interrupt => break,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            counters = engine.counters(tenant, id).await?;
            show(&bar, &counters, 0.0);
        }
    }
    gateway.settle(Duration::from_secs(5)).await;
    let counters = engine.counters(tenant, id).await?;
    show(&bar, &counters, 0.0);
    bar.finish_and_clear();
    let state = gateway.store.get_campaign(tenant, id).await?.state;
    println!(
        "campaign {id} {}: total {}  pending {}  sent {}  delivered {}  read {}  failed {}  skipped {}",
        state.as_str(),
        counters.total,
        counters.pending,
        counters.sent,
        counters.delivered,
        counters.read,
        counters.failed,
        counters.skipped
    );
    println!(
        "this run sent {sent_now} message(s) in {elapsed:.1}s ({:.1}/s)",
        sent_now as f64 / elapsed
    );
    if paused {
        println!(
            "paused: run `blast resume` to send the {} pending",
            counters.pending
        );
    }
    Ok(())
}

fn show(bar: &ProgressBar, c: &CampaignCounters, rate: f64) {
    bar.set_position(c.total - c.pending);
    bar.set_message(format!(
        "sent {}  delivered {}  read {}  failed {}  skipped {}  {rate:.0}/s",
        c.reached_sent(),
        c.delivered + c.read,
        c.read,
        c.failed,
        c.skipped
    ));
}

/// Messages per second over the last second or so.
struct RateMeter {
    at: Instant,
    count: u64,
    rate: f64,
}

impl RateMeter {
    fn new(count: u64) -> Self {
        Self {
            at: Instant::now(),
            count,
            rate: 0.0,
        }
    }

    fn update(&mut self, count: u64) -> f64 {
        let elapsed = self.at.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            self.rate = (count - self.count) as f64 / elapsed;
            self.at = Instant::now();
            self.count = count;
        }
        self.rate
    }
}

async fn report(gateway: &Gateway, id: Option<&str>, out: &PathBuf) -> Result<()> {
    let campaign = match id {
        Some(id) => get_campaign(gateway, id).await?,
        None => latest(gateway, |_| true)
            .await?
            .ok_or_else(|| BlastError::Input("no campaign in this database yet".into()))?,
    };
    let engine = Engine::new(gateway.dispatcher());
    let report = engine.report(gateway.tenant.id, campaign.id).await?;
    let file = std::fs::File::create(out)
        .map_err(|e| BlastError::io(format!("writing {}", out.display()), e))?;
    let mut csv = csv::Writer::from_writer(file);
    csv.write_record([
        "phone",
        "status",
        "reason",
        "message_id",
        "updated_at",
        "line",
        "input",
    ])?;
    for r in &report.recipients {
        csv.write_record([
            e164(&r.phone).as_str(),
            r.status.as_str(),
            r.reason.as_deref().unwrap_or(""),
            &r.message_id.map(|m| m.to_string()).unwrap_or_default(),
            &r.updated_at.to_rfc3339(),
            &r.line.map(|l| l.to_string()).unwrap_or_default(),
            r.input.as_deref().unwrap_or(""),
        ])?;
    }
    csv.flush()
        .map_err(|e| BlastError::io(format!("writing {}", out.display()), e))?;
    let c = report.counters;
    println!(
        "campaign {} {}: total {}  pending {}  sent {}  delivered {}  read {}  failed {}  skipped {}",
        campaign.id,
        report.campaign.state.as_str(),
        c.total,
        c.pending,
        c.sent,
        c.delivered,
        c.read,
        c.failed,
        c.skipped
    );
    println!("report written to {}", out.display());
    Ok(())
}

/// A report's phone in the `+` E.164 form people read, whichever form the report holds;
/// empty (a refused input) stays empty.
fn e164(phone: &str) -> String {
    match PhoneNumber::from_wa_id(phone.trim_start_matches('+')) {
        Ok(p) => p.e164(),
        Err(_) => phone.to_owned(),
    }
}

async fn get_campaign(gateway: &Gateway, id: &str) -> Result<Campaign> {
    let id: CampaignId = id.parse()?;
    Ok(gateway.store.get_campaign(gateway.tenant.id, id).await?)
}

/// The most recently created campaign of this tenant passing `keep`.
async fn latest(gateway: &Gateway, keep: impl Fn(&Campaign) -> bool) -> Result<Option<Campaign>> {
    let mut best: Option<Campaign> = None;
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let campaigns = gateway
            .store
            .list_campaigns(gateway.tenant.id, page)
            .await?;
        for c in campaigns.items.into_iter().filter(|c| keep(c)) {
            if best.as_ref().is_none_or(|b| c.created_at > b.created_at) {
                best = Some(c);
            }
        }
        match campaigns.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => return Ok(best),
        }
    }
}

/// The stored template `name` in `language`. The first use fetches it from the business
/// account (Cloud API); the sandbox approves one with `params` body parameters.
async fn find_template(
    gateway: &Gateway,
    name: &str,
    language: &str,
    params: usize,
) -> Result<Template> {
    let (tenant, channel) = (gateway.tenant.id, gateway.channel.id);
    let template = match gateway
        .store
        .find_template(tenant, channel, name, language)
        .await
    {
        Ok(template) => template,
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::TemplateNotFound) => {
            let template = match gateway.mode {
                Mode::Sandbox => sandbox_template(gateway, name, language, params),
                Mode::CloudApi => remote_template(gateway, name, language).await?,
            };
            gateway.store.create_template(&template).await?;
            template
        }
        Err(e) => return Err(e.into()),
    };
    register_in_sandbox(gateway, &template);
    Ok(template)
}

/// A sandbox template: approved, a body with one placeholder per parameter.
fn sandbox_template(gateway: &Gateway, name: &str, language: &str, params: usize) -> Template {
    let body: Vec<String> = (1..=params).map(|i| format!("{{{{{i}}}}}")).collect();
    let text = if body.is_empty() {
        format!("{name} (sandbox template)")
    } else {
        body.join(" ")
    };
    let draft = TemplateDraft {
        name: name.to_owned(),
        language: language.to_owned(),
        category: TemplateCategory::Utility,
        components: vec![serde_json::json!({"type": "BODY", "text": text})],
    };
    let mut template = Template::new(gateway.tenant.id, gateway.channel.id, draft);
    template.status = TemplateStatus::Approved;
    template
}

/// Tells the sandbox's emulator (new every run) about a stored template.
fn register_in_sandbox(gateway: &Gateway, template: &Template) {
    if let Some(emulator) = gateway.emulator() {
        emulator.add_template(TemplateSpec::approved(
            gateway.channel.waba_id.clone(),
            template.draft.name.clone(),
            template.draft.language.clone(),
            serde_json::Value::Array(template.draft.components.clone()),
        ));
    }
}

/// The template as Meta holds it, looked up on the business account page by page.
async fn remote_template(gateway: &Gateway, name: &str, language: &str) -> Result<Template> {
    let mut after: Option<String> = None;
    loop {
        let page = gateway
            .transport
            .list_templates(&gateway.channel, after.as_deref())
            .await?;
        if let Some(remote) = page
            .templates
            .into_iter()
            .find(|t| t.name == name && t.language == language)
        {
            let category = match remote
                .category
                .as_deref()
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                Some("MARKETING") => TemplateCategory::Marketing,
                Some("AUTHENTICATION") => TemplateCategory::Authentication,
                _ => TemplateCategory::Utility,
            };
            let components = remote.components.as_array().cloned().unwrap_or_default();
            let draft = TemplateDraft {
                name: remote.name,
                language: remote.language,
                category,
                components,
            };
            let mut template = Template::new(gateway.tenant.id, gateway.channel.id, draft);
            template.status = remote.status;
            template.remote_id = Some(remote.id);
            return Ok(template);
        }
        match page.after {
            Some(next) => after = Some(next),
            None => {
                return Err(BlastError::Input(format!(
                    "template {name:?} ({language}) is not on the business account"
                )));
            }
        }
    }
}
