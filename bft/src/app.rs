//! The application side of Malachite's channel interface. Consensus decides block hashes; the
//! [`Application`] builds, checks, stores and commits the blocks themselves. This loop only
//! moves messages: it streams proposals as parts, reassembles received streams (bounded per
//! publisher), keeps undecided proposals for restreaming and crash recovery, and answers sync.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use eyre::{Result, eyre};
use malachitebft_app::types::core::{
    CommitCertificate, ExtendedCommitCertificate, HeightParams, LinearTimeouts, Round, Validity,
};
use malachitebft_app::types::streaming::{Sequence, StreamId, StreamMessage};
use malachitebft_app::types::sync::RawDecidedValue;
use malachitebft_app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_engine::host::{Next, SyncedValueOutcome};
use malachitebft_engine::util::streaming::StreamContent;
use tracing::{debug, info, warn};

use crate::context::{
    BlockId, BlockValue, CpcContext, Height, PART_BYTES, ProposalPart, ValAddr, ValidatorSet,
    round_from_i64,
};

/// The largest block a proposal stream may carry; a longer stream is dropped.
pub const MAX_PROPOSAL_BYTES: usize = 32 * 1024 * 1024;
/// Streams kept open per publisher at once; an older one is dropped to make room.
pub const MAX_STREAMS_PER_PEER: usize = 4;
/// Complete proposals for the height after the next one kept until that height starts.
pub const MAX_EARLY_PROPOSALS: usize = 8;

/// What cpcd gives consensus: blocks and their checks. Heights are block heights (genesis 0).
pub trait Application: Send + 'static {
    /// The last committed height.
    fn committed_height(&self) -> u64;
    /// The validator set that decides `height`.
    fn validator_set(&self, height: u64) -> ValidatorSet;
    /// The time a height should take, proposal to the next height (the chain's block time);
    /// consensus keeps collecting precommits until then. None: start the next height at once.
    fn target_time(&self) -> Option<Duration> {
        None
    }
    /// Builds and signs a block at `height` for `round` on the last committed block; returns
    /// its hash and bytes.
    fn build(&mut self, height: u64, round: u32) -> Result<(BlockId, Vec<u8>)>;
    /// Checks a block proposed (or decided) at `height` in `round`: decodable, built on our last
    /// committed block, naming a round no later than `round` and built by the proposer the
    /// validator set chose for the round it names, valid in full. Returns its hash, or why it
    /// is refused.
    fn validate(
        &mut self,
        height: u64,
        round: u32,
        bytes: &[u8],
    ) -> std::result::Result<BlockId, String>;
    /// The id a block's bytes would have if valid (its hash), for a block that `validate`
    /// refused: consensus may still decide it, and this node then commits it if it checks now.
    /// None: the bytes do not decode as a block.
    fn block_id(&self, _bytes: &[u8]) -> Option<BlockId> {
        None
    }
    /// Commits the decided block with its certificate (durably, before returning).
    fn commit(
        &mut self,
        height: u64,
        bytes: &[u8],
        cert: &CommitCertificate<CpcContext>,
    ) -> Result<()>;
    /// A committed block and its certificate, for peers that sync.
    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate<CpcContext>)>;
    /// Misbehaviour that consensus proved at `height` (double votes, two proposals).
    fn evidence(
        &mut self,
        height: u64,
        evidence: &malachitebft_app::types::MisbehaviorEvidence<CpcContext>,
    );
}

/// A proposal this node has seen complete (built, received or synced), as consensus was told
/// of it, with the block's bytes; kept until its height is committed.
#[derive(Clone)]
struct Undecided {
    value: ProposedValue<CpcContext>,
    bytes: Bytes,
    /// When this node held it complete (the start of its commit latency).
    at: std::time::Instant,
}

impl Undecided {
    fn id(&self) -> BlockId {
        self.value.value.0
    }
}

#[derive(Default)]
struct Stream {
    init: Option<(Height, Round, Round, ValAddr)>,
    parts: BTreeMap<Sequence, Vec<u8>>,
    /// Where the `ProposalPart::Fin` part and the stream's own end marker arrived.
    fin_part: Option<Sequence>,
    end: Option<Sequence>,
    bytes: usize,
    opened: u64,
}

/// Reassembles proposal streams, keyed by (publisher, stream id).
#[derive(Default)]
struct Streams {
    open: HashMap<(PeerId, StreamId), Stream>,
    clock: u64,
}

