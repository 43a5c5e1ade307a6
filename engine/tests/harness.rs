//! The in-process harness (lighthouse's `BeaconChainHarness`, in small): real engines on
//! temporary RocksDB stores, driven block by block — for what starting processes cannot reach
//! cheaply: certificates and conflicting blocks, the production driver.

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

/// Block `h` of `x`'s chain with its stored certificate.
fn certified(x: &Harness, h: u64) -> (Block, Vec<u8>) {
    let hash = x.engine.store().hash_at(h).unwrap().unwrap();
    (x.engine.store().block(&hash).unwrap().unwrap(), x.engine.certificate(h).unwrap().expect("every committed block has a certificate"))
}

#[test]
fn a_block_imports_only_with_a_certificate_of_its_validators() {
    let (a, b) = (Harness::new(), Harness::new());
    a.transfer(1, 2, 5);
    a.produce();
    let (blk, cert) = certified(&a, 1);
    // The dev validator's own precommit is the quorum of a one-validator chain, checked here
    // independently of the engine.
    let set = cpc_consensus::ValidatorSet::new(vec![dev_keys()[0].public_key()]);
    assert_eq!(cpc_consensus::finality::verify_certificate_bytes(&cert, 1, &blk.hash(), &set).map(|c| c.signatures.len()), Ok(1));
    let head = b.engine.head();
    let outsider = SecretKey::from_bytes(&[77; 32]);
    let forged = [
        ("no certificate", Vec::new()),
        ("truncated", cert[..cert.len() - 1].to_vec()),
        ("signed by a non-validator", cpc_consensus::Certificate::sign_alone(&outsider, 1, 0, blk.hash()).encode()),
        ("for another height", cpc_consensus::Certificate::sign_alone(&dev_keys()[0], 2, 0, blk.hash()).encode()),
        ("for another block", cpc_consensus::Certificate::sign_alone(&dev_keys()[0], 1, 0, H256([1; 32])).encode()),
    ];
    for (what, c) in forged {
        let err = b.engine.import_block(blk.clone(), &c).expect_err(what);
        assert!(matches!(err, ImportError::Certificate(_)), "{what}: {err}");
        assert_eq!(b.engine.head(), head, "{what}: nothing imported");
        assert!(!b.engine.is_known_invalid(&blk.hash()), "{what}: a bad certificate does not poison the block");
    }
    assert!(matches!(b.engine.import_block(blk.clone(), &cert).unwrap(), Imported::Extended(h) if h.hash == blk.hash()));
    assert_eq!(b.engine.certificate(1).unwrap(), Some(cert.clone()), "stored beside the block");
    assert_eq!(b.engine.import_block(blk, &cert).unwrap(), Imported::Known);
    assert_eq!(b.balance(2), a.balance(2));
}

#[test]
fn a_certified_block_beyond_the_head_waits_for_the_blocks_before_it() {
    let (a, b) = (Harness::new(), Harness::new());
    a.produce();
    a.produce();
    let (b2, c2) = certified(&a, 2);
    assert_eq!(b.engine.import_block(b2.clone(), &c2).unwrap(), Imported::Ahead { next: 1 });
    assert_eq!(b.engine.head().height, 0);
    let (b1, c1) = certified(&a, 1);
    b.engine.import_block(b1, &c1).unwrap();
    assert!(matches!(b.engine.import_block(b2, &c2).unwrap(), Imported::Extended(h) if h.height == 2));
    assert_eq!(b.engine.head(), a.engine.head());
}

#[test]
fn a_certified_conflicting_block_is_refused_and_nothing_is_reverted() {
    // The lone validator signs two different blocks at height 1 (an equivocation: both
    // certificates verify). The first committed stays; the other is refused, at its height and
    // as the parent of a block after it.
    let (a, b) = (Harness::new(), Harness::new());
    a.transfer(1, 2, 9);
    a.produce();
    a.produce();
    b.produce();
    let ours = b.engine.head();
    let (a1, c1) = certified(&a, 1);
    assert_ne!(a1.hash(), ours.hash);
    let err = b.engine.import_block(a1.clone(), &c1).unwrap_err();
    assert!(matches!(err, ImportError::Conflict { height: 1, ours: o, theirs: t } if o == ours.hash && t == a1.hash()), "{err}");
    let (a2, c2) = certified(&a, 2);
    let err = b.engine.import_block(a2, &c2).unwrap_err();
    assert!(matches!(err, ImportError::Conflict { .. }), "{err}");
    assert_eq!(b.engine.head(), ours, "committed blocks are final");
    assert_eq!(b.balance(2), Harness::new().balance(2), "the other branch's transfer was never applied");
}

#[test]
fn a_certified_block_that_does_not_execute_is_refused_and_remembered() {
    let (a, b) = (Harness::new(), Harness::new());
    a.produce();
    let (good, _) = certified(&a, 1);
    // Re-sealed with a wrong state root and certified by the validator: only execution fails.
    let mut header = good.header.clone();
    header.state_root = H256([9; 32]);
    let bad = Block::seal(header, good.transactions.clone(), &dev_keys()[0]);
    let cert = cpc_consensus::Certificate::sign_alone(&dev_keys()[0], 1, 0, bad.hash()).encode();
    let err = b.engine.import_block(bad.clone(), &cert).unwrap_err();
    assert!(err.to_string().contains("state_root"), "{err}");
    assert_eq!(b.engine.head().height, 0);
    assert!(b.engine.is_known_invalid(&bad.hash()));
    assert!(matches!(b.engine.import_block(bad, &cert), Err(ImportError::KnownInvalid(_))));
}

#[test]
fn producing_alone_is_refused_on_a_chain_of_several_validators() {
    let mut g = genesis();
    g.staking.max_validators = 2; // the dev chain's is 1
    g.validators.push(cpc_genesis::GenesisValidator::new("second", dev_keys()[1].public_key()));
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig { signer: Some(dev_keys().remove(0)), ..Default::default() };
    let engine = Engine::open(dir.path(), Some(g), cfg, &prometheus::Registry::new()).unwrap();
    let err = engine.produce_block(0).unwrap_err().to_string();
    assert!(err.contains("one validator, found 2"), "{err}");
    assert_eq!(engine.head().height, 0);
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
