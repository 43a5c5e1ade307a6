//! `cpcd testnet init`: a shared genesis and, per node, a datadir with its keys and a
//! `cpcd.toml`, so that `cpcd --datadir DIR/nodeI` starts node I.

use cpc_engine::{Engine, EngineConfig};
use anyhow::{bail, Context, Result};
use cpc_genesis::{Genesis, GenesisAccount, GenesisValidator};
use cpc_primitives::{now_millis, sha256, Address, SecretKey, UNITS_PER_CPC};
use std::path::PathBuf;
use clap::Subcommand;
use cpc_wallet::parse_duration_ms;


/// Initial balance of each validator account in a local testnet.
pub const TESTNET_VALIDATOR_BALANCE: u128 = 1_000_000 * UNITS_PER_CPC;

pub struct TestnetSpec {
    pub validators: usize,
    pub nodes: usize,
    pub out: PathBuf,
    pub chain_id: String,
    pub block_time_ms: u64,
    pub p2p_base_port: u16,
    pub http_base_port: u16,
    pub fund_dev_accounts: bool,
    /// The genesis share target t0 (default: the dev chain's, every result a share).
    pub share_target_start: Option<cpc_primitives::ShareTarget>,
    /// BFT consensus: validator i's consensus network on base + i (`bft.port`, `bft.peers`).
    pub bft_base_port: u16,
    /// The last this many validator nodes get keys, funds and consensus ports but no genesis
    /// stake: they join by a STAKE transaction.
    pub standby: usize,
    /// Genesis self-bond of each genesis validator (None: the default minimum).
    pub self_bond: Option<u128>,
    /// JSON object of staking parameters over the defaults (e.g. `{"unbonding_period": 20}`).
    pub staking: Option<String>,
    /// Enable the task market (docs/MARKET.md) in genesis.
    pub market: bool,
    /// JSON object of market parameters over the defaults (e.g.
    /// `{"target_blob_bytes_per_block": 4096}`); enables the market.
    pub market_params: Option<String>,
}

