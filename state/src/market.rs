//! The task market (docs/MARKET.md): jobs posted with an escrowed price, claimed with a bond,
//! paid when a result checks, refunded, forfeited or reopened by a height index. Only where
//! genesis sets `market.enabled`; elsewhere the three job transactions are refused in isolation
//! and a `job:` task id is an external result, as PROTOCOL.md says.
//!
//! Money never leaves the supply's `liquid` part: escrowed prices and bonds sit on the escrow
//! account ([`escrow_address`], a module account nobody holds a key for, as Cosmos SDK and
//! Akash keep escrow), so the state root's supply formula is unchanged.
//!
//! Records live beside the staking records (same column family, same tree, same leaf rule):
//! `0x06 ‖ job id` → [`JobRecord`], `0x07 ‖ be64 height ‖ kind ‖ job id` → [`JobDue`] (what
//! happens to the job at the end of that height: `kind` 0 = its claim ends, 1 = its deadline).

use crate::exec::{ApplyError, BlockExecutor};
use crate::stake::{StakeKey, StakeRecord};
use crate::view::{StateView, StorageError};
use cpc_primitives::{sha256, Address, Transaction, TxType, H256};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The task prefix of a job result: `job:<64 hex digits of the job id>`.
pub const JOB_TASK_PREFIX: &str = "job:";
/// Largest m and n of a job.
pub const MAX_JOB_ROWS: u32 = 1024;
/// Largest k of a job.
pub const MAX_JOB_DEPTH: u32 = 4096;

/// The escrow account: the first 20 bytes of `SHA-256("cpc-market-escrow")`. No key hashes to
/// it (an address is a hash of a public key), so only the market's rules move its balance.
pub fn escrow_address() -> Address {
    let h = sha256(b"cpc-market-escrow");
    Address(h.0[..20].try_into().expect("20 of 32 bytes"))
}

/// The job id is the hash of the POST_JOB transaction that created it.
pub fn job_task_id(job: &H256) -> String {
    format!("{JOB_TASK_PREFIX}{}", job.to_hex())
}

/// The job a `job:` task id names, if it is one (exactly 64 lowercase hex digits).
pub fn parse_job_task_id(task_id: &str) -> Option<Result<H256, String>> {
    let rest = task_id.strip_prefix(JOB_TASK_PREFIX)?;
    // `H256::from_hex` takes exactly 64 lowercase hex digits.
    Some(H256::from_hex(rest).map_err(|_| format!("task_id {task_id:?}: expected \"job:\" and 64 lowercase hex digits")))
}

/// Whether `r` is a job result on a chain where the market is `enabled` (a `job:` task id);
/// elsewhere such a task id is an external result.
pub fn is_job_result(r: &cpc_primitives::ComputeResult, enabled: bool) -> bool {
    enabled && parse_job_task_id(&r.task_id).is_some()
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a claim (also after a claim ran out).
    Open,
    /// One worker holds it until `claim_until`.
    Claimed,
    /// Paid: the result is on the chain.
    Done,
    /// Withdrawn by its poster before any claim; the price went back.
    Cancelled,
    /// The deadline passed without a result; the price went back.
    Expired,
}

impl JobStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Open => "open",
            JobStatus::Claimed => "claimed",
            JobStatus::Done => "done",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Expired => "expired",
        }
    }
    /// Done, cancelled or expired: nothing more happens to the job.
    pub fn is_closed(&self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Cancelled | JobStatus::Expired)
    }
}

/// One job (key `0x06 ‖ job id`), fields in this order in its JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRecord {
    pub poster: Address,
    pub m: u32,
    pub k: u32,
    pub n: u32,
    /// Content root of A (m × k int8) and of B (k × n int8): [`crate::market::Blob`] roots.
    pub a_root: H256,
    pub b_root: H256,
    /// Escrowed at posting, paid to the worker (minus the protocol fee) or refunded.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub price: u128,
    /// What a claim locks; forfeited to the treasury if the claim runs out.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub bond: u128,
    /// What the poster paid for the job's data (`(m·k + k·n + 4·m·n) × blob_fee_per_byte`).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub blob_fee: u128,
    /// Blocks a claim lasts (never past the deadline).
    pub claim_blocks: u64,
    /// The last height a result may be included at; at its end an unfinished job is refunded.
    pub deadline: u64,
    /// Blocks the inputs and the result are kept after the job closes.
    pub retention: u64,
    pub posted_height: u64,
    pub status: JobStatus,
    pub claimant: Option<Address>,
    /// The last height the claimant's result may be included at.
    pub claim_until: Option<u64>,
    /// Claims made so far (a job with a claim, even a lapsed one, can no longer be cancelled).
    pub claims: u32,
    pub result_root: Option<H256>,
    /// The height it was paid, cancelled or expired at.
    pub closed_height: Option<u64>,
}

