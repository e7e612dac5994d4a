//! The notifier's one error type.

/// What can stop a run. Every variant has a stable machine-readable [`code`](Self::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// wagw refused or failed (invalid number, store error ...).
    #[error(transparent)]
    Wagw(#[from] wagw::Error),
    /// The Cloud API transport or the emulator could not start.
    #[error(transparent)]
    Meta(#[from] wagw::meta::Error),
    /// The store, the number or Meta's connection could not be set up.
    #[error(transparent)]
    Setup(#[from] single_number::SetupError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A customers or notices CSV could not be read.
    #[error("{file}: {source}")]
    Csv {
        /// The file.
        file: String,
        /// The cause, with its line.
        source: csv::Error,
    },
    /// The customers database could not be read.
    #[error("customers database: {0}")]
    Database(#[from] sqlx::Error),
    /// The input does not make sense (unknown notice, no message ...).
    #[error("{0}")]
    Input(String),
}

impl NotifyError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// A stable code: `INVALID_NUMBER`, `IO`, `CSV`, `DATABASE`, `MISSING_SETTING`,
    /// `INVALID_INPUT` ... (wagw's own codes for its errors).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Wagw(e) => e.code().as_str(),
            Self::Meta(_) => "META",
            Self::Setup(e) => e.code(),
            Self::Io { .. } => "IO",
            Self::Csv { .. } => "CSV",
            Self::Database(_) => "DATABASE",
            Self::Input(_) => "INVALID_INPUT",
        }
    }
}

/// The notifier's result.
pub type Result<T, E = NotifyError> = std::result::Result<T, E>;
