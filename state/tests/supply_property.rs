//! Property: after any sequence of random blocks, total supply = genesis + minted − burned,
//! and it equals the sum of all balances.
mod common;
use common::*;
use cpc_primitives::*;
use cpc_state::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Transfer { from: u8, to: u8, amount: u128, gas_price: u64 },
    Submit { from: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u8..8, 0u128..2_000 * UNITS_PER_CPC, 1000u64..5000)
            .prop_map(|(from, to, amount, gas_price)| Op::Transfer { from, to, amount, gas_price }),
        (0u8..6).prop_map(|from| Op::Submit { from }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn supply_invariant_holds(blocks in prop::collection::vec((prop::collection::vec(op(), 0..12), 0usize..4, 0u8..8), 1..8)) {
        let mut st = genesis(6);
        let p = params();
        let genesis_supply = st.supply.total;
        let mut task_counter = 0u64;
        for (height, (ops, n_workers, proposer)) in blocks.into_iter().enumerate() {
            let mut ex = BlockExecutor::new(&st, &p, height as u64 + 1);
            for o in ops {
                let tx = match o {
                    Op::Transfer { from, to, amount, gas_price } => {
                        let nonce = ex.account(&addr(from)).unwrap().nonce;
                        transfer(from, addr(to), amount, nonce, gas_price)
                    }
                    Op::Submit { from } => {
                        task_counter += 1;
                        let nonce = ex.account(&addr(from)).unwrap().nonce;
                        submit(from, &format!("t{task_counter}"), nonce)
                    }
                };
                // Invalid ones (e.g. fee not covered) are simply skipped, as the builder does.
                let _ = ex.execute(&tx, tx.hash());
            }
            let workers: Vec<Address> = (0..n_workers).map(|i| addr(i as u8)).collect();
            let out = ex.finish(&BlockInputs::plain(addr(proposer)), &workers).unwrap();
            st.commit(&out.changes);
            let s = st.supply;
            prop_assert_eq!(s.total, genesis_supply + s.minted - s.burned);
            prop_assert_eq!(s.genesis, genesis_supply);
            prop_assert_eq!(s.burned, 0, "v2 burns nothing");
            prop_assert_eq!(out.rewards.minted, out.rewards.proposer_reward + out.rewards.share_reward * n_workers as u128);
            prop_assert_eq!(st.sum_of_balances(), s.total);
        }
    }
}
