//! Fuzz targets: every decoder that takes bytes from outside the node, each as a plain
//! function over `&[u8]` that must never panic, whatever the bytes.
//!
//! A target decodes, then runs what the node runs next on the decoded value (the checks in
//! isolation, a certificate or evidence check against the dev validator set, the k-row proof
//! check), and checks the round trips the node relies on (a decoded transaction or block
//! re-encodes to bytes that decode to the same hash). A panic is a crash; libFuzzer
//! (`fuzz/libfuzzer`, `make fuzz`) and `tests/corpus.rs` (the test command) both report it.
//!
//! Targets (the names of the corpus folders and of the libFuzzer binaries): see [`TARGETS`].

use bytes::Bytes;
use cpc_consensus::{check_block_in_isolation, check_tx_in_isolation, Certificate, Evidence, ValidatorSet};
use cpc_primitives::{Block, ComputeResult, Payload, Transaction, H256};
use cpc_state::params::ChainParams;
use serde_json::Value;
use std::sync::OnceLock;

#[path = "../../node/src/config.rs"]
#[allow(dead_code)]
mod node_config;

/// One fuzz target: its name and its function.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target, in the order RELIABILITY.md lists them.
pub const TARGETS: &[Target] = &[
    ("tx_json", tx_json),
    ("block_json", block_json),
    ("compute_result", compute_result),
    ("gossip_block", gossip_block),
    ("gossip_evidence", gossip_evidence),
    ("sync_request", sync_request),
    ("sync_response", sync_response),
    ("bft_message", bft_message),
    ("rpc_params", rpc_params),
    ("keystore", keystore),
    ("genesis", genesis),
    ("config", config),
    ("stake_record", stake_record),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8]) -> bool> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The dev chain's parameters and validator set: what the checks run against.
struct Dev {
    params: ChainParams,
    validators: ValidatorSet,
    genesis_hash: H256,
}

fn dev() -> &'static Dev {
    static DEV: OnceLock<Dev> = OnceLock::new();
    DEV.get_or_init(|| {
        let g = cpc_genesis::Genesis::dev();
        Dev {
            params: g.chain_params(),
            validators: ValidatorSet::new(g.validators.iter().map(|v| v.pub_key).collect()),
            genesis_hash: g.hash().expect("the dev genesis builds"),
        }
    })
}

/// Small synthetic parameters for the proof check (the dev chain's n = 1024 would make each
/// execution milliseconds long; the code paths are the same).
pub const FUZZ_SYNTH: cpc_poc::SynthParams = cpc_poc::SynthParams { n: 64, k: 4 };

/// The tip the seed results were solved against (`compute_result` corpus).
pub fn fuzz_tip() -> H256 {
    cpc_primitives::sha256(b"cpc-fuzz-tip")
}

// --- transactions and results ----------------------------------------------------------------

/// A transaction from JSON (gossip, `cpc_sendTransaction`, `poc_submitResult`): decode, the
/// checks in isolation, the staking payload, and the canonical re-encoding.
pub fn tx_json(data: &[u8]) -> bool {
    let Ok(tx) = Transaction::from_json_slice(data) else { return false };
    check_decoded_tx(&tx);
    true
}

fn check_decoded_tx(tx: &Transaction) {
    let _ = check_tx_in_isolation(tx, &dev().params);
    let _ = cpc_state::stake_tx::StakingTx::parse(tx);
    let _ = tx.max_cost();
    let again = Transaction::from_json_slice(&tx.canonical_json()).expect("canonical JSON of a decoded tx decodes");
    assert_eq!(again.hash(), tx.hash(), "a decoded transaction re-encodes to the same hash");
}

/// A block from JSON (RPC views, sync, gossip): decode, the checks in isolation, the round trip.
pub fn block_json(data: &[u8]) -> bool {
    let Ok(b) = Block::from_json_slice(data) else { return false };
    check_decoded_block(&b);
    true
}

fn check_decoded_block(b: &Block) {
    let _ = check_block_in_isolation(b, &dev().params);
    let again = Block::from_json_slice(&b.to_json_bytes()).expect("the JSON of a decoded block decodes");
    assert_eq!(again.hash(), b.hash(), "a decoded block re-encodes to the same hash");
}

