//! The node's services around the engine, each with its own task(s) under the supervisor:
//! the P2P glue (gossip verdicts, sync, serving peers), the JSON-RPC backend, the metrics and
//! health server, and the round-based proposer.

pub mod metrics;
pub mod bft;
pub mod p2p;
pub mod proposer;
pub mod rpc;
