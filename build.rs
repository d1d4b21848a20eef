//! Puts the git revision the binary was built from into `uic --version`
//! (`unknown` outside a git checkout, e.g. in a source tarball or Docker's
//! build context, which leaves `.git` out).

use std::process::Command;

/// What `git args` prints, trimmed; `None` when git fails or prints nothing.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

fn main() {
    let revision = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=UIC_GIT_REVISION={revision}");
    // Built again when the checkout moves to another commit. git names the
    // files, so that a worktree (whose `.git` is a file pointing elsewhere,
    // its branches in the main repository) is followed too.
    match git(&["rev-parse", "--git-path", "HEAD"]) {
        Some(head) => {
            println!("cargo:rerun-if-changed={head}");
            if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
                && let Some(path) = git(&["rev-parse", "--git-path", &reference])
            {
                println!("cargo:rerun-if-changed={path}");
            }
            if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
                println!("cargo:rerun-if-changed={packed}");
            }
        }
        None => println!("cargo:rerun-if-changed=build.rs"),
    }
}