/// A SUBMIT_RESULT payload: decode the result, find its tip, the share value and the k-row
/// proof check (what admission runs on a worker's result before any state).
pub fn compute_result(data: &[u8]) -> bool {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(data) else { return false };
    let Ok(payload) = Payload::from_map(map) else { return false };
    let Ok(r) = ComputeResult::from_payload(&payload) else { return false };
    let _ = r.leaf_hash();
    let back = ComputeResult::from_payload(&r.to_payload()).expect("a decoded result re-encodes");
    assert_eq!(back.leaf_hash(), r.leaf_hash(), "a decoded result re-encodes to the same leaf");
    let tip = fuzz_tip();
    let Some(nonce) = r.nonce else { return true };
    if cpc_poc::find_tip(&r.task_id, &r.worker_address, nonce, &[tip]).is_some() {
        let _ = cpc_poc::result_share_value(&r, &tip);
        let _ = cpc_poc::check_proof(&r, &tip, &FUZZ_SYNTH);
    }
    true
}

// --- p2p ---------------------------------------------------------------------------------------

/// A gossiped or synced block with its certificate: split, decode both, check the
/// certificate against the dev set and the block in isolation.
pub fn gossip_block(data: &[u8]) -> bool {
    let Ok((b, cert)) = Block::decode_certified(data) else { return false };
    check_decoded_block(&b);
    if let Ok(c) = Certificate::decode(cert) {
        assert_eq!(Certificate::decode(&c.encode()).as_ref(), Ok(&c), "a decoded certificate re-encodes");
        let _ = c.verify(b.header.height, &b.hash(), &dev().validators);
        let _ = c.signers();
    }
    true
}

/// Gossiped evidence: decode and verify against the dev set. The decoder keeps the two
/// messages in the order the sender used; the encoding (stored, gossiped, hashed into the id)
/// is the canonical order. So re-encoding gives the canonical form, with the same id and the
/// same verdict (fuzz/regressions/gossip_evidence/ holds the input that showed a swapped pair).
pub fn gossip_evidence(data: &[u8]) -> bool {
    let Ok(e) = Evidence::from_json_slice(data) else { return false };
    let verdict = e.verify(&dev().validators);
    let _ = (e.height(), e.validator());
    let again = Evidence::from_json_slice(&e.to_json_bytes()).expect("encoded evidence decodes");
    assert_eq!(again, e.clone().canonical(), "re-encoded evidence is the canonical form");
    assert_eq!(again.id(), e.id(), "one id whatever the order");
    assert_eq!(again.verify(&dev().validators).is_ok(), verdict.is_ok(), "the order does not change the verdict");
    true
}

fn sync_protocol() -> libp2p::StreamProtocol {
    libp2p::StreamProtocol::new("/cpc/cpc-devnet-1/sync/1")
}

/// A sync request as read from a peer's stream (the size-limited CBOR codec).
pub fn sync_request(data: &[u8]) -> bool {
    use libp2p::request_response::Codec;
    let mut codec = cpc_network::codec::SyncCodec::default();
    let mut io = data;
    let Ok(req) = libp2p::futures::executor::block_on(codec.read_request(&sync_protocol(), &mut io)) else { return false };
    let _ = req.check_bounds();
    true
}

/// A sync response as read from a peer's stream, and every block in it.
pub fn sync_response(data: &[u8]) -> bool {
    use cpc_network::SyncResponse;
    use libp2p::request_response::Codec;
    let mut codec = cpc_network::codec::SyncCodec::default();
    let mut io = data;
    let Ok(resp) = libp2p::futures::executor::block_on(codec.read_response(&sync_protocol(), &mut io)) else { return false };
    match resp {
        SyncResponse::Blocks(blocks) => blocks.iter().for_each(|b| {
            gossip_block(b);
        }),
        SyncResponse::Block(Some(b)) => {
            gossip_block(&b);
        }
        SyncResponse::Status(s) => {
            let _ = s.genesis_hash == dev().genesis_hash;
        }
        // A blob manifest is decoded and checked as the node does, then a chunk of it.
        SyncResponse::BlobManifest(Some(b)) => {
            if let Ok(m) = cpc_primitives::blob::BlobManifest::decode_for(&b, &cpc_primitives::H256([0; 32])) {
                let _ = cpc_primitives::blob::BlobAssembly::new(m).add(&b);
            }
        }
        SyncResponse::BlobChunk(Some(b)) => {
            let m = cpc_primitives::blob::BlobManifest { kind: cpc_primitives::blob::BlobKind::Int8, rows: 2, cols: 3, leaves: vec![cpc_primitives::H256([0; 32]); 2] };
            let _ = cpc_primitives::blob::BlobAssembly::new(m).add(&b);
        }
        SyncResponse::Block(None) | SyncResponse::BlobManifest(None) | SyncResponse::BlobChunk(None) | SyncResponse::Error(_) => {}
    }
    true
}

