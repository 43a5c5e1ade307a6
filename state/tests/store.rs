//! The RocksDB store: atomic commits, restart at the same head and root, and a startup
//! consistency check that refuses a damaged database.
mod common;
use common::*;
use cpc_primitives::*;
use cpc_state::*;

fn genesis_block(root: H256) -> Block {
    let sk = key(0);
    let header = Header {
        height: 0,
        prev_hash: H256::ZERO,
        timestamp: 1,
        chain_id: "cpc-test".into(),
        proposer_address: ValconsAddress::from_public_key(&sk.public_key()),
        round: 0,
        tx_root: tx_root(&[]),
        state_root: root,
        compute_root: ComputeRoot(None),
        gas_used: 0,
        gas_limit: 50_000_000,
        share_target: ShareTarget::MAX,
    };
    Block::seal(header, vec![], &sk)
}

fn init(store: &Store) -> Block {
    let p = params();
    let mut ex = BlockExecutor::new(store, &p, 0);
    for i in 0..3 {
        ex.allocate(&addr(i), 1000 * UNITS_PER_CPC).unwrap();
    }
    let out = ex.finish_genesis().unwrap();
    let g = genesis_block(out.state_root);
    store.commit_genesis(&g, &out, b"{}").unwrap();
    g
}

fn next_block(store: &Store, txs: Vec<Transaction>) -> (Block, Vec<H256>, BlockOutcome) {
    next_block_paying(store, txs, &[])
}

/// The next block on the head, paying one share to each of `share_workers` (the store does not
/// check shares: consensus does). Its share_target is the parent's halved, so the canonical
/// index has something to carry.
fn next_block_paying(store: &Store, txs: Vec<Transaction>, share_workers: &[Address]) -> (Block, Vec<H256>, BlockOutcome) {
    next_block_with(store, &params(), txs, share_workers)
}

fn next_block_with(store: &Store, p: &ChainParams, txs: Vec<Transaction>, share_workers: &[Address]) -> (Block, Vec<H256>, BlockOutcome) {
    let head = store.head().unwrap();
    let mut ex = BlockExecutor::new(store, p, head.height + 1);
    let hashes: Vec<H256> = txs.iter().map(|t| t.hash()).collect();
    for (t, h) in txs.iter().zip(&hashes) {
        ex.execute(t, *h).unwrap();
    }
    let sk = key(0);
    let proposer = Address::from_public_key(&sk.public_key());
    let out = ex.finish(&BlockInputs::plain(proposer), share_workers).unwrap();
    let header = Header {
        height: head.height + 1,
        prev_hash: head.hash,
        timestamp: head.timestamp + 1000,
        chain_id: "cpc-test".into(),
        proposer_address: proposer.to_valcons(),
        round: 0,
        tx_root: tx_root(&hashes),
        state_root: out.state_root,
        compute_root: compute_root_of_txs(&txs).unwrap(),
        gas_used: out.gas_used,
        gas_limit: 50_000_000,
        share_target: ShareTarget((head.share_target.0 / 2).max(1)),
    };
    (Block::seal(header, txs, &sk), hashes, out)
}

#[test]
fn commit_then_reopen_resumes_at_the_same_head_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let (head, bal) = {
        let store = Store::open(dir.path()).unwrap();
        init(&store);
        for n in 0..3 {
            let (b, h, o) = next_block(&store, vec![transfer(1, addr(2), 7, n, 1000), submit(2, &format!("t{n}"), n)]);
            store.commit_block(&b, &h, &o).unwrap();
        }
        (store.head().unwrap(), store.account(&addr(2)).unwrap())
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(head.height, 3);
    assert_eq!(store.account(&addr(2)).unwrap(), bal);
    let b = store.block(&head.hash).unwrap().unwrap();
    assert_eq!(b.transactions.len(), 2);
    let r = store.receipt(&b.transactions[0].hash()).unwrap().unwrap();
    assert_eq!((r.block_height, r.block_hash, r.status), (3, head.hash, TxStatus::Success));
    assert!(store.task_known("t2").unwrap());
    assert!(!store.task_known("t9").unwrap());
    assert_eq!(store.hash_at(3).unwrap(), Some(head.hash));
    // The next block builds on the reopened state.
    let (b, h, o) = next_block(&store, vec![transfer(1, addr(2), 7, 3, 1000)]);
    store.commit_block(&b, &h, &o).unwrap();
    assert_eq!(store.head().unwrap().height, 4);
}

#[test]
fn a_block_not_on_the_head_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    let (mut b, h, o) = next_block(&store, vec![]);
    b.header.prev_hash = H256([9; 32]);
    assert!(matches!(store.commit_block(&b, &h, &o), Err(StoreError::NotOnHead { .. })));
    assert_eq!(store.head().unwrap().height, 0);
}

#[test]
fn genesis_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = init(&store);
    let p = params();
    let out = BlockExecutor::new(&store, &p, 0).finish_genesis().unwrap();
    assert!(matches!(store.commit_genesis(&g, &out, b"{}"), Err(StoreError::AlreadyInitialized(_))));
}