/// An entry of the height index (key `0x07 ‖ be64 height ‖ kind ‖ job id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDue {
    /// `"claim_end"` or `"deadline"`, the same as the key's kind byte.
    pub due: DueKind,
}

/// The market's blob fee state (key `0x08`, absent while `excess_blob_bytes` is 0): EIP-4844's
/// `excess_blob_gas`, kept in the state tree instead of the header (PROTOCOL.md's header is
/// fixed). The end of each block sets it to `max(0, excess + block bytes − target)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobFeeState {
    pub excess_blob_bytes: u64,
}

/// EIP-4844's `fake_exponential`: `factor · e^(numerator / denominator)` by its Taylor series
/// in integers, each term floored, `denominator` ≥ 1. An intermediate product past u128
/// saturates the result at `u128::MAX` (deterministic; by then the fee per byte exceeds any
/// supply, EIP-4844 clients use 256-bit words for the same reason).
pub fn fake_exponential(factor: u128, numerator: u128, denominator: u128) -> u128 {
    let Some(mut accum) = factor.checked_mul(denominator) else { return u128::MAX };
    let mut output: u128 = 0;
    let mut i: u128 = 1;
    while accum > 0 {
        output = match output.checked_add(accum) {
            Some(o) => o,
            None => return u128::MAX,
        };
        let (Some(num), Some(den)) = (accum.checked_mul(numerator), denominator.checked_mul(i)) else { return u128::MAX };
        accum = num / den;
        i += 1;
    }
    output / denominator
}

impl crate::MarketParams {
    /// The blob fee per byte of a block whose parent left `excess` bytes.
    pub fn blob_fee_at(&self, excess: u64) -> u128 {
        fake_exponential(self.blob_fee_per_byte, excess as u128, self.blob_fee_update_fraction.max(1) as u128)
    }

    /// The excess a block leaves: what it brought above the target, carried on.
    pub fn next_excess(&self, excess: u64, block_bytes: u64) -> u64 {
        excess.saturating_add(block_bytes).saturating_sub(self.target_blob_bytes_per_block)
    }
}

/// The blob fee state a view holds (the parent's, for the block built on it).
pub fn blob_fee_state<V: StateView + ?Sized>(view: &V) -> Result<BlobFeeState, StorageError> {
    Ok(match view.stake_record(&StakeKey::BlobFee)? {
        Some(StakeRecord::BlobFee(f)) => f,
        _ => BlobFeeState::default(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    ClaimEnd,
    Deadline,
}

impl DueKind {
    pub fn byte(self) -> u8 {
        match self {
            DueKind::ClaimEnd => 0,
            DueKind::Deadline => 1,
        }
    }
    pub fn from_byte(b: u8) -> Option<DueKind> {
        match b {
            0 => Some(DueKind::ClaimEnd),
            1 => Some(DueKind::Deadline),
            _ => None,
        }
    }
}

pub use cpc_primitives::blob::{rows_root, Blob, BlobKind};

/// What a market transaction asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobTx {
    Post(PostJob),
    Claim { job: H256, bond: u128 },
    Cancel { job: H256 },
}

/// The payload of a POST_JOB (with its `amount`, the price).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostJob {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub a_root: H256,
    pub b_root: H256,
    pub price: u128,
    pub bond: u128,
    pub claim_blocks: u64,
    pub deadline: u64,
    pub retention: u64,
    /// The most the poster pays per byte of data (`max_blob_fee_per_byte`, optional): while
    /// the block's blob fee is above it the job waits, like EIP-4844's `max_fee_per_blob_gas`.
    pub max_blob_fee_per_byte: Option<u128>,
}

fn only(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    only_with(m, allowed, &[], what)
}

/// `required` must all be there, `optional` may be; nothing else.
fn only_with(m: &Map<String, Value>, required: &[&str], optional: &[&str], what: &str) -> Result<(), String> {
    if let Some(k) = m.keys().find(|k| !required.contains(&k.as_str()) && !optional.contains(&k.as_str())) {
        let also = if optional.is_empty() { String::new() } else { format!(", optionally {optional:?}") };
        return Err(format!("{what} payload: unknown field {k:?} (allowed: {required:?}{also})"));
    }
    if let Some(missing) = required.iter().find(|f| !m.contains_key(**f)) {
        return Err(format!("{what} payload: field {missing:?} is missing (expected all of {required:?})"));
    }
    Ok(())
}

fn int(m: &Map<String, Value>, f: &str, lo: u64, hi: u64) -> Result<u64, String> {
    match m[f].as_u64() {
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!("{f}: expected an integer in {lo}..={hi}, found {}", m[f])),
    }
}

