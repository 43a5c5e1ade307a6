//! cpc consensus: transaction and block validation (in isolation, then in context), the
//! proposer schedule, synthetic-result verification, and the block builder. No I/O.

pub mod block;
pub mod builder;
pub mod fork_choice;
pub mod poc_check;
pub mod schedule;
pub mod tx_checks;

pub use block::{
    BlockError, ChainContext, CheckedBlock, check_block_in_context, check_block_in_isolation,
    check_share_target, validate_block,
};
pub use builder::{
    BuildContext, Built, Candidate, MAX_FAILED_VERIFICATIONS_PER_BUILD, Skip, build_block,
};
pub use fork_choice::compare_chains;
pub use poc_check::{PocVerifier, SyntheticError, WindowTip, is_synthetic, window_heights};
pub use schedule::ValidatorSet;
pub use tx_checks::{TxCheckError, check_tx_in_isolation};