/// Which message type the first byte of a `bft_message` input selects.
pub const BFT_KINDS: &[&str] = &[
    "proposal part",
    "consensus message",
    "liveness message",
    "proposal stream message",
    "sync status",
    "sync request",
    "sync response",
    "proposed value",
    "polka certificate",
    "commit certificate",
    "validator proof",
    "proposal bytes",
];

/// A consensus-network, sync or WAL message (borsh): the first byte picks the message type
/// ([`BFT_KINDS`]), the rest is decoded by cpcd's codec; what decodes must encode again.
pub fn bft_message(data: &[u8]) -> bool {
    use cpc_bft::codec::BorshCodec;
    use cpc_bft::context::{CpcContext, ProposalPart};
    use malachitebft_app::types::core::{CommitCertificate, PolkaCertificate, ValidatorProof};
    use malachitebft_app::types::streaming::StreamMessage;
    use malachitebft_app::types::{sync, ProposedValue, SignedConsensusMsg};
    use malachitebft_codec::Codec;
    use malachitebft_core_consensus::LivenessMsg;

    fn roundtrip<T>(bytes: Bytes) -> bool
    where
        BorshCodec: Codec<T>,
    {
        let Ok(v) = Codec::<T>::decode(&BorshCodec, bytes) else { return false };
        let enc = Codec::<T>::encode(&BorshCodec, &v).expect("a decoded message encodes");
        assert!(Codec::<T>::decode(&BorshCodec, enc).is_ok(), "a re-encoded message decodes");
        true
    }
    let Some((&kind, rest)) = data.split_first() else { return false };
    let b = Bytes::copy_from_slice(rest);
    match kind as usize % BFT_KINDS.len() {
        0 => roundtrip::<ProposalPart>(b),
        1 => roundtrip::<SignedConsensusMsg<CpcContext>>(b),
        2 => roundtrip::<LivenessMsg<CpcContext>>(b),
        3 => roundtrip::<StreamMessage<ProposalPart>>(b),
        4 => roundtrip::<sync::Status<CpcContext>>(b),
        5 => roundtrip::<sync::Request<CpcContext>>(b),
        6 => roundtrip::<sync::Response<CpcContext>>(b),
        7 => roundtrip::<ProposedValue<CpcContext>>(b),
        8 => roundtrip::<PolkaCertificate<CpcContext>>(b),
        9 => roundtrip::<CommitCertificate<CpcContext>>(b),
        10 => roundtrip::<ValidatorProof<CpcContext>>(b),
        // The value a proposal stream assembles: a block and the blobs beside it.
        _ => {
            let Ok((block, blobs)) = cpc_bft::proposal::decode(rest) else { return false };
            let json = serde_json::to_vec(&block).expect("a decoded block encodes");
            let again = cpc_bft::proposal::encode(json, &blobs);
            let (b2, blobs2) = cpc_bft::proposal::decode(&again).expect("a re-encoded proposal decodes");
            assert!(b2.hash() == block.hash() && blobs2 == blobs, "a re-encoded proposal is the same proposal");
            true
        }
    }
}

// --- RPC ---------------------------------------------------------------------------------------

