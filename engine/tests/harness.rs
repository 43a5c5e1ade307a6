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
    // A state root depends on the consensus data too (not in the hash): remembered with it.
    assert!(b.engine.is_known_invalid_block(&bad));
    assert!(matches!(b.engine.import_block(bad, &cert), Err(ImportError::KnownInvalid(_))));
}

#[test]
fn a_block_whose_own_execution_fails_is_remembered_by_its_hash() {
    let (a, b) = (Harness::new(), Harness::new());
    a.transfer(1, 2, 3);
    a.produce();
    let (good, _) = certified(&a, 1);
    let mut header = good.header.clone();
    header.gas_used += 1;
    let bad = Block::seal(header, good.transactions.clone(), &dev_keys()[0]);
    let cert = cpc_consensus::Certificate::sign_alone(&dev_keys()[0], 1, 0, bad.hash()).encode();
    let err = b.engine.import_block(bad.clone(), &cert).unwrap_err();
    assert!(err.to_string().contains("gas_used"), "{err}");
    // Gas depends on the transactions only: no consensus data can make this header valid.
    assert!(b.engine.is_known_invalid(&bad.hash()));
    let mut other = bad.clone();
    other.consensus.evidence.push(vec![1, 2, 3]);
    assert!(matches!(b.engine.import_block(other, &cert), Err(ImportError::KnownInvalid(_))));
}

#[test]
fn altered_consensus_data_does_not_poison_the_genuine_block() {
    // A peer relays a real certified block with its consensus data (not in the block hash)
    // changed: refused, and remembered only with that data, so the genuine block still imports.
    let (a, b) = (Harness::new(), Harness::new());
    a.produce();
    a.produce();
    let (b1, c1) = certified(&a, 1);
    b.engine.import_block(b1, &c1).unwrap();
    let (genuine, c2) = certified(&a, 2);
    assert!(genuine.consensus.last_commit.is_some(), "block 2 carries block 1's certificate");
    let mut altered = genuine.clone();
    altered.consensus.last_commit = None;
    assert_eq!(altered.hash(), genuine.hash());
    let err = b.engine.import_block(altered.clone(), &c2).unwrap_err();
    assert!(err.to_string().contains("state_root"), "without the certificate nobody's liveness counts: {err}");
    assert!(!b.engine.is_known_invalid(&genuine.hash()));
    assert!(matches!(b.engine.import_block(altered, &c2), Err(ImportError::KnownInvalid(_))), "the altered one is remembered");
    assert!(matches!(b.engine.import_block(genuine, &c2).unwrap(), Imported::Extended(h) if h.height == 2));
    assert_eq!(b.engine.head(), a.engine.head());
}

#[test]
fn a_block_refused_for_its_context_is_accepted_once_the_context_is_right() {
    let (a, b) = (Harness::new(), Harness::new());
    a.produce();
    a.produce();
    let (b1, c1) = certified(&a, 1);
    let (b2, c2) = certified(&a, 2);
    // Not on the head yet: the proposal check refuses it, and does not remember it.
    assert!(matches!(b.engine.check_proposal(&b2), Err(ImportError::NotOnHead { .. })));
    assert!(!b.engine.is_known_invalid_block(&b2));
    // A timestamp ahead of our clock: refused until the clock gets there.
    let ahead_ms = cpc_consensus::block::MAX_FUTURE_DRIFT_MS + 1_500;
    let mut header = b1.header.clone();
    header.timestamp = now_millis() + ahead_ms;
    let early = Block::seal(header, b1.transactions.clone(), &dev_keys()[0]);
    let cert = cpc_consensus::Certificate::sign_alone(&dev_keys()[0], 1, 0, early.hash()).encode();
    let err = b.engine.import_block(early.clone(), &cert).unwrap_err();
    assert!(matches!(err, ImportError::Invalid(cpc_consensus::BlockError::TimestampInFuture { .. })), "{err}");
    assert!(!b.engine.is_known_invalid_block(&early));
    std::thread::sleep(std::time::Duration::from_millis(ahead_ms - cpc_consensus::block::MAX_FUTURE_DRIFT_MS + 200));
    assert!(matches!(b.engine.import_block(early, &cert).unwrap(), Imported::Extended(h) if h.height == 1));
    // On another engine, the proposal of block 2 checks once block 1 is in.
    let c = Harness::new();
    c.engine.import_block(b1, &c1).unwrap();
    assert_eq!(c.engine.check_proposal(&b2).unwrap(), b2.hash());
    assert!(matches!(c.engine.import_block(b2, &c2).unwrap(), Imported::Extended(h) if h.height == 2));
}

