//! Block validation time with 16 shares (synthetic results at or below the tip's share_target)
//! at n = 1024 (the default cap M), cold
//! (every result recomputed, spread over the cores) and warm (results already verified by
//! this node, e.g. when it built the block itself).
//!
//! `cargo bench -p cpc-consensus --bench block_validation`

use cpc_consensus::*;
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::*;
use cpc_state::{Head, MemState};
use std::sync::Arc;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let g = Genesis::dev();
    let params = g.chain_params();
    let (gblock, out) = g.build().unwrap();
    let mut st = MemState::default();
    st.commit(&out.changes);
    let keys = dev_keys();
    let validators = ValidatorSet::new(vec![keys[0].public_key()]);
    let parent = Head::of(&gblock.header, gblock.hash());
    let sp = cpc_poc::SynthParams { n: params.poc.matrix_size, k: params.poc.challenges };
    let count = params.poc.max_synthetic_results_per_block;

    let t = Instant::now();
    let candidates: Vec<Candidate> = (0..count)
        .map(|i| {
            let w = &keys[1 + i % 9];
            let addr = Address::from_public_key(&w.public_key());
            let nonce = (i / 9) as u64;
            let r = cpc_poc::solve(&parent.hash, &addr.to_string(), nonce, &sp);
            // The dev genesis target is 2^64 − 1: every result is a share.
            assert!(cpc_poc::result_share_value(&r, &parent.hash).unwrap() <= parent.share_target.0);
            let tx = UnsignedTx::submit_result(&params.chain_id, addr, &r, nonce, 1000)
            .sign(w);
            Candidate { hash: tx.hash(), tx: Arc::new(tx), result: Some(Arc::new(r)) }
        })
        .collect();
    println!("consensus/solve_{count}_results_n{} (1 thread each)   {:.0} ms", sp.n, t.elapsed().as_secs_f64() * 1e3);

    let builder_poc = PocVerifier::new(&params.poc);
    let t = Instant::now();
    let built = build_block(
        &st,
        &BuildContext {
            params: &params,
            parent,
            round: 0,
            timestamp: parent.timestamp + 1000,
            proposer: &keys[0],
            window: vec![(parent.hash, parent.share_target)],
            poc: &builder_poc,
            consensus: Default::default(),
        },
        &candidates,
    )
    .unwrap();
    println!("consensus/build_block_{count}_results (cold cache)      {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(built.block.transactions.len(), count);
    assert_eq!(built.outcome.rewards.shares, count as u64, "every slot holds a paid share");

    fn ctx<'a>(
        params: &'a cpc_state::ChainParams,
        validators: &'a ValidatorSet,
        parent: Head,
        poc: &'a PocVerifier,
    ) -> ChainContext<'a> {
        ChainContext { params, validators, parent, now_ms: parent.timestamp + 2000, window: vec![(parent.hash, parent.share_target)], poc }
    }
    let mut cold = Vec::new();
    for _ in 0..5 {
        let fresh = PocVerifier::new(&params.poc);
        let t = Instant::now();
        validate_block(&built.block, &st, &ctx(&params, &validators, parent, &fresh)).unwrap();
        cold.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut warm = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        validate_block(&built.block, &st, &ctx(&params, &validators, parent, &builder_poc)).unwrap();
        warm.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "consensus/validate_block_{count}_results cold  median {:.1} ms  ({:.1} ms per result over {} threads)",
        median(cold.clone()),
        median(cold) / count as f64,
        rayon::current_num_threads()
    );
    println!("consensus/validate_block_{count}_results warm  median {:.2} ms", median(warm));
}
