//! The blast CLI's one error type.

/// What can stop a command. Every variant has a stable machine-readable [`code`](Self::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlastError {
    /// wagw refused or failed (malformed CSV header, template parameter mismatch, store
    /// error ...).
    #[error(transparent)]
    Wagw(#[from] wagw::Error),
    /// The Cloud API transport or the emulator could not start.
    #[error(transparent)]
    Meta(#[from] wagw::meta::Error),
    /// The store, the number or Meta's connection could not be set up.
    #[error(transparent)]
    Setup(#[from] single_number::SetupError),
    /// The Cloud API refused a call made outside the dispatcher (listing templates).
    #[error("Cloud API: {0}")]
    Transport(#[from] wagw::TransportError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The report could not be written as CSV.
    #[error("writing the report: {0}")]
    Csv(#[from] csv::Error),
    /// The input does not make sense (no such campaign, nothing to resume ...).
    #[error("{0}")]
    Input(String),
}

impl BlastError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// A stable code: wagw's own (`INVALID_INPUT`, `TEMPLATE_PARAM_MISMATCH`, `NOT_FOUND` ...)
    /// for its errors, else `META`, `TRANSPORT`, `IO`, `CSV`, `MISSING_SETTING`,
    /// `INVALID_INPUT`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Wagw(e) => e.code().as_str(),
            Self::Meta(_) => "META",
            Self::Setup(e) => e.code(),
            Self::Transport(_) => "TRANSPORT",
            Self::Io { .. } => "IO",
            Self::Csv(_) => "CSV",
            Self::Input(_) => "INVALID_INPUT",
        }
    }
}

/// The blast CLI's result.
pub type Result<T, E = BlastError> = std::result::Result<T, E>;
