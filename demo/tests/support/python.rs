//! Virtualenvs under `target/` with pinned Python packages, made once under a file lock.

use std::path::{Path, PathBuf};
use std::process::Command;

fn has(python: &Path, check: &str) -> bool {
    Command::new(python)
        .args(["-c", check])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `target/<name>/bin/python` with `requirements` pip-installed; `check` is Python code that
/// succeeds once they are. Returns `None` when that is impossible — unless `CI` is set, where
/// a missing Python is a failure, not a skip.
pub(crate) fn venv(name: &str, requirements: &[&str], check: &str) -> Option<PathBuf> {
    let target = super::workspace().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let venv = target.join(name);
    let python = venv.join("bin/python");
    let lock = std::fs::File::create(target.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    if !has(&python, check) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(requirements)
                .status()
                .is_ok_and(|s| s.success());
        if !made || !has(&python, check) {
            let _ = lock.unlock();
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs python3 with venv and pip to install {requirements:?}"
            );
            eprintln!("SKIP: cannot set up {requirements:?} (python3 -m venv + pip failed)");
            return None;
        }
    }
    let _ = lock.unlock();
    Some(python)
}
