//! PoC v2 shares (PROTOCOL.md, "Shares (v2)"): the `share_target` carried in every header,
//! its per-block retarget (the aserti3-2d polynomial), and how people read it (difficulty).
//!
//! Pure integer arithmetic: every node must reach the same target bit for bit.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest target (every result is a share): `2⁶⁴ − 1`.
pub const MAX_SHARE_TARGET: u64 = u64::MAX;

/// A share target: a synthetic result is a share if its share value is `≤` the target of its
/// tip block. In JSON: 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ShareTarget(pub u64);

impl ShareTarget {
    pub const MAX: ShareTarget = ShareTarget(MAX_SHARE_TARGET);

    /// 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses exactly 16 lowercase hex digits.
    pub fn from_hex(s: &str) -> Result<ShareTarget, String> {
        let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(format!("share_target: expected 16 lowercase hex digits, found {s:?}"));
        }
        u64::from_str_radix(s, 16).map(ShareTarget).map_err(|e| format!("share_target {s:?}: {e}"))
    }

    /// Expected tasks per share: `2⁶⁴ / (target + 1)`.
    pub fn difficulty(&self) -> f64 {
        18_446_744_073_709_551_616.0 / (self.0 as f64 + 1.0)
    }

    /// Probability that one task is a share: `(target + 1) / 2⁶⁴`.
    pub fn share_probability(&self) -> f64 {
        (self.0 as f64 + 1.0) / 18_446_744_073_709_551_616.0
    }
}

impl std::fmt::Display for ShareTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for ShareTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ShareTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ShareTarget::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// The share target of block h from its parent's target `t` and the number `s` of synthetic
/// results block h holds, with `S` = `shares_per_block` and `τ` = `halflife` (both ≥ 1):
///
/// ```text
/// e = ((S − s) · 65536) // (S · τ);  k = e // 65536;  f = e − 65536·k
/// m = 65536 + ((195766423245049·f + 971821376·f² + 5127·f³ + 2⁴⁷) >> 48)
/// x = (t · m · 2^k  or  t · m // 2^(−k)) // 65536;  target = min(max(x, 1), 2⁶⁴ − 1)
/// ```
///
/// `//` is floor division (toward −∞). Panics if `S` or `τ` is 0 (genesis refuses both).
pub fn next_share_target(parent: ShareTarget, synthetic: u64, shares_per_block: u64, halflife: u64) -> ShareTarget {
    assert!(shares_per_block >= 1 && halflife >= 1, "shares_per_block and share_halflife are at least 1");
    let s_big = shares_per_block as i128;
    let num = (s_big - synthetic as i128) * 65536;
    let den = s_big * halflife as i128; // ≤ 2¹²⁸ / 2: both factors are u64
    let e = num.div_euclid(den);
    let k = e.div_euclid(65536);
    let f = e.rem_euclid(65536) as u128; // 0 ≤ f < 65536
    let poly = 195_766_423_245_049u128 * f + 971_821_376u128 * f * f + 5127u128 * f * f * f + (1u128 << 47);
    let m = 65536u128 + (poly >> 48); // < 2¹⁷
    let x = parent.0 as u128 * m; // < 2⁸¹
    let x = if k >= 0 {
        // k ≥ 1 only when s = 0 and τ = 1 (e = 65536): the shift stays far below 128 bits.
        let k = k as u32;
        if k >= 128 - 81 { u128::MAX } else { x << k }
    } else {
        let shift = -k;
        if shift >= 128 { 0 } else { x >> shift as u32 }
    };
    let x = x / 65536;
    ShareTarget(x.clamp(1, MAX_SHARE_TARGET as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let t = ShareTarget(0x00ab_cdef_0123_4567);
        assert_eq!(t.to_hex(), "00abcdef01234567");
        assert_eq!(ShareTarget::from_hex("00abcdef01234567"), Ok(t));
        assert!(ShareTarget::from_hex("00ABCDEF01234567").is_err(), "uppercase");
        assert!(ShareTarget::from_hex("abcdef01234567").is_err(), "short");
        assert!(ShareTarget::from_hex("0x0bcdef01234567").is_err(), "prefix");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"00abcdef01234567\"");
    }

    #[test]
    fn a_block_of_s_shares_keeps_the_target() {
        for t in [1u64, 12345, 1 << 40, u64::MAX] {
            assert_eq!(next_share_target(ShareTarget(t), 8, 8, 32), ShareTarget(t));
        }
    }

    #[test]
    fn the_target_stays_in_range() {
        assert_eq!(next_share_target(ShareTarget(1), 16, 8, 32), ShareTarget(1), "never 0");
        assert_eq!(next_share_target(ShareTarget::MAX, 0, 8, 32), ShareTarget::MAX, "never above 2^64-1");
        // An absurd count (far above any M) drives the shift past 128 bits: still 1, no panic.
        assert_eq!(next_share_target(ShareTarget::MAX, u64::MAX, 1, 1), ShareTarget(1));
        // τ = 1 and no shares: k = 1, the target doubles.
        assert_eq!(next_share_target(ShareTarget(1000), 0, 8, 1), ShareTarget(2000));
    }

    #[test]
    fn difficulty_reads_tasks_per_share() {
        assert_eq!(ShareTarget::MAX.difficulty(), 1.0);
        assert_eq!(ShareTarget((1u64 << 60) - 1).difficulty(), 16.0);
    }
}
