//! cpc consensus: transaction and block validation (in isolation, then in context), the
//! proposer schedule, commit certificates, synthetic-result verification, and the block builder. No I/O.

pub mod block;
pub mod builder;
pub mod evidence;
pub mod finality;
pub mod market;
pub mod poc_check;
pub mod schedule;
pub mod tx_checks;

pub use block::{check_share_target, check_block_in_context, check_block_in_isolation, validate_block, BlockError, ChainContext, CheckedBlock};
pub use evidence::{Evidence, EvidenceError};
pub use market::{block_named_blobs, check_market_data, is_job_result, named_blobs, MarketDataError};
pub use finality::{Certificate, CertificateError};
pub use builder::{build_block, BuildContext, Built, Candidate, Skip, MAX_FAILED_VERIFICATIONS_PER_BUILD};
pub use poc_check::{is_synthetic, window_heights, PocVerifier, SyntheticError, WindowTip};
pub use schedule::ValidatorSet;
pub use tx_checks::{check_tx_in_isolation, TxCheckError};
