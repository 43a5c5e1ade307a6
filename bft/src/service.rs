//! Starting Malachite for one validator: its network identity (bound to the consensus key by a
//! signed validator proof), its configuration, WAL and the application loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cpc_primitives::SecretKey;
use eyre::{Result, WrapErr, eyre};
use malachitebft_app::types::Keypair;
use malachitebft_app_channel::app::config::NodeConfig;
use malachitebft_app_channel::{
    ConsensusContext, ConsensusRequest, EngineHandle, NetworkContext, NetworkIdentity,
    RequestContext, Signer, SyncContext, WalContext, start_engine,
};
use malachitebft_codec::Codec;
use malachitebft_config::{ConsensusConfig, P2pConfig, ValuePayload, ValueSyncConfig};
use malachitebft_engine::consensus::state_dump::StateDump;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::{Application, run};
use crate::codec::BorshCodec;
use crate::context::{CpcContext, ValAddr};
use crate::signing::{Ed25519Signer, Ed25519Verifier};

/// What one validator needs to join consensus.
#[derive(Clone)]
pub struct BftConfig {
    /// A name for logs and metrics.
    pub moniker: String,
    /// The consensus key (the validator's Ed25519 key of genesis).
    pub key: Arc<SecretKey>,
    /// Where consensus listens, e.g. `/ip4/127.0.0.1/tcp/26656`.
    pub listen: String,
    /// The other validators' consensus addresses (multiaddrs).
    pub peers: Vec<String>,
    /// The consensus write-ahead log (votes and proposals of the current height).
    pub wal_dir: PathBuf,
    /// The propose timeout of round 0; it must cover building and checking the heaviest block.
    pub propose_timeout: Duration,
}

#[derive(Clone, Debug)]
struct Config {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for Config {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// A running validator: the engine's actors and the application loop.
pub struct BftHandle {
    pub engine: EngineHandle,
    pub app: JoinHandle<Result<()>>,
    pub requests: mpsc::Sender<ConsensusRequest<CpcContext>>,
    pub address: ValAddr,
}

impl BftHandle {
    /// Consensus's own view: height, round, step and the votes it holds.
    pub async fn state(&self) -> Option<StateDump<CpcContext>> {
        ConsensusRequest::dump_state(&self.requests)
            .await
            .ok()
            .flatten()
    }

    /// Stops the engine and the application loop, and waits until the engine's actors are
    /// gone (so its WAL lock and listening socket are released).
    pub async fn stop(self) {
        self.engine.actor.stop(Some("stopped by the node".into()));
        if tokio::time::timeout(Duration::from_secs(10), self.engine.handle)
            .await
            .is_err()
        {
            tracing::warn!("consensus engine did not stop within 10 s");
        }
        self.app.abort();
    }
}

/// Starts consensus for the validator of `cfg.key`, driving `app`.
pub async fn start<A: Application>(cfg: BftConfig, app: A) -> Result<BftHandle> {
    let public = cfg.key.public_key();
    let address = ValAddr::from_public_key(&public);
    let keypair =
        Keypair::ed25519_from_bytes(cfg.key.to_bytes()).map_err(|e| eyre!("consensus key: {e}"))?;
    let peer_id = keypair.public().to_peer_id();
    let signer = Ed25519Signer::new(cfg.key.clone());
    let proof = signer
        .sign_validator_proof(public.0.to_vec(), peer_id.to_bytes())
        .await
        .map_err(|e| eyre!("validator proof: {e}"))?;
    let proof_bytes = BorshCodec
        .encode(&proof)
        .map_err(|e| eyre!("validator proof: {e}"))?;
    let identity = NetworkIdentity::new_validator(
        cfg.moniker.clone(),
        keypair,
        address.to_string(),
        proof_bytes,
    );

    let listen = cfg
        .listen
        .parse()
        .wrap_err_with(|| format!("listen address {}", cfg.listen))?;
    let mut persistent_peers = Vec::new();
    for p in &cfg.peers {
        persistent_peers.push(p.parse().wrap_err_with(|| format!("peer address {p}"))?);
    }
    let mut p2p = P2pConfig {
        listen_addr: listen,
        persistent_peers,
        ..P2pConfig::default()
    };
    // Validators of one host (a devnet, the tests) all connect from one IP.
    p2p.discovery.max_connections_per_ip = 64;
    let consensus = ConsensusConfig {
        p2p,
        value_payload: ValuePayload::ProposalAndParts,
        ..ConsensusConfig::default()
    };
    let value_sync = ValueSyncConfig {
        status_update_interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..ValueSyncConfig::default()
    };
    let config = Config {
        moniker: cfg.moniker.clone(),
        consensus,
        value_sync,
    };

    std::fs::create_dir_all(&cfg.wal_dir)
        .wrap_err_with(|| format!("WAL directory {}", cfg.wal_dir.display()))?;
    let (channels, engine) = start_engine(
        CpcContext,
        config,
        WalContext::new(cfg.wal_dir.join("consensus.wal"), BorshCodec),
        NetworkContext::new(identity, BorshCodec),
        ConsensusContext::new_validator(address, Box::new(Ed25519Verifier), Box::new(signer)),
        SyncContext::new(BorshCodec),
        RequestContext::new(64),
    )
    .await?;
    let requests = channels.requests.clone();
    let propose = cfg.propose_timeout;
    let span = tracing::info_span!("bft", node = %cfg.moniker);
    let app = tokio::spawn(tracing::Instrument::instrument(
        run(app, channels, propose),
        span,
    ));
    Ok(BftHandle {
        engine,
        app,
        requests,
        address,
    })
}
