//! Arguments that several commands share, each defined once and flattened into every command
//! that takes it, and the small readers every command's argument struct uses.
//!
//! The shared structs implement [`clap::Args`] and [`clap::FromArgMatches`] by hand — what
//! `#[command(flatten)]` calls — because the verifier-only build of this tool compiles no
//! procedural macros (no `syn`): `KeyArgs::augment_args(command)` adds `--key` and `--key-file`
//! to a command, `KeyArgs::from_arg_matches(&matches)` reads them back.

use std::path::PathBuf;

use clap::error::ErrorKind;
/// Environment variable naming the log.
#[cfg(feature = "sqlite")]
const ENV_LOG_NAME: &str = "AI_AUDIT_LOG_NAME";

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

/// The value of argument `id`, if given (or defaulted). A type that does not match the
/// argument's definition is a bug in this tool; it is reported as an error, not a panic.
pub(crate) fn one<T: Clone + Send + Sync + 'static>(
    m: &ArgMatches,
    id: &str,
) -> Result<Option<T>, clap::Error> {
    m.try_get_one::<T>(id)
        .map(Option::<&T>::cloned)
        .map_err(|e| misdefined(id, &e))
}

/// The value of argument `id`, which is required or has a default.
pub(crate) fn required<T: Clone + Send + Sync + 'static>(
    m: &ArgMatches,
    id: &str,
) -> Result<T, clap::Error> {
    one(m, id)?.ok_or_else(|| {
        clap::Error::raw(
            ErrorKind::MissingRequiredArgument,
            format!("the argument {id} is required\n"),
        )
    })
}

/// Whether the flag `id` (an [`ArgAction::SetTrue`] argument) was given.
pub(crate) fn flag(m: &ArgMatches, id: &str) -> Result<bool, clap::Error> {
    Ok(one::<bool>(m, id)?.unwrap_or(false))
}

/// Every value of the repeatable argument `id`.
#[cfg(feature = "sqlite")]
pub(crate) fn many<T: Clone + Send + Sync + 'static>(
    m: &ArgMatches,
    id: &str,
) -> Result<Vec<T>, clap::Error> {
    Ok(m.try_get_many::<T>(id)
        .map_err(|e| misdefined(id, &e))?
        .map(|v| v.cloned().collect())
        .unwrap_or_default())
}

fn misdefined(id: &str, e: &clap::parser::MatchesError) -> clap::Error {
    clap::Error::raw(
        ErrorKind::InvalidValue,
        format!(
            "argument {id} is defined inconsistently in this build of ai-audit ({e}); please report it\n"
        ),
    )
}

/// A `--long` flag (present or not).
pub(crate) fn switch(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id.replace('_', "-"))
        .action(ArgAction::SetTrue)
        .help(help)
}

/// A `--long VALUE` option holding a path.
pub(crate) fn path_option(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id.replace('_', "-"))
        .value_name(value_name)
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

/// A `--long VALUE` option holding text.
pub(crate) fn text_option(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id.replace('_', "-"))
        .value_name(value_name)
        .help(help)
}

/// `--key HEX` or `--key-file PATH`: the public key to pin (else `AI_AUDIT_VERIFY_KEY`).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyArgs {
    /// `--key`: the key as 64 hex characters.
    pub(crate) key: Option<String>,
    /// `--key-file`: a file holding the key as hex (or a saved `gen-key` output).
    pub(crate) key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key pinned by `--key`, `--key-file` or `AI_AUDIT_VERIFY_KEY`, in that order;
    /// `Ok(None)` if none is given, an error message (for exit 2) if the one given is unusable.
    pub(crate) fn pinned(&self) -> Result<Option<audit_runtime::VerifyingKey>, String> {
        crate::pin::load_pinned_key(self.key.as_deref(), self.key_file.as_ref())
    }
}

impl FromArgMatches for KeyArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            key: one(m, "key")?,
            key_file: one(m, "key_file")?,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for KeyArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.arg(
            text_option(
                "key",
                "HEX",
                "The public key (64 hex characters) to pin. Falls back to AI_AUDIT_VERIFY_KEY.",
            )
            .conflicts_with("key_file"),
        )
        .arg(path_option(
            "key_file",
            "PATH",
            "A file holding the public key to pin, as hex (or a saved `gen-key` output).",
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// `--db PATH`: the store a command reads or writes.
#[cfg(feature = "sqlite")]
#[derive(Clone, Debug, Default)]
pub(crate) struct DbArgs {
    /// The store's path, if given; else the default data directory's `audit.db`.
    pub(crate) db: Option<PathBuf>,
}

#[cfg(feature = "sqlite")]
impl FromArgMatches for DbArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self { db: one(m, "db")? })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
impl Args for DbArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.arg(path_option(
            "db",
            "PATH",
            "The store (default: $AI_AUDIT_DATA_DIR/audit.db or ./audit-data/audit.db).",
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// `--log-name NAME`: the name a log's checkpoints are signed under.
#[cfg(feature = "sqlite")]
#[derive(Clone, Debug, Default)]
pub(crate) struct LogNameArgs {
    /// The name given, if any; else `$AI_AUDIT_LOG_NAME`, else the default.
    pub(crate) log_name: Option<String>,
}

#[cfg(feature = "sqlite")]
impl LogNameArgs {
    /// `--log-name`, else `$AI_AUDIT_LOG_NAME`, else the default; an error (for exit 2) if it
    /// cannot name a log.
    pub(crate) fn resolve(&self) -> Result<String, String> {
        let (name, from) = match self.log_name.as_deref() {
            Some(a) => (a.to_owned(), "--log-name"),
            None => match std::env::var(ENV_LOG_NAME).ok().filter(|v| !v.is_empty()) {
                Some(v) => (v, ENV_LOG_NAME),
                None => return Ok(audit_runtime::note::DEFAULT_LOG_NAME.to_owned()),
            },
        };
        match audit_runtime::note::log_name_problem(&name) {
            None => Ok(name),
            Some(why) => Err(format!(
                "{from} {name:?} cannot be a log name: {why}; use the DNS-like name the log's checkpoints are signed under, such as audit.example.com"
            )),
        }
    }
}

#[cfg(feature = "sqlite")]
impl FromArgMatches for LogNameArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            log_name: one(m, "log_name")?,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
impl Args for LogNameArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.arg(text_option(
            "log_name",
            "NAME",
            "The log name checkpoints are signed under, if one must be signed (default: $AI_AUDIT_LOG_NAME or ai-audit.local).",
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