/// `defaults` with the fields of the JSON object `over` (the value of `flag`) put over them;
/// an unknown field is an error naming the known ones.
fn over_defaults<T: serde::Serialize + serde::de::DeserializeOwned>(flag: &str, defaults: &T, over: &str) -> Result<T> {
    let mut v = serde_json::to_value(defaults)?;
    let over: serde_json::Value = serde_json::from_str(over).with_context(|| format!("{flag}: expected a JSON object"))?;
    let Some(fields) = over.as_object() else { bail!("{flag}: expected a JSON object, found {over}") };
    for (k, x) in fields {
        if v.get(k).is_none() {
            bail!("{flag}: unknown parameter {k:?} (known: {})", v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default());
        }
        v[k] = x.clone();
    }
    serde_json::from_value(v).with_context(|| flag.to_string())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

pub fn init(spec: &TestnetSpec) -> Result<()> {
    if spec.validators == 0 {
        bail!("--validators: expected at least 1, found 0");
    }
    if spec.nodes < spec.validators {
        bail!("--nodes: expected at least the {} validators, found {}", spec.validators, spec.nodes);
    }
    for (name, base) in [("--p2p-base-port", spec.p2p_base_port), ("--http-base-port", spec.http_base_port), ("--bft-base-port", spec.bft_base_port)] {
        if base as usize + spec.nodes > u16::MAX as usize || base == 0 {
            bail!("{name} {base}: {} nodes do not fit below port 65535", spec.nodes);
        }
    }
    let genesis_path = spec.out.join("genesis.json");
    if genesis_path.exists() {
        bail!("{} exists: refusing to overwrite a testnet", genesis_path.display());
    }
    std::fs::create_dir_all(&spec.out)?;
    let keys: Vec<SecretKey> = (0..spec.validators).map(|_| SecretKey::generate()).collect();
    let mut g = Genesis::dev();
    g.chain_id = spec.chain_id.clone();
    g.genesis_time = now_millis();
    g.block_time_ms = spec.block_time_ms;
    if let Some(t0) = spec.share_target_start {
        g.poc.share_target_start = t0;
    }
    g.staking = cpc_state::StakingParams::default();
    // Off unless asked for (the dev genesis turns it on for its single node).
    g.market = cpc_state::MarketParams { enabled: spec.market, ..Default::default() };
    if let Some(over) = &spec.staking {
        g.staking = over_defaults("--staking", &g.staking, over)?;
    }
    if let Some(over) = &spec.market_params {
        g.market = over_defaults("--market-params", &cpc_state::MarketParams { enabled: true, ..Default::default() }, over)?;
    }
    if spec.standby >= spec.validators {
        bail!("--standby: expected fewer than the {} validators (at least one must be in genesis), found {}", spec.validators, spec.standby);
    }
    let t = sha256(format!("cpc-treasury:{}", spec.chain_id).as_bytes());
    g.economics.treasury_address = Address(t.0[..20].try_into().expect("20 bytes"));
    g.accounts = keys
        .iter()
        .map(|k| GenesisAccount { address: Address::from_public_key(&k.public_key()), balance: TESTNET_VALIDATOR_BALANCE })
        .collect();
    if spec.fund_dev_accounts {
        g.accounts.extend(Genesis::dev().accounts);
    }
    g.validators = keys
        .iter()
        .enumerate()
        .take(spec.validators - spec.standby)
        .map(|(i, k)| {
            let mut v = GenesisValidator::new(format!("node{i}"), k.public_key());
            v.self_bond = spec.self_bond.unwrap_or(g.staking.min_self_bond);
            v
        })
        .collect();
    g.validate()?;
    std::fs::write(&genesis_path, g.to_pretty_json() + "\n")?;

    // Datadirs, node keys, validator keystores, initialized chains.
    let mut peers = Vec::new();
    for i in 0..spec.nodes {
        let dir = spec.out.join(format!("node{i}"));
        std::fs::create_dir_all(&dir)?;
        let key = cpc_network::load_or_create_node_key(&dir).context("node key")?;
        let id = cpc_network::PeerId::from(key.public());
        peers.push(format!("/ip4/127.0.0.1/tcp/{}/p2p/{id}", spec.p2p_base_port as usize + i));
        if let Some(sk) = keys.get(i) {
            let password = SecretKey::generate().to_hex();
            write_private(&dir.join("password.txt"), format!("{password}\n").as_bytes())?;
            cpc_wallet::keystore::create(&cpc_wallet::keystore::default_dir(&dir), sk, &password)?;
        }
        Engine::open(&dir, Some(g.clone()), EngineConfig::default(), &prometheus::Registry::new())?;
    }
    for i in 0..spec.nodes {
        let dir = spec.out.join(format!("node{i}"));
        let others: Vec<&String> = peers.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, p)| p).collect();
        let mut toml = format!(
            "# node{i} of testnet {chain:?}: cpcd --datadir {dir}\n\
             datadir = \".\"\n\
             p2p.addr = \"127.0.0.1\"\n\
             p2p.port = {p2p}\n\
             http.port = {http}\n\
             http.api = \"cpc,net,txpool,poc,miner,job,admin\"\n\
             bootnodes = [{boot}]\n",
            chain = spec.chain_id,
            dir = dir.display(),
            p2p = spec.p2p_base_port as usize + i,
            http = spec.http_base_port as usize + i,
            boot = others.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", "),
        );
        if let Some(sk) = keys.get(i) {
            toml.push_str(&format!(
                "validator = \"{}\"\npassword-file = \"password.txt\"\n",
                Address::from_public_key(&sk.public_key())
            ));
            let base = spec.bft_base_port as usize;
            let peers: Vec<String> =
                (0..spec.validators).filter(|&j| j != i).map(|j| format!("\"/ip4/127.0.0.1/tcp/{}\"", base + j)).collect();
            toml.push_str(&format!("bft.port = {}\nbft.peers = [{}]\n", base + i, peers.join(", ")));
        }
        std::fs::write(dir.join(crate::config::CONFIG_FILE), toml)?;
        let role = if i < spec.validators - spec.standby {
            "validator"
        } else if i < spec.validators {
            "standby"
        } else {
            "full node"
        };
        println!(
            "node{i}: {role:9}  datadir {}  p2p {}  rpc http://127.0.0.1:{}",
            dir.display(),
            peers[i],
            spec.http_base_port as usize + i
        );
    }
    println!("genesis: {}  (chain {:?}, {} validators)", genesis_path.display(), spec.chain_id, spec.validators);
    println!("start node I with: cpcd --datadir {}/nodeI   (or scripts/testnet.sh start {})", spec.out.display(), spec.out.display());
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum TestnetCmd {
    /// Write a shared genesis and, per node, a datadir with keys and a cpcd.toml.
    Init {
        /// Number of validators (the first N nodes).
        #[arg(long)]
        validators: usize,
        /// Number of nodes (default: the number of validators); the rest are full nodes.
        #[arg(long)]
        nodes: Option<usize>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "chain-id", default_value = "cpc-localnet-1")]
        chain_id: String,
        /// Block time of the network.
        #[arg(long = "block-time", default_value = "1s", value_parser = parse_duration_ms)]
        block_time_ms: u64,
        /// First P2P port; node i uses base + i.
        #[arg(long = "p2p-base-port", default_value_t = 30400)]
        p2p_base_port: u16,
        /// First JSON-RPC port; node i uses base + i.
        #[arg(long = "http-base-port", default_value_t = 8600)]
        http_base_port: u16,
        /// Also fund the 10 public dev accounts (keys SHA-256("cpc-dev-" + i)), for local tests.
        #[arg(long = "fund-dev-accounts")]
        fund_dev_accounts: bool,
        /// The genesis share target t0 (16 hex digits; default ffffffffffffffff: every result is
        /// a share until the target moves).
        #[arg(long = "share-target-start", value_parser = parse_share_target)]
        share_target_start: Option<cpc_primitives::ShareTarget>,
        /// First consensus (BFT) port: validator i's consensus network listens on base + i.
        #[arg(long = "bft-base-port", default_value_t = 26700)]
        bft_base_port: u16,
        /// The last N validators are standby: keys, funds and consensus ports, no genesis stake
        /// (they become active by `cpcd tx stake`).
        #[arg(long, default_value_t = 0)]
        standby: usize,
        /// Genesis self-bond of each genesis validator, e.g. 10000cpc (default: the minimum).
        #[arg(long = "self-bond", value_parser = parse_cpc)]
        self_bond: Option<u128>,
        /// Staking parameters over the defaults, as a JSON object, e.g.
        /// '{"unbonding_period": 20, "signed_blocks_window": 10}'.
        #[arg(long)]
        staking: Option<String>,
        /// Enable the task market in genesis (jobs, escrow, Freivalds; docs/MARKET.md).
        #[arg(long)]
        market: bool,
        /// Market parameters over the defaults, as a JSON object (enables the market), e.g.
        /// '{"target_blob_bytes_per_block": 4096, "blob_fee_update_fraction": 8192}'.
        #[arg(long = "market-params")]
        market_params: Option<String>,
    },
}

