//! Four validators run Malachite over real loopback sockets with a small signed-block
//! application (`cpc_bft::toy`). The checks are the adapter's: every node decides the same
//! blocks, each with a certificate that cpcd's own check accepts, proposers take the turns the
//! validator set gives them, one validator down does not stop the chain, two down do (and
//! nothing diverges), a restarted one catches up, and a validator proposing invalid blocks
//! never gets one decided.

use std::time::{Duration, Instant};

use cpc_bft::ValAddr;
use cpc_bft::toy::{Net, ToyBlock};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_commit_with_certificates_and_rotate_proposers() {
    if let Ok(f) = std::env::var("CPC_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(f)
            .with_test_writer()
            .try_init();
    }
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i, false).await);
    }
    let t = Instant::now();
    net.wait_all(&[0, 1, 2, 3], 30, Duration::from_secs(120))
        .await;
    eprintln!("4 validators: 30 heights in {:?}", t.elapsed());
    net.check_agreement();
    // Builders follow the validator set's turns: on a healthy network each of the 4 built a
    // quarter of the blocks, give or take a round lost to start-up.
    let c = net.chains[0].lock().unwrap();
    let mut turns = std::collections::BTreeMap::new();
    for (bytes, _) in &c.blocks {
        let b: ToyBlock = borsh::from_slice(bytes).unwrap();
        *turns.entry(b.builder).or_insert(0u64) += 1;
    }
    assert_eq!(turns.len(), 4, "every validator built blocks: {turns:?}");
    drop(c);
    // One validator down (a third of the power is not): the other three go on.
    let mut it = nodes.into_iter();
    it.next().unwrap().stop().await;
    let rest: Vec<_> = it.collect();
    let h = (1..4).map(|i| net.height(i)).max().unwrap();
    let t = Instant::now();
    net.wait_all(&[1, 2, 3], h + 10, Duration::from_secs(120))
        .await;
    eprintln!("3 of 4 validators: 10 heights in {:?}", t.elapsed());
    net.check_agreement();
    // A second one down: 2 of 4 is no quorum, so nothing more is committed and nothing diverges.
    let mut it = rest.into_iter();
    it.next().unwrap().stop().await;
    let rest: Vec<_> = it.collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen = (2..4).map(|i| net.height(i)).max().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        (2..4).map(|i| net.height(i)).max().unwrap(),
        frozen,
        "2 of 4 validators committed a block"
    );
    net.check_agreement();
    // Restart validator 1 (its chain as it was): the quorum is back, commits resume and it
    // catches up through sync with certificates.
    let back = net.start(1, false).await;
    let t = Instant::now();
    net.wait_all(&[1, 2, 3], frozen + 5, Duration::from_secs(120))
        .await;
    eprintln!("restart: caught up and 5 heights in {:?}", t.elapsed());
    net.check_agreement();
    back.stop().await;
    for n in rest {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_proposing_invalid_blocks_never_gets_one_decided() {
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i, i == 2).await);
    }
    net.wait_all(&[0, 1, 3], 12, Duration::from_secs(120)).await;
    net.check_agreement();
    let cheat = ValAddr::from_public_key(&net.keys[2].public_key());
    let c = net.chains[0].lock().unwrap();
    for (bytes, _) in &c.blocks {
        let b: ToyBlock = borsh::from_slice(bytes).unwrap();
        assert_ne!(
            b.builder, cheat.0,
            "a block of the cheating validator was decided"
        );
    }
    assert!(
        c.refused > 0,
        "the honest nodes never saw (and refused) a bad proposal"
    );
    assert!(
        net.chains[2].lock().unwrap().built > 0,
        "the cheater never had a turn"
    );
    drop(c);
    for n in nodes {
        n.stop().await;
    }
}