#[test]
fn a_tampered_account_fails_the_startup_check() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        init(&store);
    }
    {
        // Change one balance behind the store's back.
        let cfs = ["meta", "blocks", "canonical", "txs", "receipts", "accounts", "tasks", "rewards", "workers", "staking"];
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let cf = db.cf_handle("accounts").unwrap();
        let mut v = db.get_cf(cf, addr(1).0).unwrap().unwrap();
        v[0] ^= 1;
        db.put_cf(cf, addr(1).0, v).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(&err, StoreError::Damaged { detail, .. } if detail.contains("consistency check failed")), "{err}");
    assert!(err.to_string().contains("What to do: restore this datadir from a backup"), "{err}");
}

/// A chain of `blocks` blocks in `dir`, closed; `flushed` reopens it once so that recovery
/// writes the log into table files (a fresh write-ahead log is then empty).
fn chain_on_disk(dir: &std::path::Path, blocks: u64, flushed: bool) -> Head {
    let head = {
        let store = Store::open(dir).unwrap();
        init(&store);
        for n in 0..blocks {
            let (b, h, o) = next_block(&store, vec![transfer(1, addr(2), 7, n, 1000)]);
            store.commit_block(&b, &h, &o).unwrap();
        }
        store.head().unwrap()
    };
    if flushed {
        assert_eq!(Store::open(dir).unwrap().head(), Some(head));
    }
    head
}

fn files_in(dir: &std::path::Path, what: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| what(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

fn refused_as_damaged(dir: &std::path::Path, what: &str) -> String {
    let err = Store::open(dir).err().unwrap_or_else(|| panic!("{what}: the store opened"));
    assert!(matches!(err, StoreError::Damaged { .. }), "{what}: expected a damaged-database error, found {err}");
    let msg = err.to_string();
    assert!(msg.contains("What to do") && msg.contains("sync the chain from peers"), "{what}: {msg}");
    msg
}

#[test]
fn a_database_that_lost_its_current_file_is_refused_not_started_afresh() {
    let dir = tempfile::tempdir().unwrap();
    chain_on_disk(dir.path(), 3, true);
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let msg = refused_as_damaged(dir.path(), "no CURRENT");
    assert!(msg.contains("CURRENT file is missing"), "{msg}");
    // Nothing was created over the old files: a second try says the same.
    assert!(!dir.path().join("CURRENT").exists());
    refused_as_damaged(dir.path(), "no CURRENT, again");
}

#[test]
fn a_truncated_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    chain_on_disk(dir.path(), 3, true);
    for m in files_in(dir.path(), |n| n.starts_with("MANIFEST-")) {
        let len = std::fs::metadata(&m).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&m).unwrap().set_len(len / 2).unwrap();
    }
    refused_as_damaged(dir.path(), "truncated MANIFEST");
}

#[test]
fn a_damaged_or_missing_table_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    chain_on_disk(dir.path(), 3, true);
    let tables = files_in(dir.path(), |n| n.ends_with(".sst"));
    assert!(!tables.is_empty(), "the reopen wrote table files");
    // The footer (read when a table is opened) of every table overwritten.
    let copy = tempfile::tempdir().unwrap();
    for f in files_in(dir.path(), |_| true) {
        std::fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
    }
    for t in &tables {
        let mut bytes = std::fs::read(t).unwrap();
        let n = bytes.len();
        bytes[n - 48..].iter_mut().for_each(|b| *b ^= 0x5a);
        std::fs::write(t, bytes).unwrap();
    }
    refused_as_damaged(dir.path(), "damaged table footers");
    // The copy, with its first table file deleted.
    std::fs::remove_file(copy.path().join(tables[0].file_name().unwrap())).unwrap();
    refused_as_damaged(copy.path(), "a missing table file");
}

#[test]
fn damage_inside_the_write_ahead_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    chain_on_disk(dir.path(), 6, false);
    let logs = files_in(dir.path(), |n| n.ends_with(".log"));
    let log = logs.iter().max_by_key(|l| std::fs::metadata(l).unwrap().len()).expect("a write-ahead log");
    let mut bytes = std::fs::read(log).unwrap();
    let at = bytes.len() / 3;
    bytes[at..at + 16].iter_mut().for_each(|b| *b ^= 0xff);
    std::fs::write(log, bytes).unwrap();
    refused_as_damaged(dir.path(), "a flipped record inside the log");
}

