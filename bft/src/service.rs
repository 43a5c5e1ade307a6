//! Starting Malachite for one validator: its network identity (bound to the consensus key by a
//! signed validator proof), its configuration, WAL and the application loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cpc_primitives::SecretKey;
use eyre::{Result, WrapErr, eyre};
use malachitebft_app::types::Keypair;
use malachitebft_app_channel::app::config::NodeConfig;
use malachitebft_app_channel::app::metrics::SharedRegistry;
use malachitebft_app_channel::{
    ConsensusContext, ConsensusRequest, EngineBuilder, EngineHandle, NetworkIdentity,
    RequestContext, Signer, SyncContext, WalContext,
};
use malachitebft_codec::Codec;
use malachitebft_config::{ConsensusConfig, P2pConfig, ValuePayload, ValueSyncConfig};
use malachitebft_engine::consensus::state_dump::StateDump;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::{Application, Equivocator, Extras, run};
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
    /// Where the consensus metrics register (the node's registry), if anywhere.
    pub registry: Option<prometheus::Registry>,
    /// Test only: behave as a Byzantine validator that equivocates whenever it proposes.
    pub equivocate: bool,
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

/// Asks a running consensus what it is doing (for `cpc_consensusState`); cheap to clone.
#[derive(Clone)]
pub struct ConsensusProbe(mpsc::Sender<ConsensusRequest<CpcContext>>);

impl ConsensusProbe {
    /// Consensus's own view: height, round, step and the votes it holds.
    pub async fn dump(&self) -> Option<StateDump<CpcContext>> {
        ConsensusRequest::dump_state(&self.0).await.ok().flatten()
    }

    /// The view `cpc_consensusState` returns: height, round, step, proposer, the locked and
    /// valid blocks, and every vote seen at this height by round (docs/RPC.md).
    pub async fn state(&self) -> Option<serde_json::Value> {
        self.dump().await.map(|d| state_view(&d))
    }
}

fn state_view(d: &StateDump<CpcContext>) -> serde_json::Value {
    use malachitebft_app::types::core::{NilOrVal, VoteType};
    use serde_json::json;
    let c = &d.consensus;
    let round_value = |v: Option<(&crate::BlockValue, malachitebft_app::types::core::Round)>| {
        v.map(|(val, r)| json!({"round": r.as_i64(), "block": cpc_primitives::H256(val.0.0)}))
    };
    let mut rounds = Vec::new();
    for (round, per) in &d.vote_keeper.votes {
        let (mut prevotes, mut precommits) = (Vec::new(), Vec::new());
        for v in per.received_votes() {
            let block = match &v.message.value {
                NilOrVal::Nil => serde_json::Value::Null,
                NilOrVal::Val(id) => json!(cpc_primitives::H256(id.0)),
            };
            let entry = json!({"validator": v.message.validator.to_string(), "block": block});
            match v.message.vote_type {
                VoteType::Prevote => prevotes.push(entry),
                VoteType::Precommit => precommits.push(entry),
            }
        }
        rounds
            .push(json!({"round": round.as_i64(), "prevotes": prevotes, "precommits": precommits}));
    }
    json!({
        "height": c.height.0,
        "round": c.round.as_i64(),
        "step": format!("{:?}", c.step).to_lowercase(),
        "proposer": d.proposer.map(|p| p.to_string()),
        "validator": d.address.to_string(),
        "validators": d.validator_set.validators().len(),
        "locked": round_value(c.locked.as_ref().map(|l| (&l.value, l.round))),
        "valid": round_value(c.valid.as_ref().map(|l| (&l.value, l.round))),
        "votes": rounds,
    })
}

impl BftHandle {
    pub fn probe(&self) -> ConsensusProbe {
        ConsensusProbe(self.requests.clone())
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
    // The network actor is spawned here (as `start_engine` would) so that the test-only
    // equivocator can publish on it.
    let registry = SharedRegistry::global().with_moniker(&cfg.moniker);
    let (network, tx_network) = malachitebft_app_channel::spawn::spawn_network_actor(
        identity,
        &config.consensus,
        &config.value_sync,
        &registry,
        BorshCodec,
    )
    .await?;
    let (channels, engine) = EngineBuilder::new(CpcContext, config)
        .with_default_wal(WalContext::new(
            cfg.wal_dir.join("consensus.wal"),
            BorshCodec,
        ))
        .with_custom_network(network.clone(), tx_network)
        .with_default_sync(SyncContext::new(BorshCodec))
        .with_default_consensus(ConsensusContext::new_validator(
            address,
            Box::new(Ed25519Verifier),
            Box::new(signer),
        ))
        .with_default_request(RequestContext::new(64))
        .build()
        .await?;
    let requests = channels.requests.clone();
    let propose = cfg.propose_timeout;
    let extras = Extras {
        metrics: cfg
            .registry
            .as_ref()
            .map(crate::metrics::BftMetrics::register),
        equivocator: cfg.equivocate.then(|| Equivocator {
            key: cfg.key.clone(),
            address,
            network,
        }),
    };
    let span = tracing::info_span!("bft", node = %cfg.moniker);
    let app = tokio::spawn(tracing::Instrument::instrument(
        run(app, channels, propose, extras),
        span,
    ));
    Ok(BftHandle {
        engine,
        app,
        requests,
        address,
    })
}
