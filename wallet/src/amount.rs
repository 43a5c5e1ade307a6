//! Amounts on the command line (`--amount 1.5cpc`) and in text output.

use cpc_primitives::{format_cpc, UNITS_PER_CPC};

/// Parses a CLI amount: `1.5cpc`, `1.5 CPC`, `2cpc` (CPC, at most 18 decimals) or plain base
/// units `1500000000000000000` (no suffix = base units, integers only).
pub fn parse_amount_arg(s: &str) -> Result<u128, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty amount: write e.g. 1.5cpc or base units like 1500000000000000000".into());
    }
    let lower = t.to_ascii_lowercase();
    let (num, in_cpc) = match lower.strip_suffix("cpc") {
        Some(n) => (n.trim_end(), true),
        None => (lower.as_str(), false),
    };
    if num.starts_with('-') {
        return Err(format!("amount must not be negative, found {s:?}"));
    }
    if num.is_empty() {
        return Err(format!("no number in amount {s:?}: write e.g. 1.5cpc"));
    }
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(format!(
            "expected an amount like 1.5cpc, 2 CPC or base units like 1500000000000000000, found {s:?}"
        ));
    }
    let too_large = || format!("amount {s:?} is too large (at most {} base units)", u128::MAX);
    if !in_cpc {
        if frac.is_some() {
            return Err(format!(
                "{s:?} has a decimal point but no unit: a plain number is in base units (1 CPC = 10^18); write {s}cpc for CPC"
            ));
        }
        return int.parse::<u128>().map_err(|_| too_large());
    }
    let frac = frac.unwrap_or("");
    if frac.len() > 18 {
        return Err(format!("amount {s:?} has {} decimal places: CPC has at most 18 (1 base unit = 10^-18 CPC)", frac.len()));
    }
    let whole = int.parse::<u128>().map_err(|_| too_large())?;
    let frac_units = if frac.is_empty() { 0 } else { format!("{frac:0<18}").parse::<u128>().expect("18 digits") };
    whole.checked_mul(UNITS_PER_CPC).and_then(|w| w.checked_add(frac_units)).ok_or_else(too_large)
}

/// `1.5 CPC (1500000000000000000 base units)`.
pub fn show_amount(units: u128) -> String {
    format!("{} ({units} base units)", format_cpc(units))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPC: u128 = UNITS_PER_CPC;

    #[test]
    fn amounts_in_cpc_and_base_units() {
        assert_eq!(parse_amount_arg("1.5cpc"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("1.5 CPC"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("1.5CPC"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("2cpc"), Ok(2 * CPC));
        assert_eq!(parse_amount_arg(" 2 Cpc "), Ok(2 * CPC));
        assert_eq!(parse_amount_arg("0cpc"), Ok(0));
        assert_eq!(parse_amount_arg("0.000000000000000001cpc"), Ok(1));
        assert_eq!(parse_amount_arg("1.000000000000000000cpc"), Ok(CPC));
        assert_eq!(parse_amount_arg("1500000000000000000"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("0"), Ok(0));
        assert_eq!(parse_amount_arg("007"), Ok(7));
        assert_eq!(parse_amount_arg(&u128::MAX.to_string()), Ok(u128::MAX));
        // The largest CPC amount that fits.
        let max_whole = u128::MAX / CPC;
        assert_eq!(parse_amount_arg(&format!("{max_whole}cpc")), Ok(max_whole * CPC));
    }

    #[test]
    fn bad_amounts_have_clear_errors() {
        let err = |s: &str| parse_amount_arg(s).unwrap_err();
        assert!(err("1.0000000000000000001cpc").contains("at most 18"), "{}", err("1.0000000000000000001cpc"));
        assert!(err("-1cpc").contains("negative"));
        assert!(err("-5").contains("negative"));
        assert!(err("1.5").contains("decimal point but no unit"));
        assert!(err("340282366920938463463374607431768211456").contains("too large"));
        assert!(err(&format!("{}cpc", u128::MAX / CPC + 1)).contains("too large"));
        assert!(err("340282366920938463463374607431768211456cpc").contains("too large"));
        for garbage in ["", "cpc", "abc", "1.5eth", "1e18", "1,5cpc", ".5cpc", "5.cpc", "1..5cpc", "+1cpc", "0x10", "1 5cpc", "1.5 cpc cpc"] {
            assert!(parse_amount_arg(garbage).is_err(), "{garbage:?} accepted");
        }
    }

    #[test]
    fn shown_amounts_name_both_units() {
        assert_eq!(show_amount(CPC * 3 / 2), format!("{} (1500000000000000000 base units)", format_cpc(CPC * 3 / 2)));
    }
}
