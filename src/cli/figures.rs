//! Figures as staff read them: `1 in 235 (0.43%)`, `1,234,567`, two significant digits.

/// `1 in 235 (0.43%)`; `none` for zero.
pub fn one_in(p: f64) -> String {
    if p <= 0.0 {
        return "none".to_string();
    }
    if p >= 0.5 {
        return format!("{} (more than 1 in 2)", percent(p));
    }
    format!("1 in {} ({})", grouped((1.0 / p).round()), percent(p))
}

/// A share as a percentage with two significant digits.
pub fn percent(p: f64) -> String {
    let value = p * 100.0;
    if value >= 10.0 || value == 0.0 {
        return format!("{value:.0}%");
    }
    let decimals = (1 - value.log10().floor() as i32).clamp(1, 10) as usize;
    format!("{value:.decimals$}%")
}

/// An expected number of pairs: two decimals below 10, whole above.
pub fn pairs_text(pairs: f64) -> String {
    if pairs < 10.0 { format!("{pairs:.2}") } else { grouped(pairs.round()) }
}

/// A whole number with thousands separated by commas: 1,234,567.
pub fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_staff_expect() {
        assert_eq!(grouped(1234567.0), "1,234,567");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(percent(0.0043), "0.43%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.012345), "1.2%");
        assert_eq!(one_in(1.0 / 235.0), "1 in 235 (0.43%)");
        assert_eq!(one_in(0.0), "none");
        assert_eq!(pairs_text(21.26), "21");
        assert_eq!(pairs_text(0.326), "0.33");
    }
}