#[test]
fn a_built_block_that_fails_its_in_isolation_checks_is_neither_committed_nor_kept_in_the_pool() {
    let h = Harness::new();
    let good = h.transfer(1, 2, 5);
    // A transfer from key 2's account signed with key 3: its pub_key does not give its
    // from_address. Admission refuses it; it is put in the pool past admission, as a bug
    // there would, to show that the builder's block is checked before it is committed.
    let k = dev_keys();
    let from = Address::from_public_key(&k[2].public_key());
    let to = Address::from_public_key(&k[1].public_key());
    let forged = UnsignedTx::transfer(&h.engine.params().chain_id, from, to, 1, 0, 2000).sign(&k[3]);
    assert!(h.engine.admit(forged.clone()).is_err(), "admission checks the sender's key");
    let v = cpc_mempool::ValidTx {
        hash: forged.hash(),
        size: forged.canonical_json().len(),
        tx: Arc::new(forged.clone()),
        result: None,
        tip: None,
    };
    let bad = h.engine.mempool().admit(v, h.engine.store()).unwrap();
    let err = h.engine.produce_block(0).unwrap_err().to_string();
    assert!(err.contains("in-isolation"), "{err}");
    assert_eq!(h.engine.head().height, 0, "nothing committed");
    assert!(!h.engine.mempool().contains(&bad), "the transaction the check named left the pool");
    assert!(h.engine.mempool().contains(&good));
    let b = h.produce();
    assert_eq!(b.transactions.iter().map(|t| t.hash()).collect::<Vec<_>>(), vec![good]);
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

/// Blocks `from..=to` of `x`'s chain as sync fetches them, checked in isolation.
fn fetched(x: &Harness, into: &Harness, from: u64, to: u64) -> Vec<SyncedBlock> {
    into.engine.check_range_in_isolation((from..=to).map(|h| certified(x, h)).collect())
}

#[test]
fn a_fetched_range_imports_in_order_as_block_by_block_import_would() {
    let (a, b, c) = (Harness::new(), Harness::new(), Harness::new());
    for i in 0..6 {
        a.transfer(1, 2 + i % 3, 5 + i as u128);
        a.produce();
    }
    assert_eq!(b.engine.import_range(fetched(&a, &b, 1, 6)).map_err(|(h, e)| (h, e.map(|e| e.to_string()))), Ok(6));
    for h in 1..=6 {
        let (blk, cert) = certified(&a, h);
        c.engine.import_block(blk, &cert).unwrap();
    }
    assert_eq!(b.engine.head(), a.engine.head());
    assert_eq!(b.engine.head(), c.engine.head(), "the same head as importing one by one");
    for i in 0..5 {
        assert_eq!(b.balance(i), a.balance(i));
    }
    for h in 1..=6 {
        assert_eq!(b.engine.certificate(h).unwrap(), a.engine.certificate(h).unwrap(), "certificate {h} stored");
    }
    // Blocks already there are known, a range from further on waits for the blocks before it.
    assert_eq!(b.engine.import_range(fetched(&a, &b, 5, 6)).map_err(|(h, _)| h), Ok(0));
    a.produce();
    a.produce();
    assert!(matches!(c.engine.import_range(fetched(&a, &c, 8, 8)), Err((8, None))));
    assert_eq!(c.engine.head().height, 6);
}

#[test]
fn a_bad_block_inside_a_range_stops_it_there_and_keeps_what_came_before() {
    let (a, b) = (Harness::new(), Harness::new());
    for _ in 0..5 {
        a.transfer(1, 2, 5);
        a.produce();
    }
    // Block 4 re-sealed with a wrong state root, certified by the validator: only its
    // execution fails, so the blocks before it are good and stay.
    let mut range: Vec<(Block, Vec<u8>)> = (1..=5).map(|h| certified(&a, h)).collect();
    let mut header = range[3].0.header.clone();
    header.state_root = H256([9; 32]);
    let bad = Block::seal(header, range[3].0.transactions.clone(), &dev_keys()[0]);
    range[3] = (bad.clone(), cpc_consensus::Certificate::sign_alone(&dev_keys()[0], 4, 0, bad.hash()).encode());
    let err = b.engine.import_range(b.engine.check_range_in_isolation(range)).unwrap_err();
    assert_eq!(err.0, 4);
    assert!(err.1.as_ref().unwrap().to_string().contains("state_root"), "{:?}", err.1.map(|e| e.to_string()));
    assert_eq!(b.engine.head().height, 3, "blocks 1-3 committed, 4 and 5 not");
    assert_eq!(b.engine.store().hash_at(3).unwrap(), a.engine.store().hash_at(3).unwrap());
    assert!(b.engine.is_known_invalid_block(&bad));
    // The genuine blocks 4 and 5 then import.
    assert!(b.engine.import_range(fetched(&a, &b, 4, 5)).is_ok());
    assert_eq!(b.engine.head(), a.engine.head());
}

#[test]
fn a_range_block_that_fails_in_isolation_under_a_bad_certificate_is_refused_for_its_certificate() {
    // The in-isolation checks of a range run before its ordered import, but their result is
    // used where import_block would run them: after the certificate. A peer pairing a
    // broken block with a bad certificate gets a certificate error, and the block's hash is
    // not remembered as invalid (a lie about a real block must not poison it).
    let (a, b) = (Harness::new(), Harness::new());
    a.transfer(1, 2, 5);
    a.produce();
    a.transfer(1, 3, 5);
    a.produce();
    let mut range: Vec<(Block, Vec<u8>)> = (1..=2).map(|h| certified(&a, h)).collect();
    let genuine = range[1].0.clone();
    range[1].0.transactions[0].signature.0[0] ^= 1;
    range[1].1 = Vec::new();
    let checked = b.engine.check_range_in_isolation(range);
    assert!(checked[1].checked.is_err(), "the broken transaction fails in isolation");
    let err = b.engine.import_range(checked).unwrap_err();
    assert_eq!(err.0, 2);
    assert!(matches!(err.1, Some(ImportError::Certificate(_))), "{:?}", err.1.map(|e| e.to_string()));
    assert_eq!(b.engine.head().height, 1);
    assert!(!b.engine.is_known_invalid(&genuine.hash()));
    // With its certificate, the broken block is refused for what it is.
    let (_, cert) = certified(&a, 2);
    let mut broken = genuine.clone();
    broken.transactions[0].signature.0[0] ^= 1;
    let err = b.engine.import_range(b.engine.check_range_in_isolation(vec![(broken, cert)])).unwrap_err();
    assert!(matches!(err.1, Some(ImportError::Invalid(_))), "{:?}", err.1.map(|e| e.to_string()));
    assert!(b.engine.import_range(fetched(&a, &b, 2, 2)).is_ok(), "the genuine block still imports");
    assert_eq!(b.engine.head(), a.engine.head());
}

/// The blobs beside a proposal (cpc-bft's proposal stream): only those its transactions name
/// are kept, each once; one the block does not name, or one sent twice, refuses the proposal
/// and keeps nothing — a proposer cannot use its stream to fill its validators' blob stores.
#[test]
fn only_the_blobs_a_proposal_names_are_kept_and_a_stranger_or_a_repeat_refuses_it() {
    use cpc_primitives::blob::Blob;
    use cpc_state::StateView;
    let x = Harness::new();
    let k = dev_keys();
    let mut block = x.produce();
    let a = Blob::from_i8(2, 3, &[1, 2, 3, 4, 5, 6]).unwrap();
    let b = Blob::from_i8(3, 2, &[6, 5, 4, 3, 2, 1]).unwrap();
    let stranger = Blob::from_i8(1, 2, &[9, 9]).unwrap();
    let post = serde_json::json!({"m": 2, "k": 3, "n": 2, "a_root": a.root().to_hex(), "b_root": b.root().to_hex(),
        "bond": "1", "claim_blocks": 5, "deadline": 100, "retention": 10});
    let payload = Payload::from_map(post.as_object().unwrap().clone()).unwrap();
    let from = Address::from_public_key(&k[1].public_key());
    block.transactions.push(UnsignedTx::at_intrinsic_gas(&x.engine.params().chain_id, TxType::PostJob, from, None, 10, 0, 1000, payload).sign(&k[1]));
    let held = |blob: &Blob| x.engine.store().blob(&blob.root()).unwrap().is_some();

    let e = x.engine.take_proposal_blobs(&block, &[a.clone(), stranger.clone()]).unwrap_err();
    assert!(e.contains(&stranger.root().to_hex()) && e.contains("none of its"), "{e}");
    let e = x.engine.take_proposal_blobs(&block, &[a.clone(), a.clone()]).unwrap_err();
    assert!(e.contains("twice"), "{e}");
    assert!(!held(&a) && !held(&stranger), "a refused proposal leaves nothing stored");

    assert_eq!(x.engine.take_proposal_blobs(&block, &[a.clone(), b.clone()]), Ok(2));
    assert!(held(&a) && held(&b));
    assert_eq!(x.engine.take_proposal_blobs(&block, &[b.clone()]), Ok(0), "a blob already held is not kept again");
    // The proposer's side: what it holds of what the block names, within the budget.
    let sent = x.engine.proposal_blobs(&block, usize::MAX);
    assert_eq!(sent.iter().map(|s| s.root()).collect::<Vec<_>>(), vec![a.root(), b.root()]);
    assert_eq!(x.engine.proposal_blobs(&block, a.data.len() + 16).len(), 1, "past the budget a blob is left out");
}
