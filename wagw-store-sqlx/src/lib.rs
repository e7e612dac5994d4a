//! SQLite and PostgreSQL backends for wagw (work in progress).