fn root(m: &Map<String, Value>, f: &str) -> Result<H256, String> {
    match &m[f] {
        Value::String(s) => H256::from_hex(s).map_err(|_| format!("{f}: expected 64 lowercase hex digits, found {s:?}")),
        other => Err(format!("{f}: expected 64 lowercase hex digits, found {other}")),
    }
}

fn amount(m: &Map<String, Value>, f: &str) -> Result<u128, String> {
    let s = m[f].as_str().ok_or_else(|| format!("{f}: expected a decimal string, found {}", m[f]))?;
    match s.parse::<u128>() {
        Ok(v) if v.to_string() == s => Ok(v),
        _ => Err(format!("{f}: expected a canonical decimal string, found {s:?}")),
    }
}

fn no_recipient(tx: &Transaction) -> Result<(), String> {
    match tx.to_address {
        Some(a) => Err(format!("to_address: expected null for {}, found {a}", tx.tx_type)),
        None => Ok(()),
    }
}

impl JobTx {
    /// Parses a market transaction strictly (`None` for the other types). Everything here
    /// needs only the transaction: these are in-isolation rules.
    pub fn parse(tx: &Transaction) -> Option<Result<JobTx, String>> {
        let m = tx.payload.as_map();
        Some(match tx.tx_type {
            TxType::PostJob => (|| {
                no_recipient(tx)?;
                const F: [&str; 9] = ["m", "k", "n", "a_root", "b_root", "bond", "claim_blocks", "deadline", "retention"];
                only_with(m, &F, &["max_blob_fee_per_byte"], "POST_JOB")?;
                if tx.amount == 0 {
                    return Err("amount: POST_JOB escrows its amount as the job's price, expected more than \"0\"".into());
                }
                Ok(JobTx::Post(PostJob {
                    m: int(m, "m", 1, MAX_JOB_ROWS as u64)? as u32,
                    k: int(m, "k", 1, MAX_JOB_DEPTH as u64)? as u32,
                    n: int(m, "n", 1, MAX_JOB_ROWS as u64)? as u32,
                    a_root: root(m, "a_root")?,
                    b_root: root(m, "b_root")?,
                    price: tx.amount,
                    bond: amount(m, "bond")?,
                    claim_blocks: int(m, "claim_blocks", 1, u64::MAX)?,
                    deadline: int(m, "deadline", 1, u64::MAX)?,
                    retention: int(m, "retention", 1, u64::MAX)?,
                    max_blob_fee_per_byte: m.contains_key("max_blob_fee_per_byte").then(|| amount(m, "max_blob_fee_per_byte")).transpose()?,
                }))
            })(),
            TxType::ClaimJob => (|| {
                no_recipient(tx)?;
                only(m, &["job_id"], "CLAIM_JOB")?;
                Ok(JobTx::Claim { job: root(m, "job_id")?, bond: tx.amount })
            })(),
            TxType::CancelJob => (|| {
                no_recipient(tx)?;
                only(m, &["job_id"], "CANCEL_JOB")?;
                if tx.amount != 0 {
                    return Err(format!("amount: expected \"0\" for CANCEL_JOB, found \"{}\"", tx.amount));
                }
                Ok(JobTx::Cancel { job: root(m, "job_id")? })
            })(),
            _ => return None,
        })
    }
}

impl PostJob {
    /// Bytes of A and B (what the POST_JOB's block brings).
    pub fn input_bytes(&self) -> u64 {
        self.m as u64 * self.k as u64 + self.k as u64 * self.n as u64
    }
    /// Bytes of A, B and the C to come (what the poster pays for).
    pub fn data_bytes(&self) -> u64 {
        self.input_bytes() + 4 * self.m as u64 * self.n as u64
    }
}

