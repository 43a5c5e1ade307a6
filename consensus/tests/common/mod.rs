#![allow(dead_code)]
use cpc_consensus::*;
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::*;
use cpc_state::*;
use std::sync::Arc;

/// A dev chain in memory with small synthetic tasks (n = 64) so tests run fast, at most
/// M = 3 synthetic results per block and S = 1 share per block (so M ≥ 2S holds).
pub struct Chain {
    pub state: MemState,
    pub params: ChainParams,
    pub validators: ValidatorSet,
    pub head: Head,
    /// Canonical hashes by height.
    pub hashes: Vec<H256>,
    /// Canonical share targets by height.
    pub targets: Vec<ShareTarget>,
    pub poc: PocVerifier,
    pub keys: Vec<SecretKey>,
    /// What the next built block carries for consensus (parent certificate, evidence).
    pub consensus: ConsensusData,
}

pub const T0: u64 = 1_704_067_200_000;

impl Chain {
    pub fn new() -> Chain {
        Chain::with(|_| {})
    }

    /// The test chain with its genesis changed by `f` first (e.g. a small share_target_start).
    pub fn with(f: impl FnOnce(&mut Genesis)) -> Chain {
        let mut g = Genesis::dev();
        g.poc.matrix_size = 64;
        g.poc.max_synthetic_results_per_block = 3;
        g.poc.shares_per_block = 1;
        f(&mut g);
        let (block, out) = g.build().unwrap();
        let mut state = MemState::default();
        state.commit(&out.changes);
        let params = g.chain_params();
        let head = Head::of(&block.header, block.hash());
        Chain {
            state,
            poc: PocVerifier::new(&params.poc),
            params,
            validators: ValidatorSet::new(g.validators.iter().map(|v| v.pub_key).collect()),
            head,
            hashes: vec![block.hash()],
            targets: vec![block.header.share_target],
            keys: dev_keys(),
            consensus: ConsensusData::default(),
        }
    }

    pub fn addr(&self, i: usize) -> Address {
        Address::from_public_key(&self.keys[i].public_key())
    }

    /// The task window (hash, share target) of a block at `height`.
    pub fn window(&self, height: u64) -> Vec<WindowTip> {
        window_heights(height, self.params.poc.window).map(|h| (self.hashes[h as usize], self.targets[h as usize])).collect()
    }

    pub fn candidates(txs: &[Transaction]) -> Vec<Candidate> {
        txs.iter()
            .map(|t| Candidate {
                hash: t.hash(),
                tx: Arc::new(t.clone()),
                result: if t.tx_type == TxType::SubmitResult {
                    Some(Arc::new(ComputeResult::from_payload(&t.payload).unwrap()))
                } else {
                    None
                },
            })
            .collect()
    }

    /// A block that carries `self.consensus` as it is, built without the builder's own check
    /// of it (a lying proposer's block): the header is the one the builder makes without
    /// consensus data.
    pub fn build_block_unchecked(&mut self) -> Block {
        let data = std::mem::take(&mut self.consensus);
        let mut b = self.build(&[]).block;
        b.consensus = data.clone();
        self.consensus = data;
        b
    }

    pub fn build(&self, txs: &[Transaction]) -> Built {
        self.build_from(&Self::candidates(txs))
    }

    pub fn build_from(&self, candidates: &[Candidate]) -> Built {
        self.build_on(&self.state, &self.params, candidates)
    }

    /// [`Chain::build_from`] on another state or with other parameters (a proposer that sees
    /// other data, or skips a rule).
    pub fn build_on(&self, view: &MemState, params: &ChainParams, candidates: &[Candidate]) -> Built {
        let ctx = BuildContext {
            params,
            parent: self.head,
            round: 0,
            timestamp: self.head.timestamp + 1000,
            proposer: &self.keys[0],
            window: self.window(self.head.height + 1),
            poc: &self.poc,
            consensus: self.consensus.clone(),
        };
        build_block(view, &ctx, candidates).unwrap()
    }