/// A JSON-RPC request body: the request envelope (jsonrpsee's), then the parameters of the
/// method as the server declares them, and cpcd's decoders for them (addresses, hashes, block
/// ids, subscription kinds, transactions).
pub fn rpc_params(data: &[u8]) -> bool {
    let Ok(req) = serde_json::from_slice::<jsonrpsee::types::Request<'_>>(data) else { return false };
    let params: Value = match req.params.as_ref() {
        Some(p) => match serde_json::from_str(p.get()) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => Value::Array(vec![]),
    };
    let positional = match &params {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let arg = |i: usize| positional.get(i).cloned().unwrap_or(Value::Null);
    let string = |i: usize| serde_json::from_value::<String>(arg(i)).ok();
    let method = req.method_name();
    match method.split_once('_').map(|(_, m)| m).unwrap_or(method) {
        "getBlockByNumber" | "getComputeResults" => {
            let _ = serde_json::from_value::<cpc_rpc::BlockId>(arg(0));
            let _ = serde_json::from_value::<Option<bool>>(arg(1));
        }
        "getBlockByHash" | "getTransactionByHash" | "getTransactionReceipt" => {
            if let Some(s) = string(0) {
                let _ = cpc_rpc::parse_hash(&s);
            }
        }
        "getBalance" | "getAccount" | "getTransactionCount" | "getValidator" | "getDelegations"
        | "getUnbonding" | "getRewards" | "getWork" | "getWorker" => {
            if let Some(s) = string(0) {
                let _ = cpc_rpc::parse_address(&s);
            }
        }
        "sendTransaction" | "estimateGas" | "submitResult" => {
            if let Ok(tx) = serde_json::from_value::<Transaction>(arg(0)) {
                check_decoded_tx(&tx);
            }
        }
        "subscribe" => {
            if let Some(kind) = string(0) {
                let _ = cpc_rpc::sub_kind(&kind, positional.get(1));
            }
        }
        "getEvidence" | "getActiveSet" => {
            let _ = serde_json::from_value::<Option<u64>>(arg(0));
        }
        "setPartition" => {
            let _ = serde_json::from_value::<Option<Vec<String>>>(arg(0));
        }
        _ => {}
    }
    true
}

// --- files ---------------------------------------------------------------------------------------

/// A keystore file's bytes: everything `cpcd` checks before it asks for the password.
pub fn keystore(data: &[u8]) -> bool {
    cpc_wallet::keystore::check_key_file_bytes(data).is_ok()
}

/// A genesis file: decode, validate, build block 0.
pub fn genesis(data: &[u8]) -> bool {
    // `from_json` validates; building block 0 executes the genesis state.
    let Ok(g) = cpc_genesis::Genesis::from_json(data) else { return false };
    let _ = g.chain_params();
    let _ = g.build();
    let _ = cpc_genesis::Genesis::from_json(&g.to_canonical_json()).expect("a decoded genesis re-encodes");
    true
}

/// The flags a settings file may set in the harness (a sample of the run command's).
const CONFIG_FLAGS: &[&str] = &[
    "dev", "datadir", "keystore", "password-file", "http.port", "http.addr", "ws.port", "p2p.port",
    "bootnodes", "mine", "gpu", "validator", "metrics", "rpc.apis",
];

/// `cpcd.toml`: the node's own parser (node/src/config.rs), and the merge into the run
/// command's arguments.
pub fn config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    let Ok(settings) = node_config::parse_settings(text) else { return false };
    let known: Vec<String> = CONFIG_FLAGS.iter().map(|s| s.to_string()).collect();
    let args = vec!["cpcd".to_string(), "--http.port".to_string(), "1".to_string()];
    let _ = node_config::merge_settings(args, &known, settings, std::path::Path::new("/etc/cpcd/cpcd.toml"));
    true
}

/// A staking record as read back from the database (key and value, split at the first byte's
/// length): the decoders the node's start-up checks and every staking read use.
pub fn stake_record(data: &[u8]) -> bool {
    use cpc_state::stake::{StakeKey, StakeRecord};
    let Some((&split, rest)) = data.split_first() else { return false };
    let (k, v) = rest.split_at((split as usize).min(rest.len()));
    let Some(key) = StakeKey::decode(k) else { return false };
    assert_eq!(StakeKey::decode(&key.encode()), Some(key.clone()), "a decoded key re-encodes");
    let _ = StakeRecord::from_bytes(&key, v);
    true
}
