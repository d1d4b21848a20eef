//! `DATABASE_URL`: which backend it names, the SQLite file it opens, and how
//! it is shown. A URL can carry a password (in the user info or as a
//! `password`/`sslpassword` parameter), so it is only ever shown through
//! [`redact_url`]; [`DatabaseUrl`] prints that way by itself.
//!
//! A small parser of our own: the `url` crate is not a dependency of uic, and
//! redaction must also cope with text that is not a valid URL (a password
//! with an unescaped `/`, a libpq `key=value` string), where a strict parser
//! would give up and leave nothing to show.

use std::fmt;
use std::path::Path;

use super::StoreError;

/// What stands for a hidden secret.
const MASK: &str = "***";

/// Query parameters whose value is a secret (compared case-insensitively,
/// after percent-decoding, as a URL parser would read them).
const SECRET_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// The backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `sqlite:…`: a file, or memory.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

/// A database URL of a backend uic has. `Display` and `Debug` show it
/// redacted; [`DatabaseUrl::secret`] is for connecting only.
#[derive(Clone, Copy)]
pub struct DatabaseUrl<'a> {
    text: &'a str,
    kind: BackendKind,
}

impl<'a> DatabaseUrl<'a> {
    /// The backend of `text`; [`StoreError::UnsupportedUrl`] (holding the
    /// redacted URL) for any other scheme.
    pub fn parse(text: &'a str) -> Result<DatabaseUrl<'a>, StoreError> {
        let kind = if text.starts_with("sqlite:") {
            BackendKind::Sqlite
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            BackendKind::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(text)));
        };
        Ok(DatabaseUrl { text, kind })
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The URL as given, password included: for the driver, never for a message.
    pub fn secret(&self) -> &'a str {
        self.text
    }

    /// A SQLite database in memory (`sqlite::memory:`, `?mode=memory`).
    pub fn is_memory(&self) -> bool {
        self.kind == BackendKind::Sqlite && is_memory(self.text)
    }
}

impl fmt::Display for DatabaseUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.text))
    }
}

impl fmt::Debug for DatabaseUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The file of a SQLite URL (`None` for memory and other databases).
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !is_memory(url)).then_some(path)
}

/// `sqlite://data/uic.db` needs `data/` to exist before SQLite can create the
/// file: it is made readable by its owner only. Nothing to do for memory or
/// PostgreSQL.
pub fn ensure_parent_dir(url: &str) -> Result<(), StoreError> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::support::files::create_private_dir_all(parent)
            .map_err(|source| StoreError::Folder { path: parent.to_path_buf(), source })?;
    }
    Ok(())
}

/// `url` without its secrets, for messages: the user info becomes `***`
/// (`postgres://***@host/db`), and so do the values of `password` and
/// `sslpassword` parameters. Text that is not a URL and could hold a secret
/// (an `@` or an `=`) is hidden whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = split_scheme(url) else {
        // Not a URL: a bare path shows as it is; `host=… password=…` does not.
        return if url.contains(['@', '=']) { MASK.to_string() } else { url.to_string() };
    };
    if scheme == "sqlite" {
        // A file name may contain `@` (`/home/a@b/uic.db`) and has no user info.
        return format!("{scheme}:{}", redact_query(rest));
    }
    let Some(hierarchy) = rest.strip_prefix("//") else {
        // `scheme:opaque`: nothing tells a secret from the rest.
        return if rest.is_empty() { url.to_string() } else { format!("{scheme}:{MASK}") };
    };
    // Up to the last `@` anywhere, not only in the host part: a password with
    // an unescaped `/`, `?` or `#` would otherwise show. An `@` further on
    // (in a parameter) then hides the host as well: the safe mistake.
    let hierarchy = match hierarchy.rfind('@') {
        Some(at) => format!("{MASK}{}", &hierarchy[at..]),
        None => redact_ports(hierarchy),
    };
    format!("{scheme}://{}", redact_query(&hierarchy))
}

