//! The heads peers told us about (from `Status` answers and the blocks they gossip), for the
//! node's sync loop: who is ahead, and how far.

use crate::{PeerId, Status};
use cpc_primitives::H256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a peer that failed a sync request stays out of the book the first time; each
/// further failure doubles it, up to [`MAX_BENCH`].
pub const FIRST_BENCH: Duration = Duration::from_secs(30);
pub const MAX_BENCH: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct PeerBook {
    heads: Mutex<HashMap<PeerId, Status>>,
    /// Peers whose claims are not believed until the instant, with their failure count.
    benched: Mutex<HashMap<PeerId, (Instant, u32)>>,
}

impl PeerBook {
    fn heads(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Status>> {
        // A panic while holding the lock leaves only a map of heads behind: keep using it.
        self.heads.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Records a peer's head, unless the peer is benched.
    pub fn set(&self, p: PeerId, s: Status) {
        if self.is_benched(&p) {
            return;
        }
        self.heads().insert(p, s);
    }
    /// A peer claimed a head it did not deliver: out of the book, and its claims ignored for a
    /// while (doubling with each failure), so that sync never waits on it twice in a row.
    /// Returns how long.
    pub fn bench(&self, p: &PeerId) -> Duration {
        self.heads().remove(p);
        let mut b = self.benched.lock().unwrap_or_else(|e| e.into_inner());
        let strikes = b.get(p).map_or(0, |(_, n)| *n) + 1;
        let d = FIRST_BENCH.saturating_mul(1 << (strikes - 1).min(16)).min(MAX_BENCH);
        b.insert(*p, (Instant::now() + d, strikes));
        d
    }
    pub fn is_benched(&self, p: &PeerId) -> bool {
        let b = self.benched.lock().unwrap_or_else(|e| e.into_inner());
        b.get(p).is_some_and(|(until, _)| Instant::now() < *until)
    }
    /// A peer showed a block at `height`: its head is at least there.
    pub fn raise(&self, p: &PeerId, height: u64, hash: H256) {
        if self.is_benched(p) {
            return;
        }
        if let Some(s) = self.heads().get_mut(p)
            && height > s.head_height
        {
            s.head_height = height;
            s.head_hash = hash;
        }
    }
    pub fn remove(&self, p: &PeerId) {
        self.heads().remove(p);
    }
    /// Peers whose head is above `height`, highest first.
    pub fn ahead_of(&self, height: u64) -> Vec<(PeerId, u64)> {
        let mut v: Vec<(PeerId, u64)> =
            self.heads().iter().filter(|(_, s)| s.head_height > height).map(|(p, s)| (*p, s.head_height)).collect();
        v.sort_by_key(|(_, h)| std::cmp::Reverse(*h));
        v
    }
    pub fn best_height(&self) -> Option<u64> {
        self.heads().values().map(|s| s.head_height).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_only_rise_and_the_best_peers_come_first() {
        let book = PeerBook::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let st = |h| Status { chain_id: "c".into(), genesis_hash: H256::ZERO, head_height: h, head_hash: H256::ZERO };
        book.set(a, st(5));
        book.set(b, st(9));
        book.raise(&a, 3, H256([1; 32]));
        assert_eq!(book.ahead_of(0), vec![(b, 9), (a, 5)], "a lower block does not lower a head");
        book.raise(&a, 12, H256([1; 32]));
        assert_eq!(book.best_height(), Some(12));
        assert_eq!(book.ahead_of(9), vec![(a, 12)]);
        book.remove(&a);
        assert_eq!(book.best_height(), Some(9));
    }

    #[test]
    fn a_benched_peer_is_not_believed_and_its_bench_doubles() {
        let book = PeerBook::default();
        let liar = PeerId::random();
        let st = |h| Status { chain_id: "c".into(), genesis_hash: H256::ZERO, head_height: h, head_hash: H256::ZERO };
        book.set(liar, st(1_000_000));
        assert_eq!(book.bench(&liar), FIRST_BENCH);
        assert_eq!(book.best_height(), None, "out of the book");
        book.set(liar, st(1_000_000));
        book.raise(&liar, 2_000_000, H256::ZERO);
        assert_eq!(book.best_height(), None, "its claims are ignored while benched");
        assert_eq!(book.bench(&liar), 2 * FIRST_BENCH);
        for _ in 0..20 {
            book.bench(&liar);
        }
        assert_eq!(book.bench(&liar), MAX_BENCH);
    }
}
