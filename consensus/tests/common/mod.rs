#![allow(dead_code)]
use cpc_consensus::*;
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::*;
use cpc_state::*;
use std::sync::Arc;

/// A dev chain in memory with small synthetic tasks (n = 64) so tests run fast.
pub struct Chain {
    pub state: MemState,
    pub params: ChainParams,
    pub validators: ValidatorSet,
    pub head: Head,
    pub hashes: Vec<H256>,
    pub poc: PocVerifier,
    pub keys: Vec<SecretKey>,
}

pub const T0: u64 = 1_704_067_200_000;

impl Chain {
    pub fn new() -> Chain {
        let mut g = Genesis::dev();
        g.poc.matrix_size = 64;
        g.poc.max_synthetic_results_per_block = 3;
        let (block, out) = g.build().unwrap();
        let mut state = MemState::default();
        state.commit(&out.changes);
        let params = g.chain_params();
        let head = Head { height: 0, hash: block.hash(), state_root: block.header.state_root, timestamp: block.header.timestamp };
        Chain {
            state,
            poc: PocVerifier::new(&params.poc),
            params,
            validators: ValidatorSet::new(g.validators.iter().map(|v| v.pub_key).collect()),
            head,
            hashes: vec![block.hash()],
            keys: dev_keys(),
        }
    }

    pub fn addr(&self, i: usize) -> Address {
        Address::from_public_key(&self.keys[i].public_key())
    }

    pub fn window(&self, height: u64) -> Vec<H256> {
        window_heights(height, self.params.poc.window).map(|h| self.hashes[h as usize]).collect()
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

    pub fn build(&self, txs: &[Transaction]) -> Built {
        let ctx = BuildContext {
            params: &self.params,
            parent: self.head,
            round: 0,
            timestamp: self.head.timestamp + 1000,
            proposer: &self.keys[0],
            window_hashes: self.window(self.head.height + 1),
            poc: &self.poc,
        };
        build_block(&self.state, &ctx, &Self::candidates(txs)).unwrap()
    }

    pub fn ctx(&self) -> ChainContext<'_> {
        ChainContext {
            params: &self.params,
            validators: &self.validators,
            parent: self.head,
            now_ms: self.head.timestamp + 10_000,
            window_hashes: self.window(self.head.height + 1),
            poc: &self.poc,
        }
    }

    pub fn import(&self, b: &Block) -> Result<BlockOutcome, BlockError> {
        validate_block(b, &self.state, &self.ctx()).map(|(_, o)| o)
    }

    pub fn commit(&mut self, b: &Block, out: &BlockOutcome) {
        self.state.commit(&out.changes);
        self.head = Head { height: b.header.height, hash: b.hash(), state_root: b.header.state_root, timestamp: b.header.timestamp };
        self.hashes.push(b.hash());
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
        UnsignedTx::submit_result(&self.params.chain_id, self.addr(from), r, nonce, 1000).sign(&self.keys[from])
    }

    /// A correct synthetic result of worker `i` for the tip at `height`.
    pub fn solve(&self, i: usize, height: u64, nonce: u64) -> ComputeResult {
        let p = cpc_poc::SynthParams { n: self.params.poc.matrix_size, k: self.params.poc.challenges };
        cpc_poc::solve(&self.hashes[height as usize], &self.addr(i).to_string(), nonce, &p)
    }
}

/// Re-signs a tampered header so checks after the signature are reached.
pub fn reseal(mut b: Block, sk: &SecretKey) -> Block {
    b.signature = sk.sign(&b.header.signing_bytes());
    b
}
