//! The in-process harness (lighthouse's `BeaconChainHarness`, in small): real engines on
//! temporary RocksDB stores, driven block by block — for what starting processes cannot reach
//! cheaply: forks, reorgs and their rollback, the production driver.

use cpc_engine::*;
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::*;
use std::sync::Arc;

/// An engine on a temporary datadir with the dev genesis (n = 64 so that tasks are cheap).
struct Harness {
    engine: Arc<Engine>,
    _dir: tempfile::TempDir,
}

fn genesis() -> Genesis {
    let mut g = Genesis::dev();
    g.poc.matrix_size = 64;
    g
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig { signer: Some(dev_keys().remove(0)), ..Default::default() };
        let engine = Engine::open(dir.path(), Some(genesis()), cfg, &prometheus::Registry::new()).unwrap();
        Harness { engine: Arc::new(engine), _dir: dir }
    }

    fn transfer(&self, from: usize, to: usize, amount: u128) -> H256 {
        let k = dev_keys();
        let addr = Address::from_public_key(&k[from].public_key());
        let nonce = self.engine.mempool().pending_nonce(&addr, self.engine.store().account(&addr).unwrap().nonce);
        let to = Address::from_public_key(&k[to].public_key());
        let tx = UnsignedTx::transfer(&self.engine.params().chain_id, addr, to, amount, nonce, 1000).sign(&k[from]);
        self.engine.admit(tx).expect("admitted").hash
    }

    fn produce(&self) -> Block {
        let head = self.engine.produce_block(0).unwrap();
        self.engine.store().block(&head.hash).unwrap().unwrap()
    }

    fn balance(&self, i: usize) -> u128 {
        let a = Address::from_public_key(&dev_keys()[i].public_key());
        self.engine.store().account(&a).unwrap().balance
    }
}

#[test]
fn a_longer_branch_reorgs_and_the_abandoned_transactions_return_to_the_pool() {
    let (a, b) = (Harness::new(), Harness::new());
    assert_eq!(a.engine.head().hash, b.engine.head().hash, "same genesis");
    // A: two blocks, the second with a transfer 1 -> 2 that B never sees.
    a.produce();
    let lost = a.transfer(1, 2, 777);
    let a2 = a.produce();
    assert_eq!(a2.transactions.len(), 1);
    let before = a.balance(2);
    // B: three blocks of its own (one transfer 3 -> 4).
    b.produce();
    let kept = b.transfer(3, 4, 5);
    b.produce();
    b.produce();
    // A learns B's chain block by block. Which import switches depends on the tie-break at
    // equal length (lower hash), but it switches once, reverting both of A's blocks.
    let mut reorgs = Vec::new();
    for h in 1..=3 {
        let blk = b.engine.store().block(&b.engine.store().hash_at(h).unwrap().unwrap()).unwrap().unwrap();
        if let Imported::Reorg { depth, from, .. } = a.engine.import_block(blk).unwrap() {
            reorgs.push((depth, from.height));
        }
    }
    assert_eq!(reorgs, vec![(2, 2)], "one reorg from A's height 2 down to genesis and up B's branch");
    // Rolled back exactly: A's state is B's, block for block.
    assert_eq!(a.engine.head(), b.engine.head());
    for i in 0..10 {
        assert_eq!(a.balance(i), b.balance(i), "account {i}");
    }
    assert_eq!(a.balance(2), before - 777, "the abandoned transfer is no longer applied");
    assert!(a.engine.store().receipt(&lost).unwrap().is_none(), "its receipt went with its block");
    assert!(a.engine.store().receipt(&kept).unwrap().is_some());
    // ... and it waits in the pool again, to land in A's next block.
    assert!(a.engine.mempool().contains(&lost));
    let next = a.produce();
    assert_eq!(next.transactions.iter().map(|t| t.hash()).collect::<Vec<_>>(), vec![lost]);
}

#[test]
fn an_invalid_branch_is_refused_and_the_chain_stays_where_it_was() {
    let (a, b) = (Harness::new(), Harness::new());
    a.produce();
    a.produce();
    for _ in 0..3 {
        b.produce();
    }
    for h in 1..=2 {
        let blk = b.engine.store().block(&b.engine.store().hash_at(h).unwrap().unwrap()).unwrap().unwrap();
        a.engine.import_block(blk).unwrap();
    }
    // B's third block, the one that would make B's branch longer, with a wrong state root
    // (re-signed, so only the root is wrong).
    let good = b.engine.store().block(&b.engine.store().hash_at(3).unwrap().unwrap()).unwrap().unwrap();
    let mut header = good.header.clone();
    header.state_root = H256([9; 32]);
    let bad = Block::seal(header, good.transactions.clone(), &dev_keys()[0]);
    let head_before = a.engine.head();
    let err = a.engine.import_block(bad.clone()).unwrap_err();
    assert!(err.to_string().contains("state_root"), "{err}");
    assert_eq!(a.engine.head(), head_before, "no reorg onto an invalid branch");
    assert!(a.engine.is_known_invalid(&bad.hash()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trigger_mode_produces_one_block_per_message() {
    let h = Harness::new();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut heads = h.engine.subscribe_heads();
    let driver = tokio::spawn(run_producer(h.engine.clone(), MiningMode::Trigger(rx), stop));
    for want in 1..=3u64 {
        tx.send(()).await.unwrap();
        heads.changed().await.unwrap();
        assert_eq!(heads.borrow_and_update().height, want);
    }
    let _ = stop_tx.send(true);
    driver.await.unwrap().unwrap();
    assert_eq!(h.engine.head().height, 3, "nothing without a trigger");
}

#[test]
fn committed_blocks_are_announced_as_events() {
    let h = Harness::new();
    let mut events = h.engine.events();
    let tx = h.transfer(1, 2, 1);
    let b = h.produce();
    let mut saw_pending = false;
    let mut committed = None;
    while let Ok(ev) = events.try_recv() {
        match ev {
            EngineEvent::Pending(x) => saw_pending |= x == tx,
            EngineEvent::Committed(c) => committed = Some(c),
        }
    }
    assert!(saw_pending);
    let c = committed.expect("a committed event");
    assert_eq!(c.hash, b.hash());
    assert_eq!(c.tx_hashes, vec![tx]);
}