/// A market transaction that breaks a rule in context: it is included as failed (fee and nonce
/// only), its receipt's `error` says which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketError {
    #[error("the task market is not enabled on this chain (genesis market.enabled)")]
    Disabled,
    #[error("{0}")]
    Payload(String),
    #[error("no job {0}")]
    NoSuchJob(H256),
    #[error("job {job} is {status}, expected open")]
    NotOpen { job: H256, status: &'static str },
    #[error("job {0} exists already")]
    Exists(H256),
    #[error("deadline: expected a height in {lo}..={hi} (after this block, within market.max_deadline_blocks), found {found}")]
    Deadline { lo: u64, hi: u64, found: u64 },
    #[error("claim_blocks: expected 1..={max} (market.max_claim_blocks), found {found}")]
    ClaimBlocks { max: u64, found: u64 },
    #[error("retention: expected 1..={max} (market.max_retention_blocks), found {found}")]
    Retention { max: u64, found: u64 },
    #[error("job {job}: its deadline {deadline} has come (claims are taken before it)")]
    TooLate { job: H256, deadline: u64 },
    #[error("CLAIM_JOB amount: expected the job's bond {expected}, found {found}")]
    Bond { expected: u128, found: u128 },
    #[error("insufficient balance for the {what}: balance after fee {balance}, needed {needed}")]
    Balance { what: &'static str, balance: u128, needed: u128 },
    #[error("CANCEL_JOB: only the poster {poster} may cancel job {job}, sender {found}")]
    NotPoster { job: H256, poster: Address, found: Address },
    #[error("CANCEL_JOB: job {job} has been claimed {claims} time(s): only a job never claimed can be cancelled")]
    Claimed { job: H256, claims: u32 },
}

/// Why a job result cannot be included (the block holding it would be invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobResultError {
    #[error("job result: {0}")]
    TaskId(String),
    #[error("job result: no job {0}")]
    NoSuchJob(H256),
    #[error("job result for {job}: the job is {status}, expected claimed")]
    NotClaimed { job: H256, status: &'static str },
    #[error("job result for {job}: claimed by {claimant}, submitted by {found} (only the claimant may submit)")]
    NotClaimant { job: H256, claimant: Address, found: Address },
    #[error("job result for {job}: the claim ran to height {until}, this block is {height}")]
    ClaimOver { job: H256, until: u64, height: u64 },
    #[error("job result for {job}: result_hash expected 64 lowercase hex digits, found {found:?}")]
    ResultHash { job: H256, found: String },
    #[error("job result: proof and nonce must be null (Freivalds' check needs neither), found {0}")]
    Extra(&'static str),
}

/// What the market did at the end of a block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSummary {
    /// Claims that ran out: (job, claimant, bond forfeited to the treasury).
    pub forfeited: Vec<(H256, Address, String)>,
    /// Deadlines that passed: (job, poster, price refunded).
    pub refunded: Vec<(H256, Address, String)>,
}

impl MarketSummary {
    pub fn is_empty(&self) -> bool {
        self.forfeited.is_empty() && self.refunded.is_empty()
    }
}

/// What happened to a job in a block (the `jobEvents` subscription, the market's metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEventKind {
    /// A POST_JOB created it (`by`: the poster).
    Posted,
    /// A CLAIM_JOB took it (`by`: the claimant).
    Claimed,
    /// Its poster withdrew it (`by`: the poster).
    Cancelled,
    /// Its result was included and the claimant paid (`by`: the claimant, its sender).
    Done,
    /// A claim ran out: the bond went to the treasury, the job is open again (`by`: the claimant).
    ClaimLapsed,
    /// The deadline passed without a result: the price went back (`by`: the poster).
    Expired,
}

impl JobEventKind {
    pub const ALL: [JobEventKind; 6] = [
        JobEventKind::Posted,
        JobEventKind::Claimed,
        JobEventKind::Cancelled,
        JobEventKind::Done,
        JobEventKind::ClaimLapsed,
        JobEventKind::Expired,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            JobEventKind::Posted => "posted",
            JobEventKind::Claimed => "claimed",
            JobEventKind::Cancelled => "cancelled",
            JobEventKind::Done => "done",
            JobEventKind::ClaimLapsed => "claim_lapsed",
            JobEventKind::Expired => "expired",
        }
    }
}

