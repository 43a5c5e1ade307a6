//! Writes the seed corpora of the fuzz targets, from the code and the vectors:
//! `cargo run --release -p cpc-fuzz --bin fuzz-seeds -- fuzz/corpus` (the committed corpus was
//! made so; libFuzzer adds what it finds to the same folders).

use cpc_consensus::evidence::{vote_signing_bytes, SignedChoice, VoteKind};
use cpc_consensus::{Certificate, Evidence};
use cpc_fuzz::{fuzz_tip, FUZZ_SYNTH};
use cpc_primitives::{
    compute_root_of_txs, tx_root, Block, ConsensusData, Header, SecretKey, Transaction, UnsignedTx, ValconsAddress, H256,
};
use libp2p::request_response::Codec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

struct Out(PathBuf);

impl Out {
    fn put(&self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(name), bytes).expect("seed file");
    }
}

fn vectors(path: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).expect("vector JSON")
}

fn main() {
    let out = Out(std::env::args().nth(1).map(PathBuf::from).expect("usage: fuzz-seeds <corpus dir>"));
    let g = cpc_genesis::Genesis::dev();
    let keys = cpc_genesis::dev_keys();
    let chain = g.chain_id.clone();
    let protocol = vectors("primitives/tests/data/protocol-v2.json");
    let notes = vectors("docs/vectors/notes-v2.json");

    // Transactions: the vectors' (all types), a transfer and a result signed here.
    let mut txs: Vec<Transaction> = Vec::new();
    for (i, t) in protocol["transactions"].as_array().unwrap().iter().enumerate() {
        out.put("tx_json", &format!("protocol-{i}"), serde_json::to_vec(&t["tx"]).unwrap());
    }
    for (i, t) in notes["staking_transactions"].as_array().unwrap().iter().enumerate() {
        out.put("tx_json", &format!("staking-{i}"), serde_json::to_vec(&t["tx"]).unwrap());
    }
    let from = cpc_primitives::Address::from_public_key(&keys[1].public_key());
    let to = cpc_primitives::Address::from_public_key(&keys[2].public_key());
    let transfer = UnsignedTx::transfer(&chain, from, to, 1_000, 0, g.min_gas_price).sign(&keys[1]);
    out.put("tx_json", "transfer", transfer.canonical_json());
    txs.push(transfer);
    for nonce in 0..3u64 {
        let r = cpc_poc::solve(&fuzz_tip(), &from.to_string(), nonce, &FUZZ_SYNTH);
        out.put("compute_result", &format!("solved-{nonce}"), serde_json::to_vec(&r.to_payload()).unwrap());
        let tx = UnsignedTx::submit_result(&chain, from, &r, 1 + nonce, g.min_gas_price).sign(&keys[1]);
        out.put("tx_json", &format!("submit-result-{nonce}"), tx.canonical_json());
        txs.push(tx);
    }
    for (i, s) in protocol["synthetic"].as_array().unwrap().iter().enumerate() {
        out.put("compute_result", &format!("protocol-{i}"), serde_json::to_vec(&s["result"]).unwrap());
    }

    // Blocks: the dev genesis block and a block of those transactions on top of it.
    let (genesis_block, _) = g.build().expect("dev genesis");
    out.put("block_json", "dev-genesis", genesis_block.to_json_bytes());
    let proposer = &keys[0];
    let header = Header {
        height: 1,
        prev_hash: genesis_block.hash(),
        timestamp: g.genesis_time + 1_000,
        chain_id: chain.clone(),
        proposer_address: ValconsAddress::from_public_key(&proposer.public_key()),
        round: 0,
        tx_root: tx_root(&txs.iter().map(Transaction::hash).collect::<Vec<_>>()),
        state_root: H256([7; 32]),
        compute_root: compute_root_of_txs(&txs).expect("results decode"),
        gas_used: 0,
        gas_limit: g.block_gas_limit,
        share_target: genesis_block.header.share_target,
    };
    let mut block = Block::seal(header, txs, proposer);
    let cert0 = Certificate::sign_alone(proposer, 0, 0, genesis_block.hash());
    block.consensus = ConsensusData { last_commit: Some(cert0.encode()), evidence: vec![] };
    out.put("block_json", "height-1", block.to_json_bytes());
    let cert1 = Certificate::sign_alone(proposer, 1, 0, block.hash());
    let certified = Block::encode_certified(&block.to_json_bytes(), &cert1.encode());
    out.put("gossip_block", "height-1", &certified);
    out.put(
        "gossip_block",
        "dev-genesis",
        Block::encode_certified(&genesis_block.to_json_bytes(), &cert0.encode()),
    );

    // Evidence: a double precommit of the dev validator.
    let v = ValconsAddress::from_public_key(&proposer.public_key());
    let (a, b) = (H256([1; 32]), H256([2; 32]));
    let sign = |k: &SecretKey, h: &H256| k.sign(&vote_signing_bytes(VoteKind::Precommit, 5, 0, Some(h), &v));
    let ev = Evidence::DoubleVote {
        validator: v,
        height: 5,
        round: 0,
        kind: VoteKind::Precommit,
        first: SignedChoice { block: Some(a), signature: sign(proposer, &a) },
        second: SignedChoice { block: Some(b), signature: sign(proposer, &b) },
    }
    .canonical();
    out.put("gossip_evidence", "double-precommit", ev.to_json_bytes());

    // Sync messages, through the real codec.
    use cpc_network::{Status, SyncRequest, SyncResponse};
    let proto = libp2p::StreamProtocol::new("/cpc/cpc-devnet-1/sync/1");
    let mut codec = cpc_network::codec::SyncCodec::default();
    let requests = [
        ("status", SyncRequest::Status),
        ("blocks", SyncRequest::Blocks { from: 1, count: 16 }),
        ("by-hash", SyncRequest::BlockByHash(block.hash())),
    ];
    for (name, req) in requests {
        let mut buf = Vec::new();
        libp2p::futures::executor::block_on(codec.write_request(&proto, &mut buf, req)).unwrap();
        out.put("sync_request", name, buf);
    }
    let status = Status {
        chain_id: chain.clone(),
        genesis_hash: genesis_block.hash(),
        head_height: 1,
        head_hash: block.hash(),
    };
    let responses = [
        ("status", SyncResponse::Status(status)),
        ("blocks", SyncResponse::Blocks(vec![certified.clone(), certified.clone()])),
        ("block", SyncResponse::Block(Some(certified.clone()))),
        ("none", SyncResponse::Block(None)),
        ("error", SyncResponse::Error("busy".into())),
    ];
    for (name, resp) in responses {
        let mut buf = Vec::new();
        libp2p::futures::executor::block_on(codec.write_response(&proto, &mut buf, resp)).unwrap();
        out.put("sync_response", name, buf);
    }

    // Consensus messages (the first byte picks the type: cpc_fuzz::BFT_KINDS).
    bft_seeds(&out, proposer);

    // JSON-RPC bodies, one per parameter shape.
    let addr = from.to_string();
    let hash = block.hash().to_string();
    let tx_value: Value = serde_json::from_slice(&transfer_json(&block)).unwrap();
    let calls = [
        ("block-by-number", json!({"jsonrpc":"2.0","id":1,"method":"cpc_getBlockByNumber","params":["latest", true]})),
        ("block-by-number-n", json!({"jsonrpc":"2.0","id":1,"method":"cpc_getBlockByNumber","params":["0x10"]})),
        ("block-by-hash", json!({"jsonrpc":"2.0","id":2,"method":"cpc_getBlockByHash","params":[hash, false]})),
        ("balance", json!({"jsonrpc":"2.0","id":3,"method":"cpc_getBalance","params":[addr]})),
        ("send", json!({"jsonrpc":"2.0","id":4,"method":"cpc_sendTransaction","params":[tx_value]})),
        ("subscribe", json!({"jsonrpc":"2.0","id":5,"method":"cpc_subscribe","params":["logs", {"address": addr}]})),
        ("work", json!({"jsonrpc":"2.0","id":6,"method":"poc_getWork","params":[addr]})),
        ("evidence", json!({"jsonrpc":"2.0","id":7,"method":"cpc_getEvidence","params":[3]})),
        ("partition", json!({"jsonrpc":"2.0","id":8,"method":"admin_setPartition","params":[["12D3KooW"]]})),
        ("named", json!({"jsonrpc":"2.0","id":9,"method":"cpc_getAccount","params":{"address": addr}})),
    ];
    for (name, body) in calls {
        out.put("rpc_params", name, serde_json::to_vec(&body).unwrap());
    }

    // A key file, written by the keystore itself (insecure test KDF: seeds only).
    let dir = tempfile_dir();
    // SAFETY of the environment: this single-threaded tool sets the variable before any thread.
    unsafe { std::env::set_var(cpc_wallet::keystore::INSECURE_TEST_KDF_ENV, "1") };
    let path = cpc_wallet::keystore::create(&dir, &keys[3], "fuzz").expect("key file");
    out.put("keystore", "insecure-kdf", std::fs::read(&path).unwrap());
    let _ = std::fs::remove_dir_all(&dir);

    // Genesis files: the dev one, and one with four validators and staking parameters.
    out.put("genesis", "dev", g.to_pretty_json());
    let mut four = cpc_genesis::Genesis::dev();
    four.validators = (0..4)
        .map(|i| cpc_genesis::GenesisValidator::new(format!("v{i}"), keys[i].public_key()))
        .collect();
    four.staking.max_validators = 4;
    out.put("genesis", "four-validators", four.to_pretty_json());

    // Settings files.
    out.put("config", "flat", "dev = true\nmine = false\ndatadir = \"data\"\nbootnodes = [\"/ip4/1.2.3.4/tcp/1\", \"/dns/x/tcp/2\"]\n");
    out.put("config", "tables", "[http]\nport = 8545\naddr = \"0.0.0.0\"\n[p2p]\nport = 30333\n[rpc]\napis = [\"cpc\", \"net\"]\n");

    // Staking records as stored: split byte, key, value.
    for (i, r) in notes["dev_genesis"]["staking_records"].as_array().unwrap().iter().enumerate() {
        let key = hex::decode(r["key"].as_str().unwrap()).unwrap();
        let value = r["value"].as_str().map(|s| s.as_bytes().to_vec()).unwrap_or_else(|| serde_json::to_vec(&r["value"]).unwrap());
        let mut bytes = vec![key.len() as u8];
        bytes.extend_from_slice(&key);
        bytes.extend_from_slice(&value);
        out.put("stake_record", &format!("dev-{i}"), bytes);
    }
    println!("seeds written under {}", out.0.display());
}