    pub fn ctx(&self) -> ChainContext<'_> {
        ChainContext {
            params: &self.params,
            validators: &self.validators,
            parent: self.head,
            now_ms: self.head.timestamp + 10_000,
            window: self.window(self.head.height + 1),
            poc: &self.poc,
            data_attested: false,
        }
    }

    pub fn import(&self, b: &Block) -> Result<BlockOutcome, BlockError> {
        validate_block(b, &self.state, &self.ctx()).map(|(_, o)| o)
    }

    pub fn commit(&mut self, b: &Block, out: &BlockOutcome) {
        self.state.commit(&out.changes);
        self.head = Head::of(&b.header, b.hash());
        self.hashes.push(b.hash());
        self.targets.push(b.header.share_target);
    }

    /// Builds, imports (full validation) and commits a block.
    pub fn advance(&mut self, txs: &[Transaction]) -> Block {
        let built = self.build(txs);
        let out = self.import(&built.block).expect("own block validates");
        assert_eq!(out.state_root, built.outcome.state_root);
        self.commit(&built.block, &out);
        built.block
    }

    pub fn nonce(&self, i: usize) -> u64 {
        self.state.accounts.get(&self.addr(i)).map_or(0, |e| e.account.nonce)
    }

    pub fn transfer(&self, from: usize, to: Address, amount: u128, nonce: u64) -> Transaction {
        UnsignedTx::transfer(&self.params.chain_id, self.addr(from), to, amount, nonce, 1000).sign(&self.keys[from])
    }

    pub fn transfer_at(&self, from: usize, to: Address, amount: u128, nonce: u64, gas_price: u64) -> Transaction {
        UnsignedTx::transfer(&self.params.chain_id, self.addr(from), to, amount, nonce, gas_price).sign(&self.keys[from])
    }

    pub fn unsigned(
        &self,
        from: usize,
        tx_type: TxType,
        to: Option<Address>,
        amount: u128,
        nonce: u64,
        gas_limit: u64,
        payload: Payload,
    ) -> UnsignedTx {
        UnsignedTx {
            chain_id: self.params.chain_id.clone(),
            tx_type,
            from_address: self.addr(from),
            to_address: to,
            amount,
            fee: gas_limit as u128 * 1000,
            nonce,
            gas_price: 1000,
            gas_limit,
            payload,
        }
    }

    pub fn submit(&self, from: usize, r: &ComputeResult, nonce: u64) -> Transaction {
        self.submit_at(from, r, nonce, 1000)
    }

    pub fn submit_at(&self, from: usize, r: &ComputeResult, nonce: u64, gas_price: u64) -> Transaction {
        UnsignedTx::submit_result(&self.params.chain_id, self.addr(from), r, nonce, gas_price).sign(&self.keys[from])
    }

    /// A correct synthetic result of worker `i` for the tip at `height`.
    pub fn solve(&self, i: usize, height: u64, nonce: u64) -> ComputeResult {
        cpc_poc::solve(&self.hashes[height as usize], &self.addr(i).to_string(), nonce, &self.synth())
    }

    pub fn synth(&self) -> cpc_poc::SynthParams {
        cpc_poc::SynthParams { n: self.params.poc.matrix_size, k: self.params.poc.challenges }
    }

    /// Whether `r` (for the tip at `height`) is a share under that tip's target, computed from
    /// the share value directly (not through the verifier under test).
    pub fn is_share(&self, r: &ComputeResult, height: u64) -> bool {
        cpc_poc::result_share_value(r, &self.hashes[height as usize]).unwrap() <= self.targets[height as usize].0
    }
}

/// Re-signs a tampered header so checks after the signature are reached.
pub fn reseal(mut b: Block, sk: &SecretKey) -> Block {
    b.signature = sk.sign(&b.header.signing_bytes());
    b
}
