//! The command line: `cpcd` (run a node) and one module per subcommand, each with its own
//! flags (`cpcd key|tx|query` are the wallet crate's, `cpcd worker`'s flags are here).

pub mod genesis;
pub mod gpu;
pub mod init;
pub mod node_id;
pub mod poc;
pub mod run;
pub mod testnet;
pub mod worker;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "cpcd", version, about = "cpc full node with embedded Proof-of-Compute validation and mining")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a chain database from a genesis file.
    Init {
        #[arg(long)]
        genesis: PathBuf,
        #[arg(long)]
        datadir: PathBuf,
    },
    /// Genesis helpers.
    #[command(subcommand)]
    Genesis(GenesisCmd),
    /// Solve or verify synthetic Proof-of-Compute tasks (for workers and auditors).
    #[command(subcommand)]
    Poc(PocCmd),
    /// CUDA devices.
    #[command(subcommand)]
    Gpu(GpuCmd),
    /// Print this node's peer id and P2P listen address (creates the node key if missing).
    NodeId {
        #[arg(long)]
        datadir: PathBuf,
    },
    /// Local multi-node networks.
    #[command(subcommand)]
    Testnet(TestnetCmd),
    /// Mine for a node over WebSocket from a separate process (CPU or GPU).
    Worker(crate::commands::worker::WorkerArgs),
    /// Encrypted operator keystore: new, list, show, import, export, delete.
    Key(cpc_wallet::key::KeyArgs),
    /// Sign and send transactions with a key from the keystore (transfer, submit-result, stake,
    /// unstake, delegate, undelegate, unjail, edit-validator, withdraw-rewards).
    Tx(cpc_wallet::tx::TxArgs),
    /// Read chain data from a node: balance, account, block, tx, receipt, results, validators,
    /// validator, delegations, unbonding, rewards, active-set.
    Query(cpc_wallet::query::QueryArgs),
    /// The task market: post, claim or cancel a job, its status, fetch its data (docs/MARKET.md).
    Job(cpc_wallet::job::JobArgs),
}


pub use poc::PocCmd;
pub use run::{RunArgs, DEFAULT_P2P_PORT, DEFAULT_WS_PORT};
pub use testnet::TestnetCmd;

#[derive(Subcommand, Debug)]
pub enum GenesisCmd {
    /// Print the built-in dev genesis as JSON.
    Dev,
}

#[derive(Subcommand, Debug)]
pub enum GpuCmd {
    /// List CUDA devices (says so when no CUDA driver is installed).
    List,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