#[test]
fn a_torn_last_write_is_dropped_and_the_chain_opens_one_block_back() {
    // Only the write in flight can be torn (every commit is synced before it is reported):
    // the store opens at the block before it, whole.
    let dir = tempfile::tempdir().unwrap();
    let head = chain_on_disk(dir.path(), 6, false);
    let logs = files_in(dir.path(), |n| n.ends_with(".log"));
    let log = logs.iter().max_by_key(|l| std::fs::metadata(l).unwrap().len()).expect("a write-ahead log");
    let len = std::fs::metadata(log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(log).unwrap().set_len(len - 10).unwrap();
    let store = Store::open(dir.path()).expect("a torn tail is not damage");
    let reopened = store.head().unwrap();
    assert_eq!(reopened.height, head.height - 1);
    assert_eq!(store.hash_at(head.height).unwrap(), None);
    assert_eq!(store.hash_at(reopened.height).unwrap(), Some(reopened.hash));
}

#[test]
fn deferred_writes_cut_anywhere_leave_a_whole_block_prefix() {
    // A range fetched by sync is written block by block without a sync, then synced once
    // (Durability::Deferred + persist). A power loss before the sync keeps any prefix of the
    // log the disk got: cut the log at many points, and every cut must open at a whole block
    // (its receipts and the state root of that block there, nothing of the next), and a
    // persisted range survives whole.
    let dir = tempfile::tempdir().unwrap();
    let mut heads = Vec::new();
    let mut receipts = Vec::new();
    {
        let store = Store::open(dir.path()).unwrap();
        init(&store);
        heads.push(store.head().unwrap());
        for n in 0..8u64 {
            let (b, h, o) = next_block(&store, vec![transfer(1, addr(2), 7, 2 * n, 1000), transfer(1, addr(3), 5, 2 * n + 1, 1000)]);
            let durability = if n < 2 { Durability::Synced } else { Durability::Deferred };
            store.commit_certified_block_with(&b, &h, &o, b"certificate", durability).unwrap();
            heads.push(store.head().unwrap());
            receipts.push(h[0]);
        }
        store.persist().unwrap();
        // Not flushed, not closed: the log is all there is.
        std::mem::forget(store);
    }
    let logs = files_in(dir.path(), |n| n.ends_with(".log"));
    let log = logs.iter().max_by_key(|l| std::fs::metadata(l).unwrap().len()).expect("a write-ahead log").clone();
    let full = std::fs::read(&log).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for cut in (0..=40).map(|i| full.len() - i * full.len() / 80) {
        let copy = tempfile::tempdir().unwrap();
        for f in files_in(dir.path(), |n| n != "LOCK") {
            std::fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
        }
        std::fs::write(copy.path().join(log.file_name().unwrap()), &full[..cut]).unwrap();
        let store = match Store::open(copy.path()) {
            Ok(s) => s,
            // A cut inside the log's first records (genesis, the schema) is not a chain.
            Err(e) if cut < full.len() / 4 => {
                assert!(matches!(e, StoreError::Damaged { .. } | StoreError::Inconsistent(_)), "cut at {cut}: {e}");
                continue;
            }
            Err(e) => panic!("cut at {cut} of {}: {e}", full.len()),
        };
        let head = store.head().unwrap();
        let at = heads.iter().position(|h| *h == head).unwrap_or_else(|| panic!("cut at {cut}: head {head:?} is not a committed head"));
        for (i, r) in receipts.iter().enumerate() {
            assert_eq!(store.receipt(r).unwrap().is_some(), i < at, "cut at {cut}: receipt of block {}", i + 1);
        }
        assert_eq!(store.hash_at(head.height + 1).unwrap(), None, "cut at {cut}: nothing of the next block");
        seen.insert(at);
        if cut == full.len() {
            assert_eq!(at, 8, "the persisted range is whole");
        }
    }
    assert!(seen.len() >= 4, "the cuts landed on several blocks: {seen:?}");
}

#[test]
fn the_canonical_index_carries_hash_target_time_and_shares() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = init(&store);
    let g0 = store.canon_at(0).unwrap().unwrap();
    assert_eq!(g0, CanonEntry { hash: g.hash(), share_target: ShareTarget::MAX, timestamp: 1, shares: 0 });
    let (b, h, o) = next_block_paying(&store, vec![], &[addr(1), addr(2), addr(1)]);
    store.commit_block(&b, &h, &o).unwrap();
    let e = store.canon_at(1).unwrap().unwrap();
    assert_eq!(
        e,
        CanonEntry { hash: b.hash(), share_target: b.header.share_target, timestamp: b.header.timestamp, shares: 3 }
    );
    assert_eq!(e.share_target, ShareTarget(u64::MAX / 2));
    assert_eq!(store.head().unwrap().share_target, b.header.share_target, "the head carries the target too");
    assert_eq!(store.hash_at(1).unwrap(), Some(b.hash()));
    assert_eq!(store.canon_at(2).unwrap(), None);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.canon_at(1).unwrap(), Some(e), "survives a reopen");
    assert_eq!(store.head().unwrap().share_target, e.share_target);
}