fn parse_cpc(s: &str) -> Result<u128, String> {
    cpc_wallet::amount::parse_amount_arg(s)
}

fn parse_share_target(s: &str) -> Result<cpc_primitives::ShareTarget, String> {
    cpc_primitives::ShareTarget::from_hex(s)
}

#[cfg(test)]
mod tests {
    use super::over_defaults;
    use cpc_state::MarketParams;

    #[test]
    fn parameters_over_the_defaults_change_only_what_they_name_and_refuse_what_is_unknown() {
        let d = MarketParams { enabled: true, ..Default::default() };
        let got = over_defaults("--market-params", &d, r#"{"target_blob_bytes_per_block": 1024}"#).unwrap();
        assert_eq!(got, MarketParams { target_blob_bytes_per_block: 1024, ..d.clone() });
        let e = over_defaults("--market-params", &d, r#"{"target": 1}"#).unwrap_err().to_string();
        assert!(e.contains("unknown parameter \"target\"") && e.contains("target_blob_bytes_per_block"), "{e}");
        let e = over_defaults("--market-params", &d, "[1]").unwrap_err().to_string();
        assert!(e.contains("expected a JSON object, found [1]"), "{e}");
        let e = format!("{:#}", over_defaults("--market-params", &d, r#"{"fee_bps": "x"}"#).unwrap_err());
        assert!(e.starts_with("--market-params"), "{e}");
    }
}