fn transfer_json(block: &Block) -> Vec<u8> {
    block.transactions[0].canonical_json()
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("cpc-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn bft_seeds(out: &Out, key: &SecretKey) {
    use cpc_bft::codec::BorshCodec;
    use cpc_bft::context::{Height, ProposalPart, ValAddr};
    use malachitebft_app::streaming::{StreamContent, StreamId, StreamMessage};
    use malachitebft_codec::Codec;
    let proposer = ValAddr::from_public_key(&key.public_key());
    let parts = [
        ("init", ProposalPart::Init { height: Height(1), round: 0, pol_round: -1, proposer }),
        ("data", ProposalPart::Data(b"{\"header\":{}}".to_vec())),
        ("fin", ProposalPart::Fin),
    ];
    for (i, (name, part)) in parts.into_iter().enumerate() {
        let mut b = vec![0u8];
        b.extend_from_slice(&Codec::<ProposalPart>::encode(&BorshCodec, &part).unwrap());
        out.put("bft_message", &format!("part-{name}"), b);
        let msg = StreamMessage::new(StreamId::new(vec![1, 2, 3].into()), i as u64, StreamContent::Data(part));
        let mut b = vec![3u8];
        b.extend_from_slice(&Codec::<StreamMessage<ProposalPart>>::encode(&BorshCodec, &msg).unwrap());
        out.put("bft_message", &format!("stream-{name}"), b);
    }
}
