//! State-root cost per block at 1 000 and 1 000 000 accounts, for blocks touching 10, 100
//! and 1 000 accounts: the cost follows the touched accounts (× log2 N), not N, because
//! only touched paths are rehashed. A full rebuild at 1 000 000 accounts is shown for
//! comparison.
//!
//! `cargo bench -p cpc-state --bench state_root`

use cpc_primitives::*;
use cpc_state::*;
use cpc_state::tree::NodeReader;
use std::collections::BTreeMap;
use std::time::Instant;

fn params() -> ChainParams {
    ChainParams {
        chain_id: "bench".into(),
        min_gas_price: 1000,
        block_gas_limit: u64::MAX,
        max_txs_per_block: usize::MAX,
        block_time_ms: 1000,
        economics: Economics::with_treasury(Address([0xee; 20])),
        poc: PocParams::default(),
        staking: StakingParams::default(),
        market: MarketParams::default(),
    }
}

fn addr(i: u64) -> Address {
    let h = sha256(&i.to_le_bytes());
    Address(h.0[..20].try_into().unwrap())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let p = params();
    for n in [1_000u64, 1_000_000] {
        let mut st = MemState::default();
        let t = Instant::now();
        let mut ex = BlockExecutor::new(&st, &p, 0);
        for i in 0..n {
            ex.allocate(&addr(i), 1_000 * UNITS_PER_CPC).unwrap();
        }
        let out = ex.finish_genesis().unwrap();
        st.commit(&out.changes);
        let setup = t.elapsed().as_secs_f64();

        println!("state/setup         accounts={n:>9}  genesis build {setup:.2} s");
        let mut per_block = 0.0;
        for touched in [10u64, 100, 1_000] {
            // The tree update alone: `touched` leaves change, spread over the whole tree.
            let mut samples = Vec::new();
            for round in 0..21u64 {
                let mut changes = BTreeMap::new();
                for j in 0..touched {
                    let slot = (j * 7919 + round * 104_729) % n;
                    changes.insert(slot, sha256(&[&slot.to_le_bytes()[..], &round.to_le_bytes()].concat()));
                }
                let t = Instant::now();
                let diff = tree::compute_update(&st.tree, n, n, changes);
                samples.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(diff.root);
            }
            per_block = median(samples);
            println!("state/tree_update   accounts={n:>9}  touched={touched:>5}  median {per_block:8.3} ms");
        }
        if n == 1_000_000 {
            let leaves: Vec<H256> = (0..n as usize).map(|i| st.tree.node(0, i as u64)).collect();
            let t = Instant::now();
            let full = AccountTree::from_leaves(leaves);
            let rebuild = t.elapsed().as_secs_f64() * 1e3;
            std::hint::black_box(full.root());
            println!(
                "state/full_rebuild  accounts={n:>9}                  {rebuild:8.3} ms   ({:.0}x the 1 000-account update)",
                rebuild / per_block
            );
        }
    }
}