#[test]
fn the_worker_index_follows_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    let per_share = params().economics.share_reward(1, params().poc.shares_per_block);
    assert_eq!(per_share, 3 * UNITS_PER_CPC / 8);
    let (w1, w2, idle) = (addr(1), Address([0x42; 20]), addr(2));
    assert_eq!(store.worker_stats(&w1).unwrap(), None);

    // Block 1: w1 two shares, w2 one.
    let (b1, h1, o1) = next_block_paying(&store, vec![], &[w1, w2, w1]);
    store.commit_block(&b1, &h1, &o1).unwrap();
    let after1 = (
        WorkerStats { shares: 2, rewards: 2 * per_share, last_share_height: 1 },
        WorkerStats { shares: 1, rewards: per_share, last_share_height: 1 },
    );
    assert_eq!(store.worker_stats(&w1).unwrap(), Some(after1.0));
    assert_eq!(store.worker_stats(&w2).unwrap(), Some(after1.1));
    assert_eq!(store.worker_stats(&idle).unwrap(), None, "no share, no entry");

    // Block 2: w1 one more share; w2 none (its entry stays as it was).
    let (b2, h2, o2) = next_block_paying(&store, vec![], &[w1]);
    store.commit_block(&b2, &h2, &o2).unwrap();
    assert_eq!(
        store.worker_stats(&w1).unwrap(),
        Some(WorkerStats { shares: 3, rewards: 3 * per_share, last_share_height: 2 })
    );
    assert_eq!(store.worker_stats(&w2).unwrap(), Some(after1.1));
    // The index agrees with the balances the shares paid (w2 had no account before).
    assert_eq!(store.account(&w2).unwrap().balance, per_share);

    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.worker_stats(&w1).unwrap().map(|s| s.shares), Some(3), "the index was written, not just cached");
}

#[test]
fn a_v1_datadir_is_refused_and_left_as_it_was() {
    // The v1 (schema 1) layout: nine column families, no "workers".
    const V1_CFS: [&str; 9] = ["meta", "blocks", "canonical", "txs", "receipts", "accounts", "tasks", "undo", "rewards"];
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&opts, dir.path(), V1_CFS).unwrap();
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"schema", 1u32.to_le_bytes()).unwrap();
        db.put_cf(db.cf_handle("canonical").unwrap(), 0u64.to_be_bytes(), [7u8; 32]).unwrap();
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let before = sorted(rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap());
    assert_eq!(before.len(), V1_CFS.len() + 1, "the nine plus rocksdb's default: {before:?}");

    let err = Store::open(dir.path()).err().expect("a v1 datadir must be refused");
    assert!(matches!(err, StoreError::Schema { expected: 4, found: 1 }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("older cpcd"), "the message says what happened: {msg}");
    assert!(msg.contains("datadir"), "and what to do: {msg}");

    // Nothing was created or written: the old layout opens as before, with its data.
    let after = sorted(rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap());
    assert_eq!(after, before);
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), V1_CFS).unwrap();
    let meta = db.cf_handle("meta").unwrap();
    assert_eq!(db.get_cf(meta, b"schema").unwrap(), Some(1u32.to_le_bytes().to_vec()));
    assert_eq!(db.get_cf(db.cf_handle("canonical").unwrap(), 0u64.to_be_bytes()).unwrap(), Some(vec![7u8; 32]));
    drop(db);
    // Refused again on a second try (the first refusal changed nothing).
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Schema { found: 1, .. })));
}

#[test]
fn a_v2_datadir_with_undo_records_is_refused() {
    // Schema 2 kept undo records for reorgs (gone with finality): its extra column family.
    const V2_CFS: [&str; 10] = ["meta", "blocks", "canonical", "txs", "receipts", "accounts", "tasks", "undo", "rewards", "workers"];
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&opts, dir.path(), V2_CFS).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema", 2u32.to_le_bytes()).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("a v2 datadir must be refused");
    assert!(matches!(err, StoreError::Schema { expected: 4, found: 2 }), "{err:?}");
    assert!(err.to_string().contains("older cpcd"), "{err}");
}

#[test]
fn a_v3_datadir_without_staking_records_is_refused() {
    // Schema 3 (BFT finality, the genesis validator set fixed): no "staking" column family.
    const V3_CFS: [&str; 9] = ["meta", "blocks", "canonical", "txs", "receipts", "accounts", "tasks", "rewards", "workers"];
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&opts, dir.path(), V3_CFS).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema", 3u32.to_le_bytes()).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("a v3 datadir must be refused");
    assert!(matches!(err, StoreError::Schema { expected: 4, found: 3 }), "{err:?}");
    let listed = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    assert!(!listed.iter().any(|c| c == "staking"), "nothing was created: {listed:?}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        init(&store);
    }
    {
        let cfs = ["meta", "blocks", "canonical", "txs", "receipts", "accounts", "tasks", "rewards", "workers", "staking"];
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"schema", 5u32.to_le_bytes()).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::Schema { expected: 4, found: 5 }), "{err:?}");
    assert!(err.to_string().contains("newer cpcd"), "{err}");
}

#[test]
fn evidence_is_kept_once_in_height_order_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    assert!(store.put_evidence(9, &H256([1; 32]), b"nine").unwrap());
    assert!(store.put_evidence(3, &H256([2; 32]), b"three").unwrap());
    assert!(store.put_evidence(256, &H256([0; 32]), b"big").unwrap(), "256 sorts after 9 (big-endian heights)");
    assert!(!store.put_evidence(9, &H256([1; 32]), b"nine again").unwrap(), "kept once");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let all = store.evidence(0, 10).unwrap();
    assert_eq!(all, vec![(3, b"three".to_vec()), (9, b"nine".to_vec()), (256, b"big".to_vec())]);
    assert_eq!(store.evidence(4, 10).unwrap().len(), 2);
    assert_eq!(store.evidence(0, 1).unwrap(), vec![(3, b"three".to_vec())]);
    assert_eq!(store.evidence(257, 10).unwrap(), vec![]);
    assert!(store.certificate(0).unwrap().is_none(), "evidence keys do not collide with certificates");
}

