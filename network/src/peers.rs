//! Peer bookkeeping that does not touch the swarm: scores, bans and per-second rate counters.
//! Pure data with an injected clock (`now`), so every rule is unit-tested here.

use crate::{
    BAN_DURATION, BAN_THRESHOLD, MAX_GOSSIP_PER_PEER_PER_SEC, MAX_REQUESTS_PER_PEER_PER_SEC,
    RATE_WINDOW, SCORE_RECOVERY_GRACE, SCORE_RECOVERY_PER_TICK, Severity,
};
use libp2p::PeerId;
use std::collections::HashMap;
use std::time::Instant;

/// Score change for each severity.
pub fn penalty(severity: Severity) -> i32 {
    match severity {
        Severity::Minor => crate::MINOR_PENALTY,
        Severity::Major => crate::MAJOR_PENALTY,
        // Fatal bans at once whatever the score: a penalty that always crosses the threshold.
        Severity::Fatal => BAN_THRESHOLD,
    }
}

/// What a penalty did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenaltyOutcome {
    /// Score lowered; the peer stays.
    Lowered { score: i32 },
    /// Score reached BAN_THRESHOLD (or the severity was Fatal): the caller must ban the peer.
    Ban { score: i32 },
    /// The peer is already banned; nothing changes.
    AlreadyBanned,
}

/// Result of counting one message against a peer's per-second budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Within the budget.
    Ok,
    /// Over the budget. `first` is true for the first excess message of this window: the
    /// caller penalises once per window and drops every excess message.
    Exceeded { first: bool },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    gossip: u32,
    requests: u32,
}

#[derive(Default)]
pub struct PeerBook {
    scores: HashMap<PeerId, i32>,
    /// When each peer with a score was last penalised (recovery waits SCORE_RECOVERY_GRACE).
    last_penalty: HashMap<PeerId, Instant>,
    /// Banned peers and when their ban ends.
    bans: HashMap<PeerId, Instant>,
    windows: HashMap<PeerId, Window>,
}

#[derive(Clone, Copy)]
enum Kind {
    Gossip,
    Request,
}

impl PeerBook {
    pub fn score(&self, peer: &PeerId) -> i32 {
        self.scores.get(peer).copied().unwrap_or(0)
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.bans.contains_key(peer)
    }

    /// Lowers `peer`'s score by the severity's penalty, at `now`.
    pub fn penalize(&mut self, peer: PeerId, severity: Severity, now: Instant) -> PenaltyOutcome {
        if self.is_banned(&peer) {
            return PenaltyOutcome::AlreadyBanned;
        }
        self.last_penalty.insert(peer, now);
        let score = self.scores.entry(peer).or_insert(0);
        *score = score.saturating_add(penalty(severity)).max(BAN_THRESHOLD);
        if *score <= BAN_THRESHOLD || matches!(severity, Severity::Fatal) {
            PenaltyOutcome::Ban { score: *score }
        } else {
            PenaltyOutcome::Lowered { score: *score }
        }
    }

    /// Records a ban of BAN_DURATION from `now` (the caller blocks and disconnects the peer).
    pub fn ban(&mut self, peer: PeerId, now: Instant) {
        self.bans.insert(peer, now + BAN_DURATION);
        self.scores.insert(peer, BAN_THRESHOLD);
        self.windows.remove(&peer);
    }

    /// Removes and returns the peers whose ban has ended by `now`; they start again at score 0.
    pub fn expire_bans(&mut self, now: Instant) -> Vec<PeerId> {
        let done: Vec<PeerId> =
            self.bans.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for p in &done {
            self.bans.remove(p);
            self.scores.remove(p);
            self.last_penalty.remove(p);
        }
        done
    }

    /// One recovery step at `now`: every negative score of a peer that is not banned and was
    /// last penalised at least SCORE_RECOVERY_GRACE ago moves SCORE_RECOVERY_PER_TICK towards
    /// 0, so old, rare offences are forgiven while a burst of them adds up in full.
    pub fn recover_scores(&mut self, now: Instant) {
        let (bans, last_penalty) = (&self.bans, &mut self.last_penalty);
        self.scores.retain(|peer, score| {
            if bans.contains_key(peer) {
                return true;
            }
            let quiet = last_penalty
                .get(peer)
                .is_none_or(|t| now.saturating_duration_since(*t) >= SCORE_RECOVERY_GRACE);
            if quiet {
                *score = (*score + SCORE_RECOVERY_PER_TICK).min(0);
            }
            if *score == 0 {
                last_penalty.remove(peer);
            }
            *score != 0
        });
    }

    /// Forgets the rate window of a disconnected peer (its score and ban stay).
    pub fn forget_rates(&mut self, peer: &PeerId) {
        self.windows.remove(peer);
    }

    pub fn count_gossip(&mut self, peer: PeerId, now: Instant) -> Rate {
        self.count(peer, now, Kind::Gossip)
    }

    pub fn count_request(&mut self, peer: PeerId, now: Instant) -> Rate {
        self.count(peer, now, Kind::Request)
    }

