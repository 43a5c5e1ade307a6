//! The cpc wallet: the operator keystore (Ed25519 keys encrypted at rest, docs/KEYSTORE.md)
//! and the wallet commands of `cpcd` against any node's JSON-RPC.
//!
//! - [`keystore`]: the key file format and the API the node uses (`create`, `unlock`,
//!   `list`, `read_password`), with a typed [`KeystoreError`].
//! - [`key`]: `cpcd key new|list|show|import|export|delete`.
//! - [`tx`]: `cpcd tx transfer|submit-result|stake|…`, with [`staking`] (the staking
//!   payloads, commission rates, the checks before signing); [`query`]: `cpcd query …`.
//! - [`client`]: the JSON-RPC client both use; [`amount`]: CLI amounts (`1.5cpc`).
//! - [`job`]: `cpcd job post|claim|cancel|status|list|fetch` (the task market), with [`npy`]
//!   (`.npy` int8 / int32 matrices).
//! - [`duration`]: CLI durations (`250ms`, `1s`), shared with the node's flags.

pub mod amount;
pub mod client;
pub mod duration;
pub mod job;
pub mod key;
pub mod keystore;
pub mod npy;
pub mod query;
pub mod staking;
pub mod tx;

pub use duration::parse_duration_ms;
pub use keystore::KeystoreError;

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, Subcommand};

    /// The commands as the node mounts them (`cpcd key|tx|query`).
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Subcommand, Debug)]
    enum Cmd {
        Key(crate::key::KeyArgs),
        Tx(crate::tx::TxArgs),
        Query(crate::query::QueryArgs),
        Job(crate::job::JobArgs),
    }

    #[test]
    fn cli_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
