//! The engine as Malachite's application: blocks are built by the engine's builder, checked
//! by its full validation (signature, share rule, PoC recomputation, execution, state root)
//! and committed with their certificate in one write. The proposer rule is this crate's:
//! a block must be built by the validator the set chose for the round its header names.

use std::sync::Arc;

use cpc_engine::Engine;
use cpc_primitives::Block;
use eyre::{Result, WrapErr, eyre};
use malachitebft_app::types::MisbehaviorEvidence;
use malachitebft_app::types::core::{CommitCertificate, Round};

use crate::app::{Application, MAX_PROPOSAL_BYTES};
use crate::certificate::{decode_certificate, encode_certificate};
use crate::context::{BlockId, CpcContext, Height, ValAddr, Validator, ValidatorSet};

/// cpcd's engine behind [`Application`].
pub struct EngineHost {
    engine: Arc<Engine>,
}

/// The set that decides `height` in the engine's state (its active set, with voting power in
/// whole CPC), in Malachite's types.
pub fn set_of(engine: &Engine, height: u64) -> Result<ValidatorSet> {
    let set = engine
        .validator_set(height)
        .map_err(|e| eyre!("validator set of height {height}: {e}"))?;
    Ok(ValidatorSet::new(
        set.members().map(|(k, p)| Validator::new(*k, p)).collect(),
    )?)
}

impl EngineHost {
    /// Each height is decided by the engine's active set for it (staking moves it).
    pub fn new(engine: Arc<Engine>) -> Result<Self> {
        set_of(&engine, engine.head().height + 1)?;
        Ok(EngineHost { engine })
    }

    fn blocking<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        // Validation and building take milliseconds to tens of milliseconds (PoC): keep them
        // off the runtime's scheduler while they run.
        tokio::task::block_in_place(|| f(&self.engine))
    }
}

fn check_size(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() > MAX_PROPOSAL_BYTES {
        return Err(format!(
            "proposal of {} bytes, at most {MAX_PROPOSAL_BYTES}",
            bytes.len()
        ));
    }
    Ok(())
}

/// The block a proposal carries and the blobs beside it ([`crate::proposal`]).
fn decode_proposal(
    bytes: &[u8],
) -> std::result::Result<(Block, Vec<cpc_primitives::blob::Blob>), String> {
    check_size(bytes)?;
    crate::proposal::decode(bytes)
}

fn decode_block(bytes: &[u8]) -> std::result::Result<Block, String> {
    check_size(bytes)?;
    let (json, _) = crate::proposal::split(bytes)?;
    serde_json::from_slice(json).map_err(|e| format!("undecodable block: {e}"))
}

impl Application for EngineHost {
    fn committed_height(&self) -> u64 {
        self.engine.head().height
    }

    fn validator_set(&self, height: u64) -> ValidatorSet {
        // A chain from genesis always has an active set; the latest known one stands for a
        // height whose set is not fixed yet.
        set_of(&self.engine, height).expect("a chain from genesis always has an active set")
    }

    fn target_time(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(
            self.engine.params().block_time_ms,
        ))
    }

    fn build(&mut self, height: u64, round: u32) -> Result<(BlockId, Vec<u8>)> {
        let block = self
            .blocking(|e| e.build_proposal(round))
            .map_err(|e| eyre!("{e:#}"))?;
        if block.header.height != height {
            return Err(eyre!(
                "built height {}, consensus asked for {height}",
                block.header.height
            ));
        }
        let json = serde_json::to_vec(&block).wrap_err("encoding the proposal")?;
        // The market data its transactions name travels with it, within the stream's bound.
        let budget = MAX_PROPOSAL_BYTES.saturating_sub(json.len() + 64);
        let blobs = self.blocking(|e| e.proposal_blobs(&block, budget));
        Ok((BlockId(block.hash().0), crate::proposal::encode(json, &blobs)))
    }

    fn validate(
        &mut self,
        height: u64,
        round: u32,
        bytes: &[u8],
    ) -> std::result::Result<BlockId, String> {
        let (block, blobs) = decode_proposal(bytes)?;
        let h = &block.header;
        if h.height != height {
            return Err(format!("expected height {height}, found {}", h.height));
        }
        if h.round > round {
            return Err(format!(
                "block names round {}, proposed in round {round}",
                h.round
            ));
        }
        let turn = self
            .validator_set(height)
            .proposer(Height(height), Round::new(h.round))
            .address;
        if ValAddr(h.proposer_address.0) != turn {
            return Err(format!(
                "built by {} in round {}, the turn of {turn}",
                h.proposer_address, h.round
            ));
        }
        // The proposer's blobs are kept only once it is known to be this round's proposer,
        // and only those its block names (checked there); then the block is checked with them.
        let hash = self.blocking(|e| {
            e.take_proposal_blobs(&block, &blobs)?;
            e.check_proposal(&block).map_err(|e| e.to_string())
        })?;
        Ok(BlockId(hash.0))
    }

    fn block_id(&self, bytes: &[u8]) -> Option<BlockId> {
        decode_block(bytes).ok().map(|b| BlockId(b.hash().0))
    }

    fn commit(
        &mut self,
        height: u64,
        bytes: &[u8],
        cert: &CommitCertificate<CpcContext>,
    ) -> Result<()> {
        let (block, blobs) = decode_proposal(bytes).map_err(|e| eyre!(e))?;
        if block.header.height != height {
            return Err(eyre!(
                "decided height {height}, block at {}",
                block.header.height
            ));
        }
        let cert =
            encode_certificate(cert).map_err(|e| eyre!("certificate of height {height}: {e}"))?;
        // Decided without this node's vote (it may not have checked it): the data that came
        // with it is kept all the same, so this node can serve it for its retention.
        if let Err(e) = self.blocking(|e| e.take_proposal_blobs(&block, &blobs)) {
            tracing::warn!(height, "the blobs of the decided block not kept: {e}");
        }
        self.blocking(|e| e.commit_decided(&block, &cert))
            .map_err(|e| eyre!("committing height {height}: {e}"))?;
        Ok(())
    }

    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate<CpcContext>)> {
        let store = self.engine.store();
        let hash = store.hash_at(height).ok()??;
        let block = store.block(&hash).ok()??;
        let cert = decode_certificate(&store.certificate(height).ok()??).ok()?;
        Some((serde_json::to_vec(&block).ok()?, cert))
    }

    fn evidence(&mut self, height: u64, evidence: &MisbehaviorEvidence<CpcContext>) {
        for e in crate::evidence::convert(evidence) {
            match self.blocking(|engine| engine.report_evidence(&e)) {
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(height, "misbehaviour reported by consensus not kept: {err}")
                }
            }
        }
    }
}