    fn count(&mut self, peer: PeerId, now: Instant, kind: Kind) -> Rate {
        let w = self.windows.entry(peer).or_insert(Window { start: now, gossip: 0, requests: 0 });
        if now.duration_since(w.start) >= RATE_WINDOW {
            *w = Window { start: now, gossip: 0, requests: 0 };
        }
        let (n, limit) = match kind {
            Kind::Gossip => (&mut w.gossip, MAX_GOSSIP_PER_PEER_PER_SEC),
            Kind::Request => (&mut w.requests, MAX_REQUESTS_PER_PEER_PER_SEC),
        };
        *n = n.saturating_add(1);
        if *n <= limit {
            Rate::Ok
        } else {
            Rate::Exceeded { first: *n == limit + 1 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAJOR_PENALTY, MINOR_PENALTY};
    use std::time::Duration;

    fn peer() -> PeerId {
        PeerId::random()
    }

    #[test]
    fn penalties_accumulate_until_the_ban_threshold() {
        let mut b = PeerBook::default();
        let p = peer();
        let t0 = Instant::now();
        assert_eq!(b.penalize(p, Severity::Minor, t0), PenaltyOutcome::Lowered { score: MINOR_PENALTY });
        assert_eq!(
            b.penalize(p, Severity::Major, t0),
            PenaltyOutcome::Lowered { score: MINOR_PENALTY + MAJOR_PENALTY }
        );
        // -60 - 50 crosses -100: ban, score clamped at the threshold.
        assert_eq!(b.penalize(p, Severity::Major, t0), PenaltyOutcome::Ban { score: BAN_THRESHOLD });
    }

    #[test]
    fn fatal_bans_at_once() {
        let mut b = PeerBook::default();
        let p = peer();
        assert!(matches!(b.penalize(p, Severity::Fatal, Instant::now()), PenaltyOutcome::Ban { .. }));
    }

    #[test]
    fn bans_expire_after_ban_duration_and_reset_the_score() {
        let mut b = PeerBook::default();
        let p = peer();
        let t0 = Instant::now();
        b.ban(p, t0);
        assert!(b.is_banned(&p));
        assert_eq!(b.penalize(p, Severity::Minor, t0), PenaltyOutcome::AlreadyBanned);
        assert!(b.expire_bans(t0 + BAN_DURATION - Duration::from_millis(1)).is_empty());
        assert_eq!(b.expire_bans(t0 + BAN_DURATION), vec![p]);
        assert!(!b.is_banned(&p));
        assert_eq!(b.score(&p), 0);
    }

    #[test]
    fn scores_recover_towards_zero_but_not_while_banned() {
        let mut b = PeerBook::default();
        let (p, q) = (peer(), peer());
        let t0 = Instant::now();
        b.penalize(p, Severity::Minor, t0);
        b.ban(q, t0);
        let later = t0 + SCORE_RECOVERY_GRACE;
        b.recover_scores(later);
        assert_eq!(b.score(&p), MINOR_PENALTY + SCORE_RECOVERY_PER_TICK);
        assert_eq!(b.score(&q), BAN_THRESHOLD);
        for _ in 0..100 {
            b.recover_scores(later);
        }
        assert_eq!(b.score(&p), 0);
    }

    /// Two major offences close together ban, whenever the maintenance tick falls between
    /// them (it once left the peer at -99 after one tick of recovery in between).
    #[test]
    fn offences_within_the_grace_add_up_in_full() {
        let mut b = PeerBook::default();
        let p = peer();
        let t0 = Instant::now();
        assert_eq!(b.penalize(p, Severity::Major, t0), PenaltyOutcome::Lowered { score: MAJOR_PENALTY });
        for ms in [50, 1_000, 5_000, 9_999] {
            b.recover_scores(t0 + Duration::from_millis(ms));
        }
        assert_eq!(b.score(&p), MAJOR_PENALTY, "no recovery within the grace");
        let t1 = t0 + SCORE_RECOVERY_GRACE - Duration::from_millis(1);
        assert_eq!(b.penalize(p, Severity::Major, t1), PenaltyOutcome::Ban { score: BAN_THRESHOLD });
    }

    /// The grace counts from the latest penalty, and a peer that waits it out recovers.
    #[test]
    fn recovery_starts_a_grace_after_the_latest_penalty() {
        let mut b = PeerBook::default();
        let p = peer();
        let t0 = Instant::now();
        b.penalize(p, Severity::Minor, t0);
        let t1 = t0 + Duration::from_secs(5);
        b.penalize(p, Severity::Minor, t1);
        b.recover_scores(t0 + SCORE_RECOVERY_GRACE);
        assert_eq!(b.score(&p), 2 * MINOR_PENALTY, "5 s after the latest penalty: still waiting");
        b.recover_scores(t1 + SCORE_RECOVERY_GRACE);
        assert_eq!(b.score(&p), 2 * MINOR_PENALTY + SCORE_RECOVERY_PER_TICK);
    }

    #[test]
    fn request_rate_is_limited_per_window() {
        let mut b = PeerBook::default();
        let p = peer();
        let t0 = Instant::now();
        for _ in 0..MAX_REQUESTS_PER_PEER_PER_SEC {
            assert_eq!(b.count_request(p, t0), Rate::Ok);
        }
        assert_eq!(b.count_request(p, t0), Rate::Exceeded { first: true });
        assert_eq!(b.count_request(p, t0), Rate::Exceeded { first: false });
        // Gossip has its own budget.
        assert_eq!(b.count_gossip(p, t0), Rate::Ok);
        // A new window starts afresh.
        assert_eq!(b.count_request(p, t0 + RATE_WINDOW), Rate::Ok);
    }

    #[test]
    fn gossip_rate_is_limited_per_window() {
        let mut b = PeerBook::default();
        let p = peer();
        let t0 = Instant::now();
        for _ in 0..MAX_GOSSIP_PER_PEER_PER_SEC {
            assert_eq!(b.count_gossip(p, t0), Rate::Ok);
        }
        assert_eq!(b.count_gossip(p, t0), Rate::Exceeded { first: true });
        // Another peer is not affected.
        assert_eq!(b.count_gossip(peer(), t0), Rate::Ok);
    }
}