/// Without an `@`, `user:password` would read as a host and a port
/// (`postgres://u:secret`, the host forgotten): a "port" that is not a
/// number is hidden. Every host of a list (`h1:5432,h2:5433`) is checked.
fn redact_ports(hierarchy: &str) -> String {
    let end = hierarchy.find(['/', '?', '#']).unwrap_or(hierarchy.len());
    let (authority, rest) = hierarchy.split_at(end);
    let hosts: Vec<String> = authority
        .split(',')
        .map(|host| {
            // `[::1]:5432`: the port follows the bracket.
            let port_at = match host.strip_prefix('[') {
                Some(inside) => inside.find("]:").map(|at| at + 3),
                None => host.find(':').map(|at| at + 1),
            };
            match port_at {
                Some(at) if !host[at..].bytes().all(|b| b.is_ascii_digit()) => format!("{}{MASK}", &host[..at]),
                _ => host.to_string(),
            }
        })
        .collect();
    format!("{}{rest}", hosts.join(","))
}

/// `scheme` and what follows its `:`, when `url` starts with a URL scheme
/// (a letter, then letters, digits, `+`, `-` or `.`).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some((scheme, rest))
}

/// `text` with the values of secret query parameters masked. Everything
/// after the first `?` counts as the query, a `#` included: a password with
/// an unescaped `#` is hidden whole.
fn redact_query(text: &str) -> String {
    let Some((before, query)) = text.split_once('?') else { return text.to_string() };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_parameter(key) => format!("{key}={MASK}"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{before}?{}", pairs.join("&"))
}

fn is_secret_parameter(key: &str) -> bool {
    // Decoded as a parser would (`pass%77ord` is `password`).
    let decoded: String = form_urlencoded::parse(key.as_bytes()).map(|(key, _)| key.into_owned()).collect();
    SECRET_PARAMETERS.iter().any(|secret| decoded.trim().eq_ignore_ascii_case(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_info_is_hidden() {
        assert_eq!(redact_url("postgres://u:secret@host/db"), "postgres://***@host/db");
        assert_eq!(
            redact_url("postgresql://u:secret@host:5433/db?sslmode=require"),
            "postgresql://***@host:5433/db?sslmode=require"
        );
        assert_eq!(redact_url("postgres://u@host/db"), "postgres://***@host/db");
        assert_eq!(redact_url("postgres://host/db"), "postgres://host/db");
        // An `@` inside the password, escaped or not.
        assert_eq!(redact_url("postgres://u:p%40ss@host/db"), "postgres://***@host/db");
        assert_eq!(redact_url("postgres://u:p@ss@host/db"), "postgres://***@host/db");
    }

    #[test]
    fn a_password_that_breaks_the_url_is_hidden_too() {
        for url in
            ["postgres://u:pa/secret@host/db", "postgres://u:pa?secret@host/db", "postgres://u:pa#secret@host/db"]
        {
            let shown = redact_url(url);
            assert_eq!(shown, "postgres://***@host/db", "{url}");
        }
    }

    #[test]
    fn a_password_without_a_host_is_hidden() {
        assert_eq!(redact_url("postgres://u:secret"), "postgres://u:***");
        assert_eq!(redact_url("postgres://u:secret/db"), "postgres://u:***/db");
        // Real ports stay.
        assert_eq!(redact_url("postgres://host:5432/db"), "postgres://host:5432/db");
        assert_eq!(redact_url("postgres://h1:5432,h2:5433/db"), "postgres://h1:5432,h2:5433/db");
        assert_eq!(redact_url("postgres://[::1]:5432/db"), "postgres://[::1]:5432/db");
        assert_eq!(redact_url("postgres://[::1]/db"), "postgres://[::1]/db");
    }

    #[test]
    fn password_parameters_are_hidden() {
        assert_eq!(redact_url("postgres://host/db?password=secret"), "postgres://host/db?password=***");
        assert_eq!(
            redact_url("postgres://u@host/db?sslmode=require&password=secret&application_name=uic"),
            "postgres://***@host/db?sslmode=require&password=***&application_name=uic"
        );
        assert_eq!(redact_url("postgres://host/db?sslpassword=secret"), "postgres://host/db?sslpassword=***");
        assert_eq!(redact_url("postgres://host/db?PassWord=secret"), "postgres://host/db?PassWord=***");
        assert_eq!(redact_url("postgres://host/db?SSLPASSWORD=secret"), "postgres://host/db?SSLPASSWORD=***");
        assert_eq!(redact_url("postgres://host/db?pass%77ord=secret"), "postgres://host/db?pass%77ord=***");
        assert_eq!(redact_url("postgres://host/db?password=sec#ret"), "postgres://host/db?password=***");
        assert_eq!(redact_url("postgres://host/db?user=me&password="), "postgres://host/db?user=me&password=***");
        // Both places at once.
        assert_eq!(redact_url("postgres://u:one@host/db?password=two"), "postgres://***@host/db?password=***");
    }

    #[test]
    fn other_parameters_and_sqlite_urls_stay_readable() {
        assert_eq!(redact_url("sqlite://data/uic.db"), "sqlite://data/uic.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact_url("sqlite:///home/a@b/uic.db?mode=ro"), "sqlite:///home/a@b/uic.db?mode=ro");
        assert_eq!(redact_url("postgres://host/db?passwordless=yes"), "postgres://host/db?passwordless=yes");
    }

    #[test]
    fn text_that_is_not_a_url_is_hidden_when_it_could_hold_a_secret() {
        assert_eq!(redact_url("host=db user=u password=secret"), "***");
        assert_eq!(redact_url("root:secret@db"), "root:***");
        assert_eq!(redact_url("mysql:root:secret@db"), "mysql:***");
        assert_eq!(redact_url("user:secret"), "user:***");
        assert_eq!(redact_url("data/uic.db"), "data/uic.db");
        assert_eq!(redact_url(""), "");
    }

    #[test]
    fn an_unsupported_url_never_shows_its_password() {
        let error = DatabaseUrl::parse("mysql://root:pw@h/db").unwrap_err();
        assert!(matches!(&error, StoreError::UnsupportedUrl(shown) if shown == "mysql://***@h/db"), "{error:?}");
        let text = error.to_string();
        assert!(!text.contains("pw"), "{text}");
        assert_eq!(
            text,
            "unsupported DATABASE_URL `mysql://***@h/db`: use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB"
        );
        let text = DatabaseUrl::parse("mysql://h/db?password=pw").unwrap_err().to_string();
        assert!(!text.contains("pw"), "{text}");
        let text = DatabaseUrl::parse("host=h password=pw").unwrap_err().to_string();
        assert!(!text.contains("pw"), "{text}");
    }

    #[test]
    fn urls_name_their_backend_and_print_redacted() {
        let url = DatabaseUrl::parse("postgres://u:secret@host/db").unwrap();
        assert_eq!(url.kind(), BackendKind::Postgres);
        assert_eq!(url.to_string(), "postgres://***@host/db");
        assert_eq!(format!("{url:?}"), "DatabaseUrl(postgres://***@host/db)");
        assert_eq!(url.secret(), "postgres://u:secret@host/db");
        assert_eq!(DatabaseUrl::parse("postgresql://h/db").unwrap().kind(), BackendKind::Postgres);
        let url = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert_eq!((url.kind(), url.is_memory()), (BackendKind::Sqlite, true));
        assert!(!DatabaseUrl::parse("sqlite://data/uic.db").unwrap().is_memory());
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://data/uic.db"), Some("data/uic.db"));
        assert_eq!(sqlite_path("sqlite:///var/lib/uic.db?mode=ro"), Some("/var/lib/uic.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite:file:uic?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }

    #[test]
    fn the_folder_of_a_sqlite_file_is_made() {
        let dir = std::env::temp_dir().join(format!("uic-url-{}", crate::support::ids::token()));
        let url = format!("sqlite://{}/sub/uic.db", dir.display());
        ensure_parent_dir(&url).unwrap();
        assert!(dir.join("sub").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
        ensure_parent_dir("sqlite::memory:").unwrap();
        ensure_parent_dir("postgres://h/db").unwrap();
    }
}
