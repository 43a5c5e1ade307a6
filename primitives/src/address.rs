//! Addresses: bech32 (BIP-173) over the first 20 bytes of `H(public_key)`.

use crate::crypto::PublicKey;
use crate::hash::sha256;
use bech32::{primitives::decode::CheckedHrpstring, Bech32, Hrp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// HRP of account addresses.
pub const ACCOUNT_HRP: &str = "cpc";
/// HRP of validator consensus addresses.
pub const VALCONS_HRP: &str = "cpcvalcons";

/// An account address (`cpc1…`): 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

/// A validator consensus address (`cpcvalcons1…`): the same 20 bytes, another HRP.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValconsAddress(pub [u8; 20]);

/// An address string that is not what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address {found:?} is not valid bech32 (BIP-173): {reason}")]
    Bech32 { found: String, reason: String },
    #[error("expected address prefix {expected:?}, found {found:?}")]
    Hrp { expected: &'static str, found: String },
    #[error("expected a 20-byte address, found {0} bytes")]
    Length(usize),
    #[error("address {0:?} must be written in lowercase")]
    NotLowercase(String),
}

fn key_hash20(pk: &PublicKey) -> [u8; 20] {
    let h = sha256(&pk.0);
    let mut out = [0u8; 20];
    out.copy_from_slice(&h.0[..20]);
    out
}

fn encode(hrp: &'static str, bytes: &[u8; 20]) -> String {
    bech32::encode::<Bech32>(Hrp::parse_unchecked(hrp), bytes).expect("20 bytes always encode")
}

fn decode(hrp: &'static str, s: &str) -> Result<[u8; 20], AddressError> {
    // Canonical text only: BIP-173 also allows all-uppercase, but the signing bytes carry the
    // address as written, so one address must have one spelling.
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(AddressError::NotLowercase(s.to_string()));
    }
    let checked = CheckedHrpstring::new::<Bech32>(s)
        .map_err(|e| AddressError::Bech32 { found: s.to_string(), reason: e.to_string() })?;
    if checked.hrp().as_str() != hrp {
        return Err(AddressError::Hrp { expected: hrp, found: checked.hrp().to_string() });
    }
    let data: Vec<u8> = checked.byte_iter().collect();
    if data.len() != 20 {
        return Err(AddressError::Length(data.len()));
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(&data);
    Ok(out)
}

impl Address {
    pub fn from_public_key(pk: &PublicKey) -> Self {
        Address(key_hash20(pk))
    }
    pub fn to_valcons(&self) -> ValconsAddress {
        ValconsAddress(self.0)
    }
}

impl ValconsAddress {
    pub fn from_public_key(pk: &PublicKey) -> Self {
        ValconsAddress(key_hash20(pk))
    }
}

macro_rules! address_impls {
    ($t:ty, $hrp:expr) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode($hrp, &self.0))
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode($hrp, &self.0))
            }
        }
        impl FromStr for $t {
            type Err = AddressError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                decode($hrp, s).map(Self)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
address_impls!(Address, ACCOUNT_HRP);
address_impls!(ValconsAddress, VALCONS_HRP);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let a = Address([3u8; 20]);
        let s = a.to_string();
        assert!(s.starts_with("cpc1") && s.len() == 42, "{s}");
        assert_eq!(s.parse::<Address>().unwrap(), a);
        assert_eq!(
            s.to_uppercase().parse::<Address>().unwrap_err(),
            AddressError::NotLowercase(s.to_uppercase())
        );
        let v = a.to_valcons().to_string();
        assert!(matches!(v.parse::<Address>(), Err(AddressError::Hrp { expected: "cpc", .. })));
        let mut bad = s.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'q' { 'p' } else { 'q' });
        assert!(matches!(bad.parse::<Address>(), Err(AddressError::Bech32 { .. })));
    }

    #[test]
    fn bech32m_is_refused() {
        let m = bech32::encode::<bech32::Bech32m>(Hrp::parse_unchecked("cpc"), &[1u8; 20]).unwrap();
        assert!(matches!(m.parse::<Address>(), Err(AddressError::Bech32 { .. })));
    }
}