#[test]
fn the_same_evidence_put_from_many_threads_at_once_is_new_exactly_once() {
    // Consensus and peers' gossip can hand the node one piece at the same moment; the caller
    // counts and re-gossips a piece only when it is new.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    for round in 0..20u8 {
        let start = std::sync::Barrier::new(8);
        let new = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        store.put_evidence(7, &H256([round; 32]), b"piece").unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).filter(|n| *n).count()
        });
        assert_eq!(new, 1, "round {round}");
    }
    assert_eq!(store.evidence(0, 100).unwrap().len(), 20);
}

/// A result sent by `from` that names `worker` as the one to pay.
fn submit_for(from: u8, worker: Address, task_id: &str, nonce: u64) -> Transaction {
    let r = ComputeResult {
        task_id: task_id.into(),
        worker_address: worker.to_string(),
        result_hash: "cd".repeat(32),
        proof: None,
        nonce: Some(1),
        signature: None,
    };
    UnsignedTx::submit_result("cpc-test", addr(from), &r, nonce, 1000).sign(&key(from))
}

#[test]
fn the_account_history_lists_each_address_s_transactions_newest_first_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    let outsider = Address([0x77; 20]);
    // The expectation is kept here, from the transactions as the test made them: (height,
    // index, hash, every address the transaction names).
    let mut placed: Vec<(u64, u32, H256, Vec<Address>)> = Vec::new();
    let mut nonces = [0u64; 3];
    let mut next = |i: u8| {
        nonces[i as usize] += 1;
        nonces[i as usize] - 1
    };
    for height in 1..=6u64 {
        let mut txs = vec![transfer(1, addr(2), 5, next(1), 1000)];
        if height % 2 == 0 {
            txs.push(transfer(2, outsider, 1, next(2), 1000));
            txs.push(transfer(2, addr(2), 1, next(2), 1000)); // to itself: listed once
        }
        if height % 3 == 0 {
            txs.push(submit_for(1, addr(0), &format!("task-{height}"), next(1)));
        }
        let (b, h, o) = next_block(&store, txs.clone());
        store.commit_block(&b, &h, &o).unwrap();
        for (i, t) in txs.iter().enumerate() {
            let mut named = vec![t.from_address];
            named.extend(t.to_address);
            if t.tx_type == TxType::SubmitResult {
                named.push(addr(0));
            }
            placed.push((height, i as u32, t.hash(), named));
        }
    }
    let expect = |a: Address| -> Vec<(u64, u32, H256)> {
        placed.iter().rev().filter(|(.., named)| named.contains(&a)).map(|(h, i, t, _)| (*h, *i, *t)).collect()
    };
    for a in [addr(0), addr(1), addr(2), outsider] {
        let all = store.account_txs(&a, None, 1000).unwrap();
        assert_eq!(all, expect(a), "history of {a}");
        // Paging by the last place seen gives the same list, none twice, none missed.
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = store.account_txs(&a, before, 2).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            before = page.last().map(|(h, i, _)| (*h, *i));
            paged.extend(page);
        }
        assert_eq!(paged, all, "paged history of {a}");
    }
    assert_eq!(expect(addr(2)).iter().filter(|(h, ..)| *h == 2).count(), 3, "the self-transfer is one entry");
    assert_eq!(store.account_txs(&Address([0x99; 20]), None, 10).unwrap(), vec![], "an unknown address has none");
    assert_eq!(store.account_txs(&addr(1), Some((0, 0)), 10).unwrap(), vec![]);
    // The task index names the transaction that answered the task.
    let (h3, i3, t3) = expect(addr(0))[1];
    assert_eq!(h3, 3);
    assert_eq!(store.task_tx("task-3").unwrap(), Some(t3));
    assert_eq!(store.receipt(&t3).unwrap().unwrap().index, i3);
    assert_eq!(store.task_tx("task-4").unwrap(), None);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.account_txs(&addr(1), None, 1000).unwrap(), expect(addr(1)), "written, not cached");
}