/// One job event of a committed block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    pub job: H256,
    pub event: JobEventKind,
    /// Who acted or was paid (see [`JobEventKind`]).
    pub by: Address,
    /// The transaction, for the events a transaction caused (none for a lapsed claim or a
    /// passed deadline: those happen at the end of the block).
    pub tx_hash: Option<H256>,
    pub block_height: u64,
}

/// The job events of a committed block, in block order (its transactions', then the end of
/// the block's): only successful transactions count; nothing on a chain without the market.
pub fn job_events(
    height: u64,
    txs: &[Transaction],
    outcomes: &[crate::exec::TxOutcome],
    summary: &MarketSummary,
    enabled: bool,
) -> Vec<JobEvent> {
    let mut out = Vec::new();
    if !enabled {
        return out;
    }
    for (tx, o) in txs.iter().zip(outcomes) {
        if o.status != cpc_primitives::TxStatus::Success {
            continue;
        }
        let ev = |job, event, by| JobEvent { job, event, by, tx_hash: Some(o.tx_hash), block_height: height };
        match tx.tx_type {
            TxType::PostJob => out.push(ev(o.tx_hash, JobEventKind::Posted, tx.from_address)),
            TxType::ClaimJob | TxType::CancelJob => {
                let kind = if tx.tx_type == TxType::ClaimJob { JobEventKind::Claimed } else { JobEventKind::Cancelled };
                if let Some(Ok(JobTx::Claim { job, .. } | JobTx::Cancel { job })) = JobTx::parse(tx) {
                    out.push(ev(job, kind, tx.from_address));
                }
            }
            TxType::SubmitResult => {
                // Paid to the claimant, who is the sender (only the claimant may submit).
                if let Ok(r) = cpc_primitives::ComputeResult::from_payload(&tx.payload)
                    && let Some(Ok(job)) = parse_job_task_id(&r.task_id)
                {
                    out.push(ev(job, JobEventKind::Done, tx.from_address));
                }
            }
            _ => {}
        }
    }
    let end = |job, event, by| JobEvent { job, event, by, tx_hash: None, block_height: height };
    out.extend(summary.forfeited.iter().map(|(j, a, _)| end(*j, JobEventKind::ClaimLapsed, *a)));
    out.extend(summary.refunded.iter().map(|(j, a, _)| end(*j, JobEventKind::Expired, *a)));
    out
}

fn job_key(job: &H256) -> StakeKey {
    StakeKey::Job(*job)
}

