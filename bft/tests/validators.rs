//! Four validators run Malachite over real loopback sockets with a small signed-block
//! application. The checks are the adapter's: every node decides the same blocks, each with a
//! certificate that cpcd's own check accepts, proposers take the turns the validator set gives
//! them, one validator down does not stop the chain, two down do (and nothing diverges), and a
//! proposal by a validator whose turn it is not is never decided.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use cpc_bft::app::Application;
use cpc_bft::certificate::verify_certificate;
use cpc_bft::context::BlockId;
use cpc_bft::service::{BftConfig, BftHandle, start};
use cpc_bft::{CpcContext, Height, ValAddr, Validator, ValidatorSet};
use cpc_primitives::{PublicKey, SecretKey, Signature, sha256};
use malachitebft_app::types::MisbehaviorEvidence;
use malachitebft_core_types::{CommitCertificate, Round};

#[derive(BorshSerialize, BorshDeserialize)]
struct ToyBlock {
    height: u64,
    round: u32,
    parent: [u8; 32],
    builder: [u8; 20],
    payload: Vec<u8>,
    sig: [u8; 64],
}

impl ToyBlock {
    fn signing(&self) -> Vec<u8> {
        borsh::to_vec(&(
            self.height,
            self.round,
            self.parent,
            self.builder,
            &self.payload,
        ))
        .unwrap()
    }
}

#[derive(Default)]
struct Chain {
    blocks: Vec<(Vec<u8>, CommitCertificate<CpcContext>)>,
    built: u64,
    refused: u64,
}

struct ToyApp {
    key: Arc<SecretKey>,
    set: ValidatorSet,
    keys: Vec<PublicKey>,
    chain: Arc<Mutex<Chain>>,
    /// Builds blocks at every round as if it were its turn (a Byzantine builder).
    cheat: bool,
}

impl ToyApp {
    fn tip(&self) -> [u8; 32] {
        self.chain
            .lock()
            .unwrap()
            .blocks
            .last()
            .map(|(b, _)| sha256(b).0)
            .unwrap_or([0; 32])
    }
}

impl Application for ToyApp {
    fn committed_height(&self) -> u64 {
        self.chain.lock().unwrap().blocks.len() as u64
    }
    fn validator_set(&self, _height: u64) -> ValidatorSet {
        self.set.clone()
    }
    fn build(&mut self, height: u64, round: u32) -> eyre::Result<(BlockId, Vec<u8>)> {
        let me = ValAddr::from_public_key(&self.key.public_key());
        let parent = if self.cheat { [0xff; 32] } else { self.tip() };
        let mut b = ToyBlock {
            height,
            round,
            parent,
            builder: me.0,
            payload: vec![height as u8; 100],
            sig: [0; 64],
        };
        b.sig = self.key.sign(&b.signing()).0;
        let bytes = borsh::to_vec(&b)?;
        self.chain.lock().unwrap().built += 1;
        Ok((BlockId(sha256(&bytes).0), bytes))
    }
    fn validate(&mut self, height: u64, round: u32, bytes: &[u8]) -> Result<BlockId, String> {
        let refuse = |why: String| {
            self.chain.lock().unwrap().refused += 1;
            Err(why)
        };
        let b: ToyBlock = match borsh::from_slice(bytes) {
            Ok(b) => b,
            Err(e) => return refuse(format!("undecodable: {e}")),
        };
        if b.height != height || b.parent != self.tip() || b.round > round {
            return refuse("wrong height, parent or round".into());
        }
        let turn = self
            .set
            .proposer(Height(height), Round::new(b.round))
            .address;
        if turn.0 != b.builder {
            return refuse(format!(
                "built by {:?}, the turn of {turn}",
                ValAddr(b.builder)
            ));
        }
        let pk = self
            .keys
            .iter()
            .find(|k| ValAddr::from_public_key(k) == turn)
            .unwrap();
        if pk.verify_strict(&b.signing(), &Signature(b.sig)).is_err() {
            return refuse("bad builder signature".into());
        }
        Ok(BlockId(sha256(bytes).0))
    }
    fn commit(
        &mut self,
        height: u64,
        bytes: &[u8],
        cert: &CommitCertificate<CpcContext>,
    ) -> eyre::Result<()> {
        let mut c = self.chain.lock().unwrap();
        assert_eq!(c.blocks.len() as u64 + 1, height);
        c.blocks.push((bytes.to_vec(), cert.clone()));
        Ok(())
    }
    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate<CpcContext>)> {
        let c = self.chain.lock().unwrap();
        c.blocks.get(height.checked_sub(1)? as usize).cloned()
    }
    fn evidence(&mut self, _height: u64, _e: &MisbehaviorEvidence<CpcContext>) {}
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Net {
    keys: Vec<Arc<SecretKey>>,
    set: ValidatorSet,
    ports: Vec<u16>,
    chains: Vec<Arc<Mutex<Chain>>>,
    dir: tempfile::TempDir,
}

impl Net {
    fn new(n: u8) -> Net {
        let keys: Vec<_> = (1..=n)
            .map(|i| Arc::new(SecretKey::from_bytes(&[i; 32])))
            .collect();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator::new(k.public_key(), 1))
                .collect(),
        )
        .unwrap();
        Net {
            ports: keys.iter().map(|_| free_port()).collect(),
            chains: keys.iter().map(|_| Arc::default()).collect(),
            keys,
            set,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn start(&self, i: usize, cheat: bool) -> BftHandle {
        let cfg = BftConfig {
            moniker: format!("v{i}"),
            key: self.keys[i].clone(),
            listen: format!("/ip4/127.0.0.1/tcp/{}", self.ports[i]),
            peers: (0..self.keys.len())
                .filter(|&j| j != i)
                .map(|j| format!("/ip4/127.0.0.1/tcp/{}", self.ports[j]))
                .collect(),
            wal_dir: self.dir.path().join(format!("v{i}")),
            propose_timeout: Duration::from_millis(1500),
        };
        let app = ToyApp {
            key: self.keys[i].clone(),
            set: self.set.clone(),
            keys: self.keys.iter().map(|k| k.public_key()).collect(),
            chain: self.chains[i].clone(),
            cheat,
        };
        start(cfg, app).await.unwrap()
    }

    fn height(&self, i: usize) -> u64 {
        self.chains[i].lock().unwrap().blocks.len() as u64
    }

    async fn wait_all(&self, nodes: &[usize], height: u64, limit: Duration) {
        let t = Instant::now();
        while nodes.iter().any(|&i| self.height(i) < height) {
            assert!(
                t.elapsed() < limit,
                "heights {:?} after {limit:?}, expected all ≥ {height}",
                nodes.iter().map(|&i| self.height(i)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every pair of nodes holds the same block at every height both have, and every block's
    /// certificate verifies against the validator set.
    fn check_agreement(&self) {
        for i in 0..self.chains.len() {
            let a = self.chains[i].lock().unwrap();
            for (h, (bytes, cert)) in a.blocks.iter().enumerate() {
                let id = BlockId(sha256(bytes).0);
                verify_certificate(cert, h as u64 + 1, id, &self.set)
                    .unwrap_or_else(|e| panic!("node {i} height {}: {e}", h + 1));
            }
            for j in 0..i {
                let b = self.chains[j].lock().unwrap();
                for (h, (x, y)) in a.blocks.iter().zip(b.blocks.iter()).enumerate() {
                    assert_eq!(
                        sha256(&x.0),
                        sha256(&y.0),
                        "nodes {i} and {j} differ at height {}",
                        h + 1
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_commit_with_certificates_and_rotate_proposers() {
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