#[test]
fn market_blobs_are_kept_under_their_root_counted_across_restarts_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let a = Blob::from_i8(3, 4, &[1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12]).unwrap();
    let c = Blob::from_i32(5, 2, &[1 << 26, -1, 0, 7, 9, 9, -3, 4, 2, 1]).unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        init(&store);
        let root = store.put_blob(&a).unwrap();
        assert_eq!(root, a.root());
        assert_eq!(store.blob(&root).unwrap().as_deref(), Some(&a));
        let held = store.blob_bytes();
        assert_eq!(held, a.encode().len() as u64);
        // The same blob again is not counted twice.
        store.put_blob(&a).unwrap();
        assert_eq!(store.blob_bytes(), held);
        // Past the cap: refused with the numbers, nothing written.
        let e = store.put_blob_capped(&c, held + 10).unwrap_err();
        assert!(matches!(e, StoreError::BlobsFull { .. }), "{e}");
        assert!(e.to_string().contains("market blob store full"), "{e}");
        assert!(store.blob(&c.root()).unwrap().is_none());
        store.put_blob(&c).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.blob_bytes(), (a.encode().len() + c.encode().len()) as u64, "recounted at open");
    assert_eq!(store.blob(&c.root()).unwrap().unwrap().as_i32(), c.as_i32());
}

/// Params with the market on and no blob fee (balances read as price and gas only).
fn market_params() -> ChainParams {
    let mut p = params();
    p.market = MarketParams { enabled: true, blob_fee_per_byte: 0, ..MarketParams::default() };
    p
}

/// Signs market transactions from accounts 0-2 at their next nonces.
fn market_signer() -> impl FnMut(u8, TxType, u128, serde_json::Value) -> Transaction {
    let mut nonces = [0u64; 3];
    move |from: u8, t: TxType, amount: u128, v: serde_json::Value| {
        let n = nonces[from as usize];
        nonces[from as usize] += 1;
        let payload = Payload::from_map(v.as_object().unwrap().clone()).unwrap();
        UnsignedTx::at_intrinsic_gas("cpc-test", t, addr(from), None, amount, n, 1000, payload).sign(&key(from))
    }
}

/// Commits the next block with `txs`, each of which must succeed.
fn commit_market_block(store: &Store, p: &ChainParams, txs: Vec<Transaction>) -> u64 {
    let (b, h, o) = next_block_with(store, p, txs, &[]);
    for (i, out) in o.outcomes.iter().enumerate() {
        assert_eq!(out.status, TxStatus::Success, "tx {i} of block {}: {:?}", b.header.height, out.error);
    }
    store.commit_block(&b, &h, &o).unwrap();
    b.header.height
}

/// The market's node-local blob bookkeeping against real commits: a blob goes once every job
/// that uses it is closed and past its retention (not a block before), a blob no job uses goes
/// UNREFERENCED_BLOB_BLOCKS after it was put, the byte count follows (also across a restart),
/// a pruned blob says when it went, and one put again is kept again.
#[test]
fn market_blobs_are_pruned_once_every_job_using_them_is_past_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    let p = market_params();
    let blob = |seed: i8, rows: u32, cols: u32| Blob::from_i8(rows, cols, &vec![seed; (rows * cols) as usize]).unwrap();
    let (a1, a2, shared_b, unused) = (blob(1, 2, 3), blob(2, 2, 3), blob(3, 3, 2), blob(4, 1, 1));
    let c1 = Blob::from_i32(2, 2, &[9, 9, 9, 9]).unwrap();
    let size = |b: &Blob| b.encode().len() as u64;
    for b in [&a1, &a2, &shared_b, &unused, &c1] {
        store.put_blob(b).unwrap();
    }
    let put_at = store.head().unwrap().height;
    let mut tx = market_signer();
    let retention = 3u64;
    let post = |a: &Blob| {
        serde_json::json!({"m": 2, "k": 3, "n": 2, "a_root": a.root().to_hex(), "b_root": shared_b.root().to_hex(), "bond": "1",
            "claim_blocks": 50, "deadline": 500, "retention": retention})
    };
    let commit = |store: &Store, txs: Vec<Transaction>| {
        let height = commit_market_block(store, &p, txs);
        // What the engine does after each commit.
        store.prune_blobs(height, 1024).unwrap()
    };
    let held = |store: &Store, b: &Blob| store.blob(&b.root()).unwrap().is_some();

    // Two jobs share B; job 1 is claimed and paid with C.
    let (post1, post2) = (tx(0, TxType::PostJob, 10, post(&a1)), tx(0, TxType::PostJob, 10, post(&a2)));
    let (job1, job2) = (post1.hash(), post2.hash());
    commit(&store, vec![post1, post2]);
    commit(&store, vec![tx(1, TxType::ClaimJob, 1, serde_json::json!({"job_id": job1.to_hex()}))]);
    let r = ComputeResult {
        task_id: format!("job:{}", job1.to_hex()),
        worker_address: addr(1).to_string(),
        result_hash: c1.root().to_hex(),
        proof: None,
        nonce: None,
        signature: None,
    };
    let result = UnsignedTx::submit_result("cpc-test", addr(1), &r, 1, 1000).sign(&key(1)); // after its claim
    commit(&store, vec![result]);
    let closed = store.head().unwrap().height;
    let all = size(&a1) + size(&a2) + size(&shared_b) + size(&unused) + size(&c1);
    assert_eq!(store.blob_bytes(), all);

    // Through closed + retention everything is kept; at the block after it, job 1's A and C go
    // and the shared B stays (job 2 is open).
    while store.head().unwrap().height < closed + retention {
        assert_eq!(commit(&store, vec![]).pruned, 0);
    }
    assert!(held(&store, &a1) && held(&store, &c1));
    let pruned = commit(&store, vec![]);
    assert_eq!((pruned.pruned, pruned.bytes), (2, size(&a1) + size(&c1)));
    let h = store.head().unwrap().height;
    assert!(!held(&store, &a1) && !held(&store, &c1));
    assert_eq!(store.blob_pruned_at(&a1.root()).unwrap(), Some(h));
    assert!(held(&store, &shared_b) && held(&store, &a2) && held(&store, &unused));
    assert_eq!(store.blob_pruned_at(&shared_b.root()).unwrap(), None);
    assert_eq!(store.blob_bytes(), all - size(&a1) - size(&c1));

    // Job 2 is cancelled: its A and the shared B go `retention` blocks later.
    commit(&store, vec![tx(0, TxType::CancelJob, 0, serde_json::json!({"job_id": job2.to_hex()}))]);
    let cancelled = store.head().unwrap().height;
    while store.head().unwrap().height < cancelled + retention {
        commit(&store, vec![]);
    }
    assert!(held(&store, &shared_b));
    assert_eq!(commit(&store, vec![]).pruned, 2);
    assert!(!held(&store, &shared_b) && !held(&store, &a2));

    // The blob no job used is kept for UNREFERENCED_BLOB_BLOCKS after its put, then goes.
    let due = put_at + UNREFERENCED_BLOB_BLOCKS;
    assert_eq!(store.prune_blobs(due - 1, 1024).unwrap().pruned, 0);
    assert!(held(&store, &unused));
    assert_eq!(store.prune_blobs(due, 1024).unwrap().pruned, 1);
    assert!(!held(&store, &unused));
    assert_eq!(store.blob_bytes(), 0);

    // Counted from the database at open; a pruned blob put again is held (and not "gone").
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.blob_bytes(), 0);
    assert_eq!(store.blob_pruned_at(&c1.root()).unwrap(), Some(h));
    store.put_blob(&c1).unwrap();
    assert!(held(&store, &c1));
    assert_eq!(store.blob_pruned_at(&c1.root()).unwrap(), None);
    assert_eq!(store.blob_bytes(), size(&c1));
    // The job that used it closed long ago: only the new put's look decides (an hour on).
    let now = store.head().unwrap().height;
    assert_eq!(store.prune_blobs(now + 1, 1024).unwrap().pruned, 0);
    assert!(held(&store, &c1));
}

