//! The heads peers told us about (from `Status` answers and the blocks they gossip), for the
//! node's sync loop: who is ahead, and how far.

use crate::{PeerId, Status};
use cpc_primitives::H256;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct PeerBook {
    heads: Mutex<HashMap<PeerId, Status>>,
}

impl PeerBook {
    fn heads(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Status>> {
        // A panic while holding the lock leaves only a map of heads behind: keep using it.
        self.heads.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn set(&self, p: PeerId, s: Status) {
        self.heads().insert(p, s);
    }
    /// A peer showed a block at `height`: its head is at least there.
    pub fn raise(&self, p: &PeerId, height: u64, hash: H256) {
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
}
