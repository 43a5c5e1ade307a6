//! Sync that one peer cannot stall (issue 12): a full node follows a BFT validator by
//! certificates while three scripted peers claim a head a million blocks ahead and then lie —
//! one serves nothing, one sits on every request, one serves a block whose certificate a
//! non-validator signed. The full node keeps following the real chain, the two provable liars
//! are banned (disconnected), the silent one is penalised and benched, and the validator's
//! production never depends on any of them.

use cpc_network::{Multiaddr, NetEvent, NetworkHandle, PeerId, Status, SyncRequest, SyncResponse};
use cpc_primitives::*;
use cpcd_tests::*;
use jsonrpsee::http_client::HttpClient;
use std::path::Path;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);
const CLAIMED: u64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
enum Lie {
    /// Answers `Blocks` with an empty list.
    Empty,
    /// Never answers `Blocks` (keeps the reply open).
    Silent,
    /// Answers with a block at the asked height whose certificate a non-validator signed.
    ForgedCertificate,
}

struct Liar {
    net: NetworkHandle,
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// A block at `height` that decodes, signed and "certified" by `sk`, a key outside the set.
fn forged_block(height: u64, sk: &SecretKey) -> Vec<u8> {
    let header = Header {
        height,
        prev_hash: H256([height as u8; 32]),
        timestamp: now_millis(),
        chain_id: TESTNET_CHAIN_ID.into(),
        proposer_address: ValconsAddress::from_public_key(&sk.public_key()),
        round: 0,
        tx_root: tx_root(&[]),
        state_root: H256::ZERO,
        compute_root: ComputeRoot(None),
        gas_used: 0,
        gas_limit: 1,
        share_target: ShareTarget::MAX,
    };
    let b = Block::seal(header, vec![], sk);
    let cert = cpc_consensus::Certificate::sign_alone(sk, height, 0, b.hash());
    Block::encode_certified(&b.to_json_bytes(), &cert.encode())
}

impl Liar {
    async fn start(lie: Lie, key_dir: &Path, node_addr: &Multiaddr, genesis_hash: H256) -> Liar {
        let (net, mut events) = scripted_network(key_dir, node_addr, TESTNET_CHAIN_ID, genesis_hash).await;
        let outsider = SecretKey::from_bytes(&[0x66; 32]);
        let pump = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(ev) = events.recv().await {
                let NetEvent::Request { req, reply, .. } = ev else { continue };
                match req {
                    SyncRequest::Status => {
                        let _ = reply.send(SyncResponse::Status(Status {
                            chain_id: TESTNET_CHAIN_ID.into(),
                            genesis_hash,
                            head_height: CLAIMED,
                            head_hash: H256([0xee; 32]),
                        }));
                    }
                    SyncRequest::Blocks { from, .. } => match lie {
                        Lie::Empty => {
                            let _ = reply.send(SyncResponse::Blocks(vec![]));
                        }
                        Lie::Silent => held.push(reply),
                        Lie::ForgedCertificate => {
                            let _ = reply.send(SyncResponse::Blocks(vec![forged_block(from, &outsider)]));
                        }
                    },
                    _ => {}
                }
            }
        });
        Liar { net, pump }
    }
}

/// The node's view of `peer` (`net_peers`): Some(score) while connected.
async fn score_at(c: &HttpClient, peer: &PeerId) -> Option<i64> {
    let peers = call(c, "net_peers", vec![]).await.expect("net_peers answers");
    let id = peer.to_string();
    peers.as_array().unwrap().iter().find(|p| p["peer_id"] == id.as_str()).map(|p| p["score"].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn liars_about_the_head_are_dropped_and_the_full_node_keeps_following() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 1, 2, "200ms").unwrap();
    let validator = NodeProc::start_datadir(&dirs[0], &[]).unwrap();
    let cv = validator.client();
    wait_height(&cv, 10, LONG).await.unwrap();

    let full = NodeProc::start_datadir(&dirs[1], &["--log.filter", "info,cpc_network=debug"]).unwrap();
    let cf = full.client();
    let info = call(&cf, "admin_nodeInfo", vec![]).await.unwrap();
    let genesis_hash: H256 = H256::from_hex(info["genesis_hash"].as_str().unwrap()).unwrap();
    let node_addr = loopback_p2p_addr(&info);
    let keys: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let liars = [
        Liar::start(Lie::Empty, keys[0].path(), &node_addr, genesis_hash).await,
        Liar::start(Lie::Silent, keys[1].path(), &node_addr, genesis_hash).await,
        Liar::start(Lie::ForgedCertificate, keys[2].path(), &node_addr, genesis_hash).await,
    ];
    let ids: Vec<PeerId> = liars.iter().map(|l| l.net.local_peer_id()).collect();

    // The full node follows the validator all the same: well past where the validator was
    // when the liars arrived, and at its head.
    let start = block_number(&cv).await.unwrap();
    wait_height(&cf, start + 30, LONG).await.unwrap();
    let deadline = Instant::now() + LONG;
    loop {
        let (v, f) = (block_number(&cv).await.unwrap(), block_number(&cf).await.unwrap());
        if f + 2 >= v {
            break;
        }
        assert!(Instant::now() < deadline, "the full node fell behind: {f} vs the validator's {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let h = block_number(&cf).await.unwrap();
    assert_eq!(hash_at(&cf, h).await.unwrap(), hash_at(&cv, h).await.unwrap(), "the full node holds the validator's chain");
    let b = call(&cf, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
    assert_eq!(b["certificate"]["block_hash"], b["hash"], "imported with its certificate: {b}");

    // The provable liars (nothing served below a claimed head; a certificate that does not
    // verify) are banned: disconnected.
    let deadline = Instant::now() + LONG;
    for (i, what) in [(0, "the empty liar"), (2, "the forger")] {
        while score_at(&cf, &ids[i]).await.is_some() {
            assert!(Instant::now() < deadline, "{what} is still connected\n{}", full.logs());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The silent one was asked, waited for once, penalised and benched.
    let id = ids[1].to_string();
    let deadline = Instant::now() + LONG;
    while !full.logs().lines().any(|l| l.contains("dropping a peer") && l.contains(&id) && l.contains("no answer")) {
        assert!(Instant::now() < deadline, "the silent liar was never dropped\n{}", full.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Penalised (a minor penalty: its score recovers, since silence alone proves no lie).
    assert!(
        full.logs().lines().any(|l| l.contains("peer penalised") && l.contains(&id)),
        "the silent liar was not penalised\n{}",
        full.logs()
    );
    for what in ["served no block", "is not in the validator set"] {
        assert!(full.logs().lines().any(|l| l.contains("dropping a peer") && l.contains(what)), "no drop for {what:?} in\n{}", full.logs());
    }
    // Production never depended on them.
    let v = block_number(&cv).await.unwrap();
    wait_height(&cv, v + 5, LONG).await.unwrap();
    drop(liars);
}
