//! cpcd's adapter to Malachite (Tendermint in Rust): the context (types, signing bytes,
//! proposer choice), the codec, commit-certificate checks and the application loop that lets
//! cpcd keep its block format, mempool, execution, PoC verification and storage.

pub mod app;
pub mod certificate;
pub mod codec;
pub mod context;
pub mod evidence;
pub mod host;
pub mod metrics;
pub mod proposal;
pub mod service;
pub mod signing;
pub mod toy;

pub use context::{
    BlockId, BlockValue, CpcContext, Height, ProposalPart, ValAddr, Validator, ValidatorSet,
};
