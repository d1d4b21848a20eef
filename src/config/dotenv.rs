//! `.env` in the working folder, loaded into the environment before clap
//! reads it, for every command alike.

use std::ffi::OsStr;

use super::ConfigError;

/// The file, relative to the working folder: never searched for in parent
/// folders, so a command reads the `.env` beside it or none.
pub const DOTENV: &str = ".env";

/// Loads [`DOTENV`] into the environment. A variable already set wins over
/// its line; an empty value, in the environment or in the file, is an unset
/// variable (a copy of `.env.example` has many `NAME=` lines), so the default
/// applies. `names` are the variables uic reads: only they are unset when empty.
///
/// # Safety
///
/// It changes the process's environment: no other thread may exist yet (call
/// it first thing in `main`, before any runtime starts).
pub unsafe fn load_dotenv(names: &[String]) -> Result<(), ConfigError> {
    for name in names {
        if std::env::var_os(name).is_some_and(|value| is_blank(&value)) {
            // SAFETY: the caller guarantees this is the only thread.
            unsafe { std::env::remove_var(name) };
        }
    }
    let lines = match dotenvy::from_path_iter(DOTENV) {
        Ok(lines) => lines,
        Err(error) if error.not_found() => return Ok(()),
        Err(error) => return Err(ConfigError::DotEnv(error.to_string())),
    };
    for line in lines {
        let (name, value) = line.map_err(|error| ConfigError::DotEnv(describe(&error)))?;
        if value.trim().is_empty() || std::env::var_os(&name).is_some() {
            continue;
        }
        // SAFETY: the caller guarantees this is the only thread.
        unsafe { std::env::set_var(&name, value) };
    }
    Ok(())
}

fn is_blank(value: &OsStr) -> bool {
    value.to_string_lossy().trim().is_empty()
}

/// A `.env` mistake, by line number and variable, without the value: it may
/// be a secret, and dotenvy's message would show it.
fn describe(error: &dotenvy::Error) -> String {
    let dotenvy::Error::LineParse(text, _) = error else { return error.to_string() };
    // dotenvy gives the faulty line or only its value: find the line holding it.
    let file = std::fs::read_to_string(DOTENV).unwrap_or_default();
    let found = file.lines().enumerate().find(|(_, line)| !text.is_empty() && line.contains(text.trim_end()));
    match found {
        Some((index, line)) => {
            let name = line.split_once('=').map_or("", |(name, _)| name.trim());
            let name = if name.is_empty() { String::new() } else { format!(" (`{name}`)") };
            format!("line {}{name} cannot be read: write NAME=value, in quotes if the value has spaces", index + 1)
        }
        None => "a line cannot be read: write NAME=value, in quotes if the value has spaces".to_string(),
    }
}