/// A pass looks at a bounded number of due entries and leaves the rest for the next one.
#[test]
fn a_blob_prune_pass_is_bounded_and_the_rest_waits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    for i in 0..10i8 {
        store.put_blob(&Blob::from_i8(1, 1, &[i]).unwrap()).unwrap();
    }
    let due = store.head().unwrap().height + UNREFERENCED_BLOB_BLOCKS;
    let first = store.prune_blobs(due, 4).unwrap();
    assert_eq!((first.checked, first.pruned, first.more), (4, 4, true));
    let second = store.prune_blobs(due, 100).unwrap();
    assert_eq!((second.checked, second.pruned, second.more), (6, 6, false));
    assert_eq!(store.blob_bytes(), 0);
    assert_eq!(store.prune_blobs(due, 100).unwrap(), BlobPrune::default());
}

/// The job lists by a full scan of the job records, sorted by posted height then tree slot:
/// what the index must agree with (computed without it).
fn jobs_by_scan(store: &Store, worker: Option<&Address>) -> Vec<H256> {
    use cpc_state::stake::{StakeKey, StakeRecord, TAG_JOB};
    let mut all = Vec::new();
    for (k, e) in store.stake_prefix(&[TAG_JOB]).unwrap() {
        let Some(key @ StakeKey::Job(id)) = StakeKey::decode(&k) else { panic!("a job key") };
        let Ok(StakeRecord::Job(rec)) = StakeRecord::from_bytes(&key, &e.value) else { panic!("a job record") };
        let keep = match worker {
            None => rec.status == JobStatus::Open,
            Some(w) => rec.claimant.as_ref() == Some(w),
        };
        if keep {
            all.push((rec.posted_height, e.slot, id));
        }
    }
    all.sort();
    all.into_iter().map(|(_, _, id)| id).collect()
}

/// Every page of a list, `per_page` at a time, each after the previous page's last id.
fn jobs_paged(store: &Store, which: JobList<'_>, per_page: usize) -> Vec<H256> {
    let (mut out, mut after) = (Vec::new(), None);
    loop {
        let page = store.jobs(which, after.as_ref(), per_page).unwrap().expect("a known cursor");
        assert!(page.len() <= per_page);
        out.extend(page.iter().map(|(id, _)| *id));
        match page.last() {
            Some((id, _)) if page.len() == per_page => after = Some(*id),
            _ => return out,
        }
    }
}

