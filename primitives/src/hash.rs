//! SHA-256 and the 32-byte hash type used everywhere (`H(x)` in PROTOCOL.md).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A 32-byte SHA-256 digest. Displayed and serialized as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct H256(pub [u8; 32]);

impl H256 {
    pub const ZERO: H256 = H256([0u8; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        let bytes = decode_hex_exact::<32>(s)?;
        Ok(H256(bytes))
    }
}

impl fmt::Display for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "H256({})", self.to_hex())
    }
}

impl FromStr for H256 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        H256::from_hex(s)
    }
}

impl Serialize for H256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for H256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        H256::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A hex string that is not what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} hex digits, found {found}")]
    Length { expected: usize, found: usize },
    #[error("expected lowercase hex digits (0-9, a-f), found {0:?}")]
    Digit(char),
}

/// Decodes lowercase hex of exactly `N` bytes (PROTOCOL.md: hex is lowercase, no `0x`).
pub fn decode_hex_exact<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != 2 * N {
        return Err(HexError::Length { expected: 2 * N, found: s.len() });
    }
    let v = decode_hex(s)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&v);
    Ok(out)
}

/// Decodes lowercase hex of any even length.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, HexError> {
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(HexError::Digit(c));
    }
    if !s.len().is_multiple_of(2) {
        return Err(HexError::Length { expected: s.len() + 1, found: s.len() });
    }
    Ok(hex::decode(s).expect("checked digits and length"))
}

/// `H(data)`.
pub fn sha256(data: &[u8]) -> H256 {
    H256(Sha256::digest(data).into())
}

/// `H(a ‖ b ‖ …)` without building the concatenation.
pub fn sha256_concat(parts: &[&[u8]]) -> H256 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    H256(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_is_the_fips_vector() {
        assert_eq!(
            sha256(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_concat(&[b"a", b"bc"]), sha256(b"abc"));
    }

    #[test]
    fn hex_must_be_lowercase_and_exact_length() {
        let h = sha256(b"x");
        assert_eq!(H256::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(
            H256::from_hex(&h.to_hex().to_uppercase()).unwrap_err(),
            HexError::Digit(h.to_hex().to_uppercase().chars().find(|c| c.is_ascii_uppercase()).unwrap())
        );
        assert_eq!(H256::from_hex("ab").unwrap_err(), HexError::Length { expected: 64, found: 2 });
        assert!(decode_hex("0x00").is_err());
        assert!(decode_hex("abc").is_err());
    }
}
