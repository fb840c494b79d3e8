//! [`install`]: the one way an application sets up its process-global auditor and ends it.

use crate::auditor::{Auditor, ShutdownError};
use crate::capture;

/// Why [`install`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// Another auditor is installed and its [`InstallGuard`] is still alive.
    #[error(
        "another auditor is already installed as the process default; drop its InstallGuard (which stores its receipts) before installing a new one"
    )]
    AlreadyInstalled,
    /// The auditor was shut down already.
    #[error("the auditor is shut down; build a new one to install")]
    ShutDown,
}

/// Installs `auditor` as the process-global default (the auditor `#[audited]` functions and
/// [`capture::Scope`]s without an explicit auditor emit to) and returns a guard that ends it.
///
/// Keep the guard alive until the end of `main`: dropping it stores every receipt still queued
/// (by audited calls, by the tracing layer and by anything else registered as an
/// [`Upstream`](crate::Upstream)), shuts the auditor down and uninstalls it; receipts that could
/// not be stored are reported on standard error. Call [`InstallGuard::shutdown`] instead to get
/// that report as an error. This is the `WorkerGuard` pattern of `tracing-appender`: a
/// process that returns from `main` without it loses whatever was still queued.
///
/// ```
/// use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
/// let store = auditor.store().clone();
/// let audit = audit_runtime::install(auditor)?;
///
/// // What `#[audited(tenant = "acme")]` does on each call:
/// for _ in 0..100 {
///     audit_runtime::capture::Scope::new("acme").enter().finish(audit_runtime::capture::Outcome::ok());
/// }
///
/// audit.shutdown()?; // or just let `audit` go out of scope at the end of main
/// assert_eq!(store.tip(&"acme".into())?.map(|t| t.len), Some(100));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`InstallError::AlreadyInstalled`] while another installed auditor's guard is alive;
/// [`InstallError::ShutDown`] for an auditor that was shut down.
pub fn install(auditor: Auditor) -> Result<InstallGuard, InstallError> {
    if auditor.is_shut_down() {
        return Err(InstallError::ShutDown);
    }
    if capture::install_default(auditor.clone()).is_err() {
        return Err(InstallError::AlreadyInstalled);
    }
    Ok(InstallGuard {
        auditor,
        ended: false,
    })
}

/// Returned by [`install`]: ends the installed auditor when dropped or
/// [`shut down`](InstallGuard::shutdown).
#[must_use = "dropping the guard at once shuts the auditor down; keep it until the end of main"]
#[derive(Debug)]
pub struct InstallGuard {
    auditor: Auditor,
    /// Set by [`InstallGuard::shutdown`], so that the drop after it does nothing.
    ended: bool,
}

impl InstallGuard {
    /// The installed auditor.
    #[must_use]
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// Stores everything queued, shuts the auditor down and uninstalls it.
    ///
    /// # Errors
    /// As [`Auditor::shutdown`]: the receipts that were lost, by cause.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.ended = true;
        end(&self.auditor)
    }
}

fn end(auditor: &Auditor) -> Result<(), ShutdownError> {
    // Everything queued is stored before the default goes: scopes that end during the drain
    // still find their auditor.
    let result = auditor.shutdown();
    capture::uninstall_default(auditor);
    result
}

impl Drop for InstallGuard {
    fn drop(&mut self) {
        if !self.ended
            && let Err(e) = end(&self.auditor)
        {
            // A drop cannot return the error; this is the last place that can tell anyone.
            eprintln!("ai-audit: {e}");
        }
    }
}
