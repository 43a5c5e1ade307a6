//! Amounts: unsigned base units (1 CPC = 10^18 units) as `u128`, decimal strings in JSON.

/// Base units per CPC.
pub const UNITS_PER_CPC: u128 = 1_000_000_000_000_000_000;

/// A decimal amount string that is not canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("expected a decimal string of digits, found {0:?}")]
    NotDigits(String),
    #[error("expected no leading zeros in amount, found {0:?}")]
    LeadingZero(String),
    #[error("amount {0:?} does not fit in 128 bits")]
    Overflow(String),
}

/// Parses a canonical decimal string: digits only, no sign, no leading zeros (so that
/// re-encoding gives the same signing bytes).
pub fn parse_amount(s: &str) -> Result<u128, AmountError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotDigits(s.to_string()));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(AmountError::LeadingZero(s.to_string()));
    }
    s.parse::<u128>().map_err(|_| AmountError::Overflow(s.to_string()))
}

/// Formats base units as CPC with up to 18 decimals, e.g. `1.5 CPC`.
pub fn format_cpc(units: u128) -> String {
    let whole = units / UNITS_PER_CPC;
    let frac = units % UNITS_PER_CPC;
    if frac == 0 {
        format!("{whole} CPC")
    } else {
        let f = format!("{frac:018}");
        format!("{whole}.{} CPC", f.trim_end_matches('0'))
    }
}

/// `#[serde(with = "dec_u128")]`: a `u128` as a canonical decimal string.
pub mod dec_u128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_amount(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_decimal_strings_only() {
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount("1000000000000000000"), Ok(UNITS_PER_CPC));
        assert_eq!(parse_amount(&u128::MAX.to_string()), Ok(u128::MAX));
        assert_eq!(parse_amount("01"), Err(AmountError::LeadingZero("01".into())));
        assert_eq!(parse_amount("-1"), Err(AmountError::NotDigits("-1".into())));
        assert_eq!(parse_amount("+1"), Err(AmountError::NotDigits("+1".into())));
        assert_eq!(parse_amount(""), Err(AmountError::NotDigits("".into())));
        assert_eq!(parse_amount("1.5"), Err(AmountError::NotDigits("1.5".into())));
        let too_big = "340282366920938463463374607431768211456"; // u128::MAX + 1
        assert_eq!(parse_amount(too_big), Err(AmountError::Overflow(too_big.into())));
    }

    #[test]
    fn formats_cpc() {
        assert_eq!(format_cpc(UNITS_PER_CPC * 3 / 2), "1.5 CPC");
        assert_eq!(format_cpc(10 * UNITS_PER_CPC), "10 CPC");
        assert_eq!(format_cpc(1), "0.000000000000000001 CPC");
    }
}
