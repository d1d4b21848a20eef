//! `.env` in the working folder, read before clap parses the arguments, for
//! every command alike.

use std::collections::BTreeMap;
use std::ffi::OsStr;

use super::ConfigError;

/// The file, relative to the working folder: never searched for in parent
/// folders, so a command reads the `.env` beside it or none.
pub const DOTENV: &str = ".env";

/// The values [`DOTENV`] gives, by variable; blank ones are left out (a copy
/// of `.env.example` has many `NAME=` lines), and so is a missing file.
pub fn read_dotenv() -> Result<BTreeMap<String, String>, ConfigError> {
    let lines = match dotenvy::from_path_iter(DOTENV) {
        Ok(lines) => lines,
        Err(error) if error.not_found() => return Ok(BTreeMap::new()),
        Err(error) => return Err(ConfigError::DotEnv(error.to_string())),
    };
    let mut values = BTreeMap::new();
    for line in lines {
        let (name, value) = line.map_err(|error| ConfigError::DotEnv(describe(&error)))?;
        if !value.trim().is_empty() {
            values.insert(name, value);
        }
    }
    Ok(values)
}

/// `command` (and each of its subcommands) reading `dotenv` where the
/// environment is silent: a variable set in the environment wins over its
/// `.env` line, and one set but blank counts as unset. The process's
/// environment itself is never changed (that would need `unsafe`): each
/// `.env` value becomes the default of the argument that reads its variable,
/// hidden from `--help` where the variable's value is.
pub fn with_dotenv(command: clap::Command, dotenv: &BTreeMap<String, String>) -> clap::Command {
    command
        .mut_args(|arg| {
            let Some(name) = arg.get_env().and_then(OsStr::to_str).map(str::to_string) else { return arg };
            let environment = std::env::var_os(&name);
            if environment.as_deref().is_some_and(|value| !is_blank(value)) {
                return arg;
            }
            // Blank in the environment: clap would take "" as the value.
            let arg = if environment.is_some() { arg.env(None::<&str>) } else { arg };
            match dotenv.get(&name) {
                Some(value) => {
                    let secret = arg.is_hide_env_values_set();
                    arg.default_value(value.clone()).hide_default_value(secret)
                }
                None => arg,
            }
        })
        .mut_subcommands(|subcommand| with_dotenv(subcommand, dotenv))
}

/// A variable's value as every command reads it: the environment, else `.env`.
pub fn variable(name: &str, dotenv: &BTreeMap<String, String>) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty()).or_else(|| dotenv.get(name).cloned())
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
