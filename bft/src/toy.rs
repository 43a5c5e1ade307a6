//! A small signed-block application and a loopback network of validators, for the adapter's
//! tests and its commit-latency benchmark. Blocks name their height, round, parent and builder
//! and are signed by the builder; checking one is what cpcd's engine does first (turn, parent,
//! signature), without transactions or shares.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use cpc_primitives::{PublicKey, SecretKey, Signature, sha256};
use malachitebft_app::types::MisbehaviorEvidence;
use malachitebft_app::types::core::{CommitCertificate, Round};

use crate::app::Application;
use crate::certificate::verify_certificate;
use crate::context::BlockId;
use crate::service::{BftConfig, BftHandle, start};
use crate::{CpcContext, Height, ValAddr, Validator, ValidatorSet};

#[derive(BorshSerialize, BorshDeserialize)]
pub struct ToyBlock {
    pub height: u64,
    pub round: u32,
    pub parent: [u8; 32],
    pub builder: [u8; 20],
    pub payload: Vec<u8>,
    pub sig: [u8; 64],
}

impl ToyBlock {
    /// The bytes the builder signs.
    pub fn signing(&self) -> Vec<u8> {
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
pub struct Chain {
    pub blocks: Vec<(Vec<u8>, CommitCertificate<CpcContext>)>,
    /// When each block was committed here.
    pub committed_at: Vec<Instant>,
    pub built: u64,
    pub refused: u64,
}

/// Build time of every block, by id.
pub type BuiltAt = Arc<Mutex<std::collections::HashMap<BlockId, Instant>>>;

pub struct ToyApp {
    key: Arc<SecretKey>,
    set: ValidatorSet,
    keys: Vec<PublicKey>,
    chain: Arc<Mutex<Chain>>,
    /// When each block was built, shared by the whole network (proposal-to-commit latency).
    built_at: BuiltAt,
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
        let id = BlockId(sha256(&bytes).0);
        self.built_at.lock().unwrap().insert(id, Instant::now());
        Ok((id, bytes))
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
        c.committed_at.push(Instant::now());
        Ok(())
    }
    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate<CpcContext>)> {
        let c = self.chain.lock().unwrap();
        c.blocks.get(height.checked_sub(1)? as usize).cloned()
    }
    fn evidence(&mut self, _height: u64, _e: &MisbehaviorEvidence<CpcContext>) {}
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Net {
    pub keys: Vec<Arc<SecretKey>>,
    pub set: ValidatorSet,
    pub ports: Vec<u16>,
    pub chains: Vec<Arc<Mutex<Chain>>>,
    pub built_at: BuiltAt,
    dir: tempfile::TempDir,
}

impl Net {
    pub fn new(n: u8) -> Net {
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
            built_at: BuiltAt::default(),
            keys,
            set,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub async fn start(&self, i: usize, cheat: bool) -> BftHandle {
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
            registry: None,
            equivocate: false,
        };
        let app = ToyApp {
            key: self.keys[i].clone(),
            set: self.set.clone(),
            keys: self.keys.iter().map(|k| k.public_key()).collect(),
            chain: self.chains[i].clone(),
            built_at: self.built_at.clone(),
            cheat,
        };
        start(cfg, app).await.unwrap()
    }

    pub fn height(&self, i: usize) -> u64 {
        self.chains[i].lock().unwrap().blocks.len() as u64
    }

    pub async fn wait_all(&self, nodes: &[usize], height: u64, limit: Duration) {
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
    pub fn check_agreement(&self) {
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