impl Streams {
    /// Adds one message; returns the proposal when its stream is complete.
    fn insert(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<(Height, Round, Round, ValAddr, Vec<u8>)> {
        let key = (publisher, msg.stream_id.clone());
        if !self.open.contains_key(&key) {
            let mine: Vec<_> = self
                .open
                .keys()
                .filter(|(p, _)| *p == publisher)
                .cloned()
                .collect();
            if mine.len() >= MAX_STREAMS_PER_PEER {
                let oldest = mine.into_iter().min_by_key(|k| self.open[k].opened)?;
                self.open.remove(&oldest);
            }
            self.clock += 1;
            self.open.insert(
                key.clone(),
                Stream {
                    opened: self.clock,
                    ..Stream::default()
                },
            );
        }
        let s = self.open.get_mut(&key)?;
        match msg.content {
            StreamContent::Fin => s.end = Some(msg.sequence),
            StreamContent::Data(ProposalPart::Fin) => s.fin_part = Some(msg.sequence),
            StreamContent::Data(ProposalPart::Init {
                height,
                round,
                pol_round,
                proposer,
            }) => {
                if msg.sequence != 0 {
                    self.open.remove(&key);
                    return None;
                }
                let (Ok(round), Ok(pol)) = (round_from_i64(round), round_from_i64(pol_round))
                else {
                    self.open.remove(&key);
                    return None;
                };
                s.init = Some((height, round, pol, proposer));
            }
            StreamContent::Data(ProposalPart::Data(chunk)) => {
                s.bytes += chunk.len();
                if s.bytes > MAX_PROPOSAL_BYTES {
                    warn!(%publisher, "proposal stream over {MAX_PROPOSAL_BYTES} bytes dropped");
                    self.open.remove(&key);
                    return None;
                }
                s.parts.insert(msg.sequence, chunk);
            }
        }
        // Complete when Init (0), a data part at every sequence up to the Fin part, and the
        // end marker right after it have all arrived (in any order).
        let (fin, end) = (s.fin_part?, s.end?);
        s.init?;
        if end != fin + 1
            || s.parts.len() as u64 != fin.saturating_sub(1)
            || s.parts.keys().next_back().is_some_and(|&k| k >= fin)
        {
            if end != fin + 1 {
                self.open.remove(&key);
            }
            return None;
        }
        let init = s.init?;
        let s = self.open.remove(&key)?;
        let bytes = s.parts.into_values().flatten().collect();
        Some((init.0, init.1, init.2, init.3, bytes))
    }
}

/// The consensus timeouts: generous enough that the proposer can build and every validator
/// can check a block with the most shares before the prevote step gives up on it.
pub fn timeouts(propose: Duration) -> LinearTimeouts {
    LinearTimeouts {
        propose,
        propose_delta: propose / 2,
        prevote: Duration::from_millis(500),
        prevote_delta: Duration::from_millis(250),
        precommit: Duration::from_millis(500),
        precommit_delta: Duration::from_millis(250),
        rebroadcast: propose + Duration::from_secs(1),
        max_timeout: Duration::from_secs(60),
    }
}

fn params(app: &impl Application, height: u64, propose: Duration) -> HeightParams<CpcContext> {
    HeightParams::new(
        app.validator_set(height),
        timeouts(propose),
        app.target_time(),
    )
}

/// The stream of one proposal: its id is `(height, round)`, unique per publisher.
fn stream_parts(
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValAddr,
    bytes: &[u8],
) -> Vec<StreamMessage<ProposalPart>> {
    let id = stream_id(height, round);
    let mut out = vec![ProposalPart::Init {
        height,
        round: round.as_i64(),
        pol_round: pol_round.as_i64(),
        proposer,
    }];
    out.extend(
        bytes
            .chunks(PART_BYTES)
            .map(|c| ProposalPart::Data(c.to_vec())),
    );
    out.push(ProposalPart::Fin);
    let n = out.len() as u64;
    let mut msgs: Vec<_> = out
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    msgs.push(StreamMessage::new(id, n, StreamContent::Fin));
    msgs
}

async fn publish(
    channels: &Channels<CpcContext>,
    parts: Vec<StreamMessage<ProposalPart>>,
) -> Result<()> {
    for m in parts {
        channels
            .network
            .send(NetworkMsg::PublishProposalPart(m))
            .await?;
    }
    Ok(())
}

fn stream_id(height: Height, round: Round) -> StreamId {
    let mut b = height.0.to_be_bytes().to_vec();
    b.extend_from_slice(&round.as_i64().to_be_bytes());
    StreamId::new(b.into())
}

/// Checks a complete proposal for the next height and keeps it (valid or not) until the
/// height is committed; returns what consensus is told of it.
fn check<A: Application>(
    app: &mut A,
    undecided: &mut BTreeMap<u64, Vec<Undecided>>,
    height: Height,
    round: u32,
    pol_round: Round,
    proposer: ValAddr,
    bytes: Vec<u8>,
) -> ProposedValue<CpcContext> {
    let (id, validity) = match app.validate(height.0, round, &bytes) {
        Ok(id) => (id, Validity::Valid),
        Err(why) => {
            warn!(%height, round, %proposer, "proposal refused: {why}");
            let id = app
                .block_id(&bytes)
                .unwrap_or(BlockId(cpc_primitives::sha256(&bytes).0));
            (id, Validity::Invalid)
        }
    };
    let value = ProposedValue {
        height,
        round: Round::new(round),
        valid_round: pol_round,
        proposer,
        value: BlockValue(id),
        validity,
    };
    let seen = undecided.entry(height.0).or_default();
    if !seen
        .iter()
        .any(|u| u.id() == id && u.value.round == value.round)
    {
        seen.push(Undecided {
            value: value.clone(),
            bytes: Bytes::from(bytes),
            at: std::time::Instant::now(),
        });
    }
    value
}

/// A test-only Byzantine validator (`cpcd --bft.test-equivocate`): whenever it proposes, it
/// also signs and publishes a second proposal and a prevote for another block at the same
/// height and round — the double proposal and double vote that honest validators must report
/// as evidence without ever deciding two blocks.
pub struct Equivocator {
    pub key: std::sync::Arc<cpc_primitives::SecretKey>,
    pub address: ValAddr,
    pub network: malachitebft_engine::network::NetworkRef<CpcContext>,
}

impl Equivocator {
    fn equivocate(&self, height: Height, round: Round, real: BlockId) {
        use malachitebft_app::types::core::{NilOrVal, SignedProposal, SignedVote, VoteType};
        use malachitebft_core_consensus::SignedConsensusMsg;
        use malachitebft_engine::network::Msg;
        let other = BlockId(cpc_primitives::sha256(&[&real.0[..], b"equivocation"].concat()).0);
        let p = crate::context::Proposal {
            height,
            round,
            value: BlockValue(other),
            pol_round: Round::Nil,
            proposer: self.address,
        };
        let sp = SignedProposal::new(
            p.clone(),
            crate::context::Sig(self.key.sign(&p.signing_bytes()).0),
        );
        let v = crate::context::Vote::new(
            VoteType::Prevote,
            height,
            round,
            NilOrVal::Val(other),
            self.address,
        );
        let sv = SignedVote::new(
            v.clone(),
            crate::context::Sig(self.key.sign(&v.signing_bytes()).0),
        );
        warn!(%height, %round, %other, "test-equivocate: publishing a second proposal and prevote");
        let _ = self
            .network
            .cast(Msg::PublishConsensusMsg(SignedConsensusMsg::Proposal(sp)));
        let _ = self
            .network
            .cast(Msg::PublishConsensusMsg(SignedConsensusMsg::Vote(sv)));
    }
}

/// What the loop reports besides the application: metrics, and the test-only equivocator.
#[derive(Default)]
pub struct Extras {
    pub metrics: Option<crate::metrics::BftMetrics>,
    pub equivocator: Option<Equivocator>,
}

/// Runs the application side until consensus closes its channel.
pub async fn run<A: Application>(
    mut app: A,
    mut channels: Channels<CpcContext>,
    propose_timeout: Duration,
    extras: Extras,
) -> Result<()> {
    let metrics = extras.metrics;
    let mut undecided: BTreeMap<u64, Vec<Undecided>> = BTreeMap::new();
    let mut streams = Streams::default();
    let mut early: BTreeMap<u64, Vec<(u32, Round, ValAddr, Vec<u8>)>> = BTreeMap::new();

    while let Some(msg) = channels.consensus.recv().await {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let next = app.committed_height() + 1;
                info!(height = next, "consensus ready");
                let _ = reply.send((Height(next), params(&app, next, propose_timeout)));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(%height, %round, %proposer, ?role, early = early.len(), "round started");
                if let Some(m) = &metrics {
                    m.height.set(height.0 as i64);
                    m.round.set(round.as_i64());
                }
                early = early.split_off(&height.0);
                if let Some(parts) = early.remove(&height.0) {
                    for (r, pol_round, by, bytes) in parts {
                        check(&mut app, &mut undecided, height, r, pol_round, by, bytes);
                    }
                }
                let seen = undecided
                    .get(&height.0)
                    .into_iter()
                    .flatten()
                    .filter(|u| u.value.round == round)
                    .map(|u| u.value.clone())
                    .collect();
                let _ = reply_value.send(seen);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout: _,
                reply,
            } => {
                let r = round
                    .as_u32()
                    .ok_or_else(|| eyre!("GetValue for a nil round"))?;
                let (id, bytes) = app.build(height.0, r)?;
                let me = app.validator_set(height.0).proposer(height, round).address;
                let value = ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer: me,
                    value: BlockValue(id),
                    validity: Validity::Valid,
                };
                let bytes = Bytes::from(bytes);
                undecided.entry(height.0).or_default().push(Undecided {
                    value,
                    bytes: bytes.clone(),
                    at: std::time::Instant::now(),
                });
                let _ = reply.send(LocallyProposedValue::new(height, round, BlockValue(id)));
                if let Some(e) = &extras.equivocator {
                    e.equivocate(height, round, id);
                }
                publish(
                    &channels,
                    stream_parts(height, round, Round::Nil, me, &bytes),
                )
                .await?;
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                let found = undecided
                    .get(&height.0)
                    .and_then(|us| us.iter().find(|u| u.id() == value_id))
                    .cloned();
                match found {
                    Some(u) => {
                        let r = if valid_round.is_defined() {
                            round
                        } else {
                            u.value.round
                        };
                        publish(
                            &channels,
                            stream_parts(height, r, valid_round, address, &u.bytes),
                        )
                        .await?;
                    }
                    None => {
                        warn!(%height, %value_id, "asked to restream a proposal this node does not have")
                    }
                }
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let publisher = published_by.unwrap_or(from);
                let Some((height, round, pol_round, proposer, bytes)) =
                    streams.insert(publisher, part)
                else {
                    let _ = reply.send(None);
                    continue;
                };
                if height.0 <= app.committed_height() {
                    let _ = reply.send(None);
                    continue;
                }
                let set = app.validator_set(height.0);
                // The stream's proposer must be the one chosen for its round (the block inside
                // names its builder's round; the application checks that one).
                if set.proposer(height, round).address != proposer {
                    warn!(%height, %round, %proposer, "proposal stream from a validator whose turn it is not");
                    let _ = reply.send(None);
                    continue;
                }
                let Some(r) = round.as_u32() else {
                    let _ = reply.send(None);
                    continue;
                };
                let next = app.committed_height() + 1;
                debug!(%height, next, %round, "proposal complete");
                if height.0 == next + 1 {
                    // The next proposer may start height h+1 before this node has committed h:
                    // keep its proposal (bounded) and check it when the height's round starts.
                    if early.values().map(Vec::len).sum::<usize>() < MAX_EARLY_PROPOSALS {
                        early
                            .entry(height.0)
                            .or_default()
                            .push((r, pol_round, proposer, bytes));
                    }
                    let _ = reply.send(None);
                    continue;
                }
                if height.0 != next {
                    // Further ahead, sync fetches blocks with their certificates instead.
                    let _ = reply.send(None);
                    continue;
                }
                let _ = reply.send(Some(check(
                    &mut app,
                    &mut undecided,
                    height,
                    r,
                    pol_round,
                    proposer,
                    bytes,
                )));
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                // cpcd disables vote extensions: any that arrive are refused.
                let verdicts = extensions
                    .into_iter()
                    .map(|(a, _)| (a, Err(malachitebft_app::consensus::VoteExtensionError::InvalidVoteExtension)))
                    .collect();
                let _ = reply.send(verdicts);
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                let h = certificate.height.0;
                // Any held block with the decided id, even one this node refused when it was
                // proposed (a timestamp ahead of our clock then): `commit` checks it again in
                // full, and a block that still fails stops the node with the reason instead of
                // leaving it one height behind the network forever.
                let block = undecided
                    .get(&h)
                    .and_then(|us| us.iter().find(|u| u.id() == certificate.value_id))
                    .map(|u| (u.bytes.clone(), u.at));
                match block {
                    Some((bytes, at)) if h == app.committed_height() + 1 => {
                        app.commit(h, &bytes, &certificate)?;
                        info!(height = h, round = %certificate.round, signers = certificate.commit_signatures.len(), "committed");
                        if let Some(m) = &metrics {
                            m.commit_latency.observe(at.elapsed().as_secs_f64());
                            let rounds = certificate.round.as_u32().unwrap_or(0);
                            m.rounds_per_height.observe(rounds as f64 + 1.0);
                            let set = app.validator_set(h);
                            for r in 0..rounds {
                                let who = set.proposer(Height(h), Round::new(r)).address;
                                m.missed_proposals
                                    .with_label_values(&[&who.to_string()])
                                    .inc();
                            }
                        }
                        undecided = undecided.split_off(&(h + 1));
                    }
                    Some(_) => warn!(
                        height = h,
                        committed = app.committed_height(),
                        "decided a height out of order"
                    ),
                    None => {
                        warn!(height = h, id = %certificate.value_id, "decided a block this node does not hold")
                    }
                }
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate,
                evidence,
                reply,
                ..
            } => {
                let h = certificate.height.0;
                if !evidence.is_empty() {
                    app.evidence(h, &evidence);
                }
                let committed = app.committed_height();
                let next = if committed >= h {
                    Next::Start(
                        Height(committed + 1),
                        params(&app, committed + 1, propose_timeout),
                    )
                } else {
                    Next::Restart(Height(h), params(&app, h, propose_timeout))
                };
                let _ = reply.send(next);
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let (lo, hi) = (range.start().0, range.end().0.min(app.committed_height()));
                let mut out = Vec::new();
                for h in lo..=hi {
                    let Some((bytes, cert)) = app.decided(h) else {
                        break;
                    };
                    let ext = ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                        cert,
                        Default::default(),
                    );
                    out.push(RawDecidedValue::new(bytes.into(), ext));
                }
                let _ = reply.send(out);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                if height.0 != app.committed_height() + 1 {
                    let _ = reply.send(SyncedValueOutcome::LocalTransientError);
                    continue;
                }
                let Some(r) = round.as_u32() else {
                    let _ = reply.send(SyncedValueOutcome::PeerFault);
                    continue;
                };
                let outcome = match app.validate(height.0, r, &value_bytes) {
                    Ok(id) => {
                        let value = ProposedValue {
                            height,
                            round,
                            valid_round: Round::Nil,
                            proposer,
                            value: BlockValue(id),
                            validity: Validity::Valid,
                        };
                        undecided.entry(height.0).or_default().push(Undecided {
                            value: value.clone(),
                            bytes: value_bytes,
                            at: std::time::Instant::now(),
                        });
                        SyncedValueOutcome::Verdict(value)
                    }
                    Err(why) => {
                        warn!(%height, "synced block refused: {why}");
                        SyncedValueOutcome::PeerFault
                    }
                };
                let _ = reply.send(outcome);
            }
        }
    }
    Err(eyre!(
        "consensus stopped: its channel to the application closed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u8) -> PeerId {
        let k = malachitebft_app::types::Keypair::ed25519_from_bytes([i; 32]).unwrap();
        PeerId::from_bytes(&k.public().to_peer_id().to_bytes()).unwrap()
    }

    fn parts(n: usize) -> (Vec<StreamMessage<ProposalPart>>, Vec<u8>) {
        let bytes: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let msgs = stream_parts(
            Height(3),
            Round::new(1),
            Round::Nil,
            ValAddr([4; 20]),
            &bytes,
        );
        (msgs, bytes)
    }

    #[test]
    fn streams_reassemble_in_any_order_and_leave_nothing_open() {
        let (mut msgs, bytes) = parts(3 * PART_BYTES + 5);
        msgs.reverse();
        let mut s = Streams::default();
        let p = peer(1);
        let mut done = None;
        for m in msgs {
            assert!(done.is_none(), "complete before the last message");
            done = s.insert(p, m);
        }
        let (h, r, pol, who, got) = done.expect("the stream completes");
        assert_eq!(
            (h, r, pol, who),
            (Height(3), Round::new(1), Round::Nil, ValAddr([4; 20]))
        );
        assert_eq!(got, bytes);
        assert!(
            s.open.is_empty(),
            "a completed stream leaves an entry behind"
        );
    }

    #[test]
    fn a_stream_missing_a_part_or_its_init_never_completes() {
        let (msgs, _) = parts(2 * PART_BYTES);
        for skip in 0..msgs.len() {
            let mut s = Streams::default();
            let p = peer(1);
            for (i, m) in msgs.iter().enumerate() {
                if i != skip {
                    assert!(
                        s.insert(p, m.clone()).is_none(),
                        "completed without message {skip}"
                    );
                }
            }
        }
    }

    #[test]
    fn open_streams_per_publisher_are_bounded() {
        let mut s = Streams::default();
        let p = peer(1);
        for r in 0..(MAX_STREAMS_PER_PEER as u32 + 3) {
            let id = stream_id(Height(1), Round::new(r));
            s.insert(
                p,
                StreamMessage::new(id, 1, StreamContent::Data(ProposalPart::Data(vec![0; 10]))),
            );
        }
        assert_eq!(s.open.len(), MAX_STREAMS_PER_PEER);
        // Another publisher has its own room.
        s.insert(peer(2), parts(10).0.remove(0));
        assert_eq!(s.open.len(), MAX_STREAMS_PER_PEER + 1);
    }
}
