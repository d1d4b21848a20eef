//! Lookup tables (SPEC §5): a CSV of the names people use for a thing and
//! the code each stands for (`name,code`: `Kin,KI`, `L'shi,LU`), so that an
//! answer is mapped to its code rather than cut by the formula's rule. A
//! name written with one letter wrong is still found; one a little further
//! is only suggested (the engine asks before taking it); anything else
//! falls back to the flow's rule.

use std::collections::BTreeMap;

/// One name of a table, as written and as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// The name through the step's cleaners and normalisers.
    pub key: String,
    pub code: String,
    /// Its line in the file (the header is line 1).
    pub line: usize,
}

/// A table read from its file; `file` is the path shown in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub file: String,
    pub entries: Vec<Entry>,
    /// The file's text, part of the flow's fingerprint: a table edited
    /// under the same `version` changes codes as a formula would.
    pub text: String,
}

/// What a table says of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// The answer is a name of the table, or that name with one letter wrong.
    Code(&'a str),
    /// Close to one name, but not close enough to be sure: ask first.
    Perhaps(&'a Entry),
    /// Not a name of the table: the flow's rule applies.
    Nothing,
}

/// A problem in a table file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableProblem {
    /// The file is not `name,code` CSV: the line and the reason.
    Unreadable { line: usize, reason: String },
    /// The same name (as compared) twice with the same code.
    Duplicate { line: usize, name: String, first: usize },
    /// The same name (as compared) with two different codes.
    Clash { line: usize, name: String, code: String, first: usize, first_code: String },
}

impl Table {
    /// Reads `name,code` rows (a header first); `key` turns a name into the
    /// form answers are compared in.
    pub fn parse(
        file: &str,
        text: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<(Table, Vec<TableProblem>), TableProblem> {
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers =
            reader.headers().map_err(|error| TableProblem::Unreadable { line: 1, reason: error.to_string() })?.clone();
        let column = |wanted: &str| headers.iter().position(|header| header.eq_ignore_ascii_case(wanted));
        let (Some(name_at), Some(code_at)) = (column("name"), column("code")) else {
            return Err(TableProblem::Unreadable {
                line: 1,
                reason: "the first line must name the columns `name,code`".into(),
            });
        };
        let mut entries: Vec<Entry> = Vec::new();
        let mut problems = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(|error| TableProblem::Unreadable {
                line: error.position().map_or(0, |p| p.line() as usize),
                reason: error.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let (name, code) = (record.get(name_at).unwrap_or_default(), record.get(code_at).unwrap_or_default());
            if name.is_empty() && code.is_empty() {
                continue;
            }
            let entry = Entry { name: name.to_string(), key: key(name), code: code.to_string(), line };
            match seen.get(&entry.key).map(|&i| &entries[i]) {
                Some(first) if first.code == entry.code => {
                    problems.push(TableProblem::Duplicate { line, name: entry.name.clone(), first: first.line });
                    continue;
                }
                Some(first) => {
                    problems.push(TableProblem::Clash {
                        line,
                        name: entry.name.clone(),
                        code: entry.code.clone(),
                        first: first.line,
                        first_code: first.code.clone(),
                    });
                    continue;
                }
                None => {}
            }
            seen.insert(entry.key.clone(), entries.len());
            entries.push(entry);
        }
        Ok((Table { file: file.to_string(), entries, text: text.to_string() }, problems))
    }

    /// The code of an answer already cleaned and normalised as the names are.
    pub fn find(&self, key: &str) -> Found<'_> {
        if let Some(entry) = self.entries.iter().find(|entry| entry.key == key) {
            return Found::Code(&entry.code);
        }
        let length = key.chars().count();
        // The nearest names; a tie between two codes decides nothing.
        let mut best: Option<(usize, &Entry)> = None;
        let mut tied = false;
        for entry in &self.entries {
            let distance = strsim::osa_distance(key, &entry.key);
            match best {
                Some((nearest, chosen)) if distance == nearest && chosen.code != entry.code => tied = true,
                Some((nearest, _)) if distance >= nearest => {}
                _ => {
                    best = Some((distance, entry));
                    tied = false;
                }
            }
        }
        match best {
            Some(_) if tied => Found::Nothing,
            // One letter wrong, added, missing or two swapped in a name of 5 or more.
            Some((1, entry)) if length >= 5 && entry.key.chars().count() >= 5 => Found::Code(&entry.code),
            // Two, in a long name: likely, not sure.
            Some((2, entry)) if length >= 7 && entry.key.chars().count() >= 7 => Found::Perhaps(entry),
            _ => Found::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> String {
        name.chars().filter(char::is_ascii_alphabetic).collect::<String>().to_uppercase()
    }

    fn table(text: &str) -> (Table, Vec<TableProblem>) {
        Table::parse("cities.csv", text, &key).unwrap()
    }

    const CITIES: &str = "name,code\nKinshasa,KI\nKin,KI\nLubumbashi,LU\nL'shi,LU\nMbuji-Mayi,MB\nKisangani,KS\n";

    #[test]
    fn names_and_their_spellings_give_the_code() {
        let (cities, problems) = table(CITIES);
        assert!(problems.is_empty());
        assert_eq!(cities.find("KIN"), Found::Code("KI"));
        assert_eq!(cities.find("LSHI"), Found::Code("LU"));
        assert_eq!(cities.find("MBUJIMAYI"), Found::Code("MB"));
        // One letter wrong, missing or swapped.
        assert_eq!(cities.find("KINSHSA"), Found::Code("KI"));
        assert_eq!(cities.find("LUBUMBASHU"), Found::Code("LU"));
        assert_eq!(cities.find("KISNAGANI"), Found::Code("KS"));
    }

    #[test]
    fn further_names_are_asked_and_unknown_ones_fall_back() {
        let (cities, _) = table(CITIES);
        match cities.find("LOUBOUMBASHI") {
            Found::Perhaps(entry) => assert_eq!((entry.name.as_str(), entry.code.as_str()), ("Lubumbashi", "LU")),
            other => panic!("{other:?}"),
        }
        assert_eq!(cities.find("GOMA"), Found::Nothing);
        // Short names are never guessed: KIM is not KIN.
        assert_eq!(cities.find("KIM"), Found::Nothing);
    }

    #[test]
    fn duplicates_and_clashes_are_named_with_their_lines() {
        let (_, problems) = table("name,code\nKinshasa,KI\nKINSHASA,KI\nKin,KI\nkin,KN\n");
        assert_eq!(
            problems,
            vec![
                TableProblem::Duplicate { line: 3, name: "KINSHASA".into(), first: 2 },
                TableProblem::Clash {
                    line: 5,
                    name: "kin".into(),
                    code: "KN".into(),
                    first: 4,
                    first_code: "KI".into()
                },
            ]
        );
        let error = Table::parse("x.csv", "city,abbr\nKin,KI\n", &key).unwrap_err();
        assert!(matches!(error, TableProblem::Unreadable { line: 1, .. }), "{error:?}");
    }
}
