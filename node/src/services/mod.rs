//! The node's services around the engine, each with its own task(s) under the supervisor:
//! the P2P glue (gossip verdicts, sync, serving peers), the JSON-RPC backend, the metrics and
//! health server, and BFT consensus (Malachite) for validators.

pub mod metrics;
pub mod bft;
pub mod p2p;
pub mod rpc;