#[test]
fn the_job_index_lists_open_and_worker_jobs_in_posting_order_page_by_page_and_follows_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    init(&store);
    let p = market_params();
    let (a, b) = (Blob::from_i8(2, 3, &[1; 6]).unwrap(), Blob::from_i8(3, 2, &[2; 6]).unwrap());
    store.put_blob(&a).unwrap();
    store.put_blob(&b).unwrap();
    let mut tx = market_signer();
    let post = |claim_blocks: u64| {
        serde_json::json!({"m": 2, "k": 3, "n": 2, "a_root": a.root().to_hex(), "b_root": b.root().to_hex(), "bond": "1",
            "claim_blocks": claim_blocks, "deadline": 500, "retention": 3})
    };
    let (w1, w2) = (addr(1), addr(2));
    let check = |store: &Store, when: &str| {
        for (which, worker) in [(JobList::Open, None), (JobList::Worker(&w1), Some(&w1)), (JobList::Worker(&w2), Some(&w2))] {
            let want = jobs_by_scan(store, worker);
            for per_page in [1, 2, 3, 100] {
                assert_eq!(jobs_paged(store, which, per_page), want, "{when}: {which:?}, {per_page} a page");
            }
        }
    };
    let commit = |store: &Store, txs: Vec<Transaction>| {
        commit_market_block(store, &p, txs);
    };

    // Seven jobs over three blocks (three, two, two): open in posting order.
    let mut jobs = Vec::new();
    for per_block in [3, 2, 2] {
        let txs: Vec<Transaction> = (0..per_block).map(|i| tx(0, TxType::PostJob, 10, post(if i == 0 { 2 } else { 50 }))).collect();
        jobs.extend(txs.iter().map(|t| t.hash()));
        commit(&store, txs);
        check(&store, "after posting");
    }
    assert_eq!(jobs_by_scan(&store, None), jobs, "the scan lists them as posted");
    // Claims: jobs 0 (a 2-block claim) and 4 by worker 1, job 2 by worker 2; job 5 cancelled.
    let claim = |id: &H256| serde_json::json!({"job_id": id.to_hex()});
    commit(&store, vec![tx(1, TxType::ClaimJob, 1, claim(&jobs[0])), tx(1, TxType::ClaimJob, 1, claim(&jobs[4])), tx(2, TxType::ClaimJob, 1, claim(&jobs[2]))]);
    commit(&store, vec![tx(0, TxType::CancelJob, 0, claim(&jobs[5]))]);
    check(&store, "after claims and a cancel");
    assert_eq!(jobs_by_scan(&store, None), [jobs[1], jobs[3], jobs[6]]);
    assert_eq!(jobs_by_scan(&store, Some(&w1)), [jobs[0], jobs[4]]);
    // Worker 1's claim on job 0 lapses: it reopens in its old place and leaves worker 1's list.
    commit(&store, vec![]);
    commit(&store, vec![]);
    check(&store, "after a lapsed claim");
    assert_eq!(jobs_by_scan(&store, None), [jobs[0], jobs[1], jobs[3], jobs[6]]);
    assert_eq!(jobs_by_scan(&store, Some(&w1)), [jobs[4]]);
    // Worker 2 is paid for job 2: it stays on worker 2's list (done), off the open one.
    let r = ComputeResult {
        task_id: format!("job:{}", jobs[2].to_hex()),
        worker_address: w2.to_string(),
        result_hash: Blob::from_i32(2, 2, &[0; 4]).unwrap().root().to_hex(),
        proof: None,
        nonce: None,
        signature: None,
    };
    commit(&store, vec![UnsignedTx::submit_result("cpc-test", w2, &r, 1, 1000).sign(&key(2))]);
    check(&store, "after a paid result");
    assert_eq!(jobs_by_scan(&store, Some(&w2)), [jobs[2]]);

    // A cursor is a place in posting order, open or not; an unknown id is no cursor.
    let after_2 = store.jobs(JobList::Open, Some(&jobs[2]), 10).unwrap().unwrap();
    assert_eq!(after_2.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [jobs[3], jobs[6]]);
    assert!(store.jobs(JobList::Open, Some(&H256([7; 32])), 10).unwrap().is_none());

    // A datadir of a cpcd before the index (no marker, no entries) gets it built at open.
    let want: Vec<_> = [None, Some(&w1), Some(&w2)].iter().map(|w| jobs_by_scan(&store, *w)).collect();
    drop(store);
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), &cfs).unwrap();
        let meta = db.cf_handle("meta").unwrap();
        let index: Vec<Box<[u8]>> = db
            .iterator_cf(meta, rocksdb::IteratorMode::Start)
            .map(|kv| kv.unwrap().0)
            .filter(|k| k.starts_with(b"jobopen/") || k.starts_with(b"jobworker/") || &k[..] == b"jobindex")
            .collect();
        assert_eq!(index.len(), 4 + 1 + 1 + 1, "open, worker 1, worker 2 entries and the marker");
        for k in index {
            db.delete_cf(meta, k).unwrap();
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(jobs_paged(&store, JobList::Open, 2), want[0]);
    assert_eq!(jobs_paged(&store, JobList::Worker(&w1), 2), want[1]);
    assert_eq!(jobs_paged(&store, JobList::Worker(&w2), 2), want[2]);
}
