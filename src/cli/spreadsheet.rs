//! CSV that a spreadsheet opens safely. Excel and LibreOffice read a cell
//! that starts with `=`, `+`, `-` or `@` as a formula (and so run
//! `=HYPERLINK(…)` or turn `+243810000001` into a sum); such a cell is written
//! with a leading apostrophe, which both show as text (OWASP's "CSV
//! injection" advice). Quoting and line ends are the `csv` crate's (RFC 4180,
//! CRLF).

use std::borrow::Cow;
use std::io::Write;

/// Characters that make a spreadsheet read a cell as a formula. Tab and
/// carriage return count too: some spreadsheets skip them before the formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV writer whose cells cannot become formulas.
pub struct SafeCsv<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> SafeCsv<W> {
    pub fn new(out: W) -> SafeCsv<W> {
        SafeCsv { writer: csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out) }
    }

    /// One record, each cell neutralised then quoted where CSV needs it.
    pub fn record<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
        let cells: Vec<Cow<'_, str>> = cells.into_iter().map(neutralise).collect();
        self.writer.write_record(cells.iter().map(|cell| cell.as_bytes())).map_err(std::io::Error::other)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// `cell`, with an apostrophe in front when a spreadsheet would read it as a formula.
fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(records: &[&[&str]]) -> String {
        let mut out = SafeCsv::new(Vec::new());
        for record in records {
            out.record(record.iter().copied()).unwrap();
        }
        out.flush().unwrap();
        String::from_utf8(out.writer.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_text() {
        assert_eq!(
            csv(&[&["+243810000001", "=HYPERLINK(\"http://x\")", "-1", "@SUM(A1)"]]),
            "'+243810000001,\"'=HYPERLINK(\"\"http://x\"\")\",'-1,'@SUM(A1)\r\n"
        );
        assert_eq!(csv(&[&["\tx", "MBEIBR7DA1", "2026-03-14T09:00:00Z"]]), "'\tx,MBEIBR7DA1,2026-03-14T09:00:00Z\r\n");
    }

    #[test]
    fn quoting_is_rfc_4180() {
        assert_eq!(
            csv(&[&["a", "b,c", ""], &["say \"hi\"", "two\nlines", "x"]]),
            "a,\"b,c\",\r\n\"say \"\"hi\"\"\",\"two\nlines\",x\r\n"
        );
    }
}
