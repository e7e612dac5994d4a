//! The run's report, in the shape the outage notifier always had: totals (`total`, `sent`,
//! `failed`, `skipped`) and one row per customer (`phone`, `name`, `success`, `error`),
//! filled in from the messages' final statuses.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{NotifyError, Result};

/// One customer's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// The ISP's customer id (empty for `notify phone`).
    pub customer_id: String,
    /// The number in E.164 (`+628123456789`), or as typed when it is not a number.
    pub phone: String,
    /// The customer's name.
    pub name: String,
    /// Whether WhatsApp took the message (sent, delivered or read).
    pub success: bool,
    /// The last status: `delivered`, `read`, `sent`, `failed`, `skipped`, or `queued` /
    /// `sending` when the wait ended first.
    pub status: String,
    /// Why it failed or was skipped; Meta's code and reason for a failure.
    pub error: Option<String>,
}

/// Totals and rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Customers selected.
    pub total: u64,
    /// Messages WhatsApp took (sent, delivered or read).
    pub sent: u64,
    /// Messages that failed (Meta's reason in the row).
    pub failed: u64,
    /// Customers not messaged (no number, invalid number).
    pub skipped: u64,
    /// Messages still waiting when the run ended; they stay queued in the database.
    #[serde(skip_serializing_if = "is_zero")]
    pub pending: u64,
    /// One row per customer, in selection order.
    pub results: Vec<ReportRow>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Report {
    /// Totals counted from `results`.
    pub fn new(results: Vec<ReportRow>) -> Self {
        let count = |f: &dyn Fn(&ReportRow) -> bool| results.iter().filter(|r| f(r)).count() as u64;
        Self {
            total: results.len() as u64,
            sent: count(&|r| r.success),
            failed: count(&|r| r.status == "failed"),
            skipped: count(&|r| r.status == "skipped"),
            pending: count(&|r| matches!(r.status.as_str(), "queued" | "sending")),
            results,
        }
    }

    /// Prints the totals and a table for people.
    pub fn print(&self, mut out: impl Write) -> std::io::Result<()> {
        write!(
            out,
            "total {}  sent {}  failed {}  skipped {}",
            self.total, self.sent, self.failed, self.skipped
        )?;
        if self.pending > 0 {
            write!(out, "  pending {}", self.pending)?;
        }
        writeln!(out)?;
        let phone_width = self
            .results
            .iter()
            .map(|r| r.phone.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let name_width = self
            .results
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            out,
            "{:<phone_width$}  {:<name_width$}  {:<9}  {:<7}  error",
            "phone", "name", "status", "success"
        )?;
        for r in &self.results {
            writeln!(
                out,
                "{:<phone_width$}  {:<name_width$}  {:<9}  {:<7}  {}",
                r.phone,
                r.name,
                r.status,
                if r.success { "yes" } else { "no" },
                r.error.as_deref().unwrap_or("")
            )?;
        }
        Ok(())
    }

    /// Writes the report to `path`: CSV for a `.csv` file, JSON otherwise.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |e| NotifyError::io(format!("writing {}", path.display()), e);
        let file = std::fs::File::create(path).map_err(io)?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            let csv_err = |source| NotifyError::Csv {
                file: path.display().to_string(),
                source,
            };
            let mut csv = csv::Writer::from_writer(file);
            csv.write_record(["customer_id", "phone", "name", "success", "status", "error"])
                .map_err(csv_err)?;
            for r in &self.results {
                csv.write_record([
                    r.customer_id.as_str(),
                    &r.phone,
                    &r.name,
                    if r.success { "true" } else { "false" },
                    &r.status,
                    r.error.as_deref().unwrap_or(""),
                ])
                .map_err(csv_err)?;
            }
            csv.flush().map_err(io)
        } else {
            let mut file = std::io::BufWriter::new(file);
            serde_json::to_writer_pretty(&mut file, self)
                .map_err(|e| NotifyError::io(format!("writing {}", path.display()), e.into()))?;
            file.flush().map_err(io)
        }
    }
}