impl<V: StateView + ?Sized> BlockExecutor<'_, V> {
    /// A job as this block sees it so far.
    pub fn job(&self, job: &H256) -> Result<Option<JobRecord>, StorageError> {
        Ok(match self.stake_get(&job_key(job))? {
            Some(StakeRecord::Job(j)) => Some(j),
            _ => None,
        })
    }

    fn put_job(&mut self, job: &H256, rec: JobRecord) -> Result<(), ApplyError> {
        self.stake_put(job_key(job), Some(StakeRecord::Job(rec)))
    }

    fn put_due(&mut self, height: u64, due: DueKind, job: &H256) -> Result<(), ApplyError> {
        self.stake_put(StakeKey::JobDue { height, kind: due.byte(), job: *job }, Some(StakeRecord::JobDue(JobDue { due })))
    }

    /// Moves `amount` from `from` to `to` (the caller has checked the balance).
    fn move_funds(&mut self, from: &Address, to: &Address, amount: u128, what: &'static str) -> Result<(), ApplyError> {
        if amount == 0 {
            return Ok(());
        }
        let f = self.load(from)?;
        f.entry.account.balance = f.entry.account.balance.checked_sub(amount).ok_or(ApplyError::Overflow(what))?;
        self.credit(to, amount, what)
    }

    /// A POST_JOB, CLAIM_JOB or CANCEL_JOB after its fee: `Ok(Err)` is a failed transaction.
    pub(crate) fn apply_market(&mut self, sender: &Address, tx_hash: H256, jt: JobTx) -> Result<Result<(), MarketError>, ApplyError> {
        let mp = self.params.market.clone();
        let h = self.height;
        let escrow = escrow_address();
        let balance = self.account(sender)?.balance;
        match jt {
            JobTx::Post(p) => {
                let hi = h.saturating_add(mp.max_deadline_blocks);
                if p.deadline <= h || p.deadline > hi {
                    return Ok(Err(MarketError::Deadline { lo: h + 1, hi, found: p.deadline }));
                }
                if p.claim_blocks > mp.max_claim_blocks {
                    return Ok(Err(MarketError::ClaimBlocks { max: mp.max_claim_blocks, found: p.claim_blocks }));
                }
                if p.retention > mp.max_retention_blocks {
                    return Ok(Err(MarketError::Retention { max: mp.max_retention_blocks, found: p.retention }));
                }
                let blob_fee = (p.data_bytes() as u128).saturating_mul(self.blob_fee_per_byte()?);
                let needed = p.price.saturating_add(blob_fee);
                if balance < needed {
                    return Ok(Err(MarketError::Balance { what: "price and the blob fee", balance, needed }));
                }
                if self.job(&tx_hash)?.is_some() {
                    return Ok(Err(MarketError::Exists(tx_hash)));
                }
                self.move_funds(sender, &escrow, p.price, "escrowed price")?;
                let treasury = self.params.economics.treasury_address;
                self.move_funds(sender, &treasury, blob_fee, "blob fee")?;
                let rec = JobRecord {
                    poster: *sender,
                    m: p.m,
                    k: p.k,
                    n: p.n,
                    a_root: p.a_root,
                    b_root: p.b_root,
                    price: p.price,
                    bond: p.bond,
                    blob_fee,
                    claim_blocks: p.claim_blocks,
                    deadline: p.deadline,
                    retention: p.retention,
                    posted_height: h,
                    status: JobStatus::Open,
                    claimant: None,
                    claim_until: None,
                    claims: 0,
                    result_root: None,
                    closed_height: None,
                };
                self.put_job(&tx_hash, rec)?;
                self.put_due(p.deadline, DueKind::Deadline, &tx_hash)?;
            }
            JobTx::Claim { job, bond } => {
                let Some(mut rec) = self.job(&job)? else { return Ok(Err(MarketError::NoSuchJob(job))) };
                if rec.status != JobStatus::Open {
                    return Ok(Err(MarketError::NotOpen { job, status: rec.status.as_str() }));
                }
                if h >= rec.deadline {
                    return Ok(Err(MarketError::TooLate { job, deadline: rec.deadline }));
                }
                if bond != rec.bond {
                    return Ok(Err(MarketError::Bond { expected: rec.bond, found: bond }));
                }
                if balance < bond {
                    return Ok(Err(MarketError::Balance { what: "bond", balance, needed: bond }));
                }
                self.move_funds(sender, &escrow, bond, "claim bond")?;
                let until = h.saturating_add(rec.claim_blocks).min(rec.deadline);
                rec.status = JobStatus::Claimed;
                rec.claimant = Some(*sender);
                rec.claim_until = Some(until);
                rec.claims = rec.claims.checked_add(1).ok_or(ApplyError::Overflow("claims"))?;
                self.put_job(&job, rec)?;
                self.put_due(until, DueKind::ClaimEnd, &job)?;
            }
            JobTx::Cancel { job } => {
                let Some(mut rec) = self.job(&job)? else { return Ok(Err(MarketError::NoSuchJob(job))) };
                if rec.poster != *sender {
                    return Ok(Err(MarketError::NotPoster { job, poster: rec.poster, found: *sender }));
                }
                if rec.claims > 0 {
                    return Ok(Err(MarketError::Claimed { job, claims: rec.claims }));
                }
                if rec.status != JobStatus::Open {
                    return Ok(Err(MarketError::NotOpen { job, status: rec.status.as_str() }));
                }
                self.move_funds(&escrow, &rec.poster, rec.price, "refunded price")?;
                rec.status = JobStatus::Cancelled;
                rec.closed_height = Some(h);
                self.put_job(&job, rec)?;
            }
        }
        Ok(Ok(()))
    }

    /// The state rules of a job result (the data rule — Freivalds against the blobs — is
    /// consensus's, before this): the job is claimed by the sender and the claim still runs.
    pub fn check_job_result(&self, sender: &Address, task_id: &str, result_hash: &str) -> Result<(H256, JobRecord), JobResultError> {
        let job = match parse_job_task_id(task_id) {
            Some(Ok(j)) => j,
            Some(Err(e)) => return Err(JobResultError::TaskId(e)),
            None => return Err(JobResultError::TaskId(format!("task_id {task_id:?} is not a job's"))),
        };
        let rec = self
            .job(&job)
            .map_err(|e| JobResultError::TaskId(format!("reading job {job}: {e}")))?
            .ok_or(JobResultError::NoSuchJob(job))?;
        if rec.status != JobStatus::Claimed {
            return Err(JobResultError::NotClaimed { job, status: rec.status.as_str() });
        }
        let claimant = rec.claimant.expect("a claimed job has a claimant");
        if claimant != *sender {
            return Err(JobResultError::NotClaimant { job, claimant, found: *sender });
        }
        let until = rec.claim_until.expect("a claimed job has an end");
        if self.height > until {
            return Err(JobResultError::ClaimOver { job, until, height: self.height });
        }
        if H256::from_hex(result_hash).is_err() {
            return Err(JobResultError::ResultHash { job, found: result_hash.into() });
        }
        Ok((job, rec))
    }

    /// Pays an included job result: the price minus the protocol fee to the claimant, the
    /// fee to the treasury, the bond back; the job is done.
    pub(crate) fn pay_job(&mut self, job: H256, mut rec: JobRecord, root: H256) -> Result<(), ApplyError> {
        let escrow = escrow_address();
        let claimant = rec.claimant.expect("checked: claimed");
        let fee = rec
            .price
            .checked_mul(self.params.market.fee_bps as u128)
            .ok_or(ApplyError::Overflow("market fee"))?
            / 10_000;
        let pay = rec.price - fee + rec.bond; // fee <= price (fee_bps <= 10 000)
        self.move_funds(&escrow, &claimant, pay, "job payment")?;
        let treasury = self.params.economics.treasury_address;
        self.move_funds(&escrow, &treasury, fee, "market fee")?;
        rec.status = JobStatus::Done;
        rec.result_root = Some(root);
        rec.closed_height = Some(self.height);
        self.put_job(&job, rec)
    }

    /// The blob fee per byte of this block: from the parent's excess (the view's record; this
    /// block's own bytes move it only at its end).
    pub(crate) fn blob_fee_per_byte(&self) -> Result<u128, StorageError> {
        Ok(self.params.market.blob_fee_at(blob_fee_state(self.view)?.excess_blob_bytes))
    }

    /// End of block: the excess this block's data leaves for the next (the record is written
    /// only when it changes, removed at 0).
    pub(crate) fn update_blob_excess(&mut self, block_bytes: u64) -> Result<(), ApplyError> {
        let old = blob_fee_state(self.view)?.excess_blob_bytes;
        let new = self.params.market.next_excess(old, block_bytes);
        if new != old {
            let rec = (new > 0).then_some(StakeRecord::BlobFee(BlobFeeState { excess_blob_bytes: new }));
            self.stake_put(StakeKey::BlobFee, rec)?;
        }
        Ok(())
    }

    /// End of block: claims that run out here forfeit their bond to the treasury and reopen
    /// their job; jobs whose deadline is here and that are not done are refunded.
    pub(crate) fn market_due(&mut self, summary: &mut MarketSummary) -> Result<(), ApplyError> {
        let prefix = StakeKey::job_due_prefix(self.height);
        let mut end = prefix.clone();
        end.push(0xff);
        let keys = self.stake_range_merged(&prefix, &end)?;
        let escrow = escrow_address();
        let treasury = self.params.economics.treasury_address;
        for k in keys {
            let Some(StakeKey::JobDue { height, kind, job }) = StakeKey::decode(&k) else {
                return Err(ApplyError::Storage(StorageError::corrupt(format!("bad job index key {}", hex::encode(&k)))));
            };
            self.stake_put(StakeKey::JobDue { height, kind, job }, None)?;
            let Some(mut rec) = self.job(&job)? else { continue };
            match DueKind::from_byte(kind) {
                Some(DueKind::ClaimEnd) if rec.status == JobStatus::Claimed && rec.claim_until == Some(height) => {
                    let claimant = rec.claimant.take().expect("claimed");
                    self.move_funds(&escrow, &treasury, rec.bond, "forfeited bond")?;
                    summary.forfeited.push((job, claimant, rec.bond.to_string()));
                    rec.status = JobStatus::Open;
                    rec.claim_until = None;
                    self.put_job(&job, rec)?;
                }
                Some(DueKind::Deadline) if rec.status == JobStatus::Open => {
                    self.move_funds(&escrow, &rec.poster, rec.price, "refunded price")?;
                    summary.refunded.push((job, rec.poster, rec.price.to_string()));
                    rec.status = JobStatus::Expired;
                    rec.closed_height = Some(height);
                    self.put_job(&job, rec)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
