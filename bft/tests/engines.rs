//! Four real engines (RocksDB stores, the builder, full validation with PoC recomputation)
//! decide blocks through Malachite over loopback sockets: transfers and shares are committed,
//! every node holds the same blocks and state roots, and every block's stored certificate
//! verifies against the validator set, checked here with cpcd's own certificate check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cpc_bft::certificate::{decode_certificate, verify_certificate};
use cpc_bft::context::BlockId;
use cpc_bft::host::EngineHost;
use cpc_bft::service::{BftConfig, start};
use cpc_bft::toy::free_port;
use cpc_bft::{Validator, ValidatorSet};
use cpc_engine::{Engine, EngineConfig};
use cpc_genesis::{Genesis, GenesisValidator, dev_keys};
use cpc_primitives::*;

const N: usize = 4;

fn genesis() -> Genesis {
    let keys = dev_keys();
    let mut g = Genesis::dev();
    g.poc.matrix_size = 64;
    g.block_time_ms = 50;
    g.staking.max_validators = N as u32; // the dev chain's is 1
    g.validators = (0..N)
        .map(|i| GenesisValidator::new(format!("v{i}"), keys[i].public_key()))
        .collect();
    g
}

/// Admits `tx` everywhere, as gossip would.
fn admit_all(engines: &[Arc<Engine>], tx: &Transaction) {
    for e in engines {
        let _ = e.admit(tx.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_engines_commit_transfers_and_shares_with_certificates() {
    if let Ok(f) = std::env::var("CPC_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(f)
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = dev_keys();
    let ports: Vec<u16> = (0..N).map(|_| free_port()).collect();
    let mut engines = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..N {
        let cfg = EngineConfig {
            signer: Some(keys[i].clone()),
            ..Default::default()
        };
        let e = Arc::new(
            Engine::open(
                &dir.path().join(format!("n{i}")),
                Some(genesis()),
                cfg,
                &prometheus::Registry::new(),
            )
            .unwrap(),
        );
        engines.push(e.clone());
        let bft = BftConfig {
            moniker: format!("v{i}"),
            key: Arc::new(keys[i].clone()),
            listen: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
            peers: (0..N)
                .filter(|&j| j != i)
                .map(|j| format!("/ip4/127.0.0.1/tcp/{}", ports[j]))
                .collect(),
            wal_dir: dir.path().join(format!("n{i}/bft")),
            propose_timeout: Duration::from_secs(2),
            registry: None,
            equivocate: false,
        };
        nodes.push(start(bft, EngineHost::new(e).unwrap()).await.unwrap());
    }

    // Load: a transfer from account 5 and a share from worker 6 every few heights, all
    // admitted at every node.
    let chain_id = engines[0].params().chain_id.clone();
    let (alice, bob, worker) = (&keys[5], &keys[7], &keys[6]);
    let (a_addr, b_addr, w_addr) = (
        Address::from_public_key(&alice.public_key()),
        Address::from_public_key(&bob.public_key()),
        Address::from_public_key(&worker.public_key()),
    );
    let synth = cpc_poc::SynthParams {
        n: 64,
        k: engines[0].params().poc.challenges,
    };
    let (mut a_nonce, mut w_nonce, mut task_nonce) = (0u64, 0u64, 0u64);
    let mut sent = Vec::new();
    let t = Instant::now();
    let target: u64 = std::env::var("CPC_TEST_HEIGHTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    while engines.iter().any(|e| e.head().height < target) {
        assert!(
            t.elapsed() < Duration::from_secs(180),
            "heights {:?}",
            engines.iter().map(|e| e.head().height).collect::<Vec<_>>()
        );
        let head = engines[0].head();
        if head.height < target - 5 {
            let tx =
                UnsignedTx::transfer(&chain_id, a_addr, b_addr, 1_000, a_nonce, 1000).sign(alice);
            a_nonce += 1;
            sent.push(tx.hash());
            admit_all(&engines, &tx);
            let r = cpc_poc::solve(&head.hash, &w_addr.to_string(), task_nonce, &synth);
            task_nonce += 1;
            let tx = UnsignedTx::submit_result(&chain_id, w_addr, &r, w_nonce, 1000).sign(worker);
            if engines[0].admit(tx.clone()).is_ok() {
                w_nonce += 1;
                sent.push(tx.hash());
                admit_all(&engines[1..], &tx);
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    eprintln!("{target} heights with load in {:?}", t.elapsed());

    // Same chain everywhere, every certificate valid for its block under the set.
    let set = ValidatorSet::new(
        (0..N)
            .map(|i| Validator::new(keys[i].public_key(), 1))
            .collect(),
    )
    .unwrap();
    let top = engines.iter().map(|e| e.head().height).min().unwrap();
    let mut txs = 0usize;
    let mut shares = 0u64;
    for h in 1..=top {
        let hash = engines[0].store().hash_at(h).unwrap().unwrap();
        for e in &engines[1..] {
            assert_eq!(e.store().hash_at(h).unwrap(), Some(hash), "height {h}");
        }
        for e in &engines {
            let cert = decode_certificate(
                &e.certificate(h)
                    .unwrap()
                    .expect("a certificate beside the block"),
            )
            .unwrap();
            verify_certificate(&cert, h, BlockId(hash.0), &set)
                .unwrap_or_else(|err| panic!("height {h}: {err}"));
        }
        let b = engines[0].store().block(&hash).unwrap().unwrap();
        txs += b.transactions.len();
        shares += b
            .transactions
            .iter()
            .filter(|t| t.tx_type == TxType::SubmitResult)
            .count() as u64;
    }
    let roots: Vec<_> = engines
        .iter()
        .map(|e| {
            e.store()
                .header(&e.store().hash_at(top).unwrap().unwrap())
                .unwrap()
                .unwrap()
                .state_root
        })
        .collect();
    assert!(
        roots.iter().all(|r| *r == roots[0]),
        "state roots differ at height {top}: {roots:?}"
    );
    assert!(
        txs >= 20 && shares >= 5,
        "{txs} transactions and {shares} shares committed"
    );
    // Every transfer sent early enough has its receipt on every node.
    let bal: Vec<u128> = engines
        .iter()
        .map(|e| e.store().account(&b_addr).unwrap().balance)
        .collect();
    assert!(bal.iter().all(|b| *b == bal[0]), "balances differ: {bal:?}");
    eprintln!(
        "{txs} transactions ({shares} shares) in {top} heights, {} sent",
        sent.len()
    );
    for n in nodes {
        n.stop().await;
    }
}
