//! Plain-text tables for the operator commands.

/// Columns padded to their widest cell, two spaces apart, one line per row.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]], right: &[bool; N]) -> String {
    let mut widths = header.map(|title| title.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            let separator = if i == 0 { "" } else { "  " };
            if right[i] {
                out.push_str(&format!("{separator}{pad}{cell}"));
            } else {
                out.push_str(&format!("{separator}{cell}{pad}"));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(*header);
    for row in rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = [["MBEIBR7DA1".to_string(), "2".to_string()], ["X".to_string(), "10".to_string()]];
        let text = table(&["code", "requests"], &rows, &[false, true]);
        assert_eq!(text, "code        requests\nMBEIBR7DA1         2\nX                 10\n");
    }
}
