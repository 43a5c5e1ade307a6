//! The node's implementation of the JSON-RPC [`ChainApi`].

use crate::node::Node;
use cpc_consensus::is_synthetic;
use cpc_mempool::AdmitError;
use cpc_primitives::{Address, ComputeResult, Receipt, Transaction, TxType, H256};
use cpc_rpc::{AccountView, ApiError, BlockView, ChainApi, ComputeResultView, ComputeResultsView, NodeInfo, PeerView, SyncStatus, TxView};
use serde_json::Value;
use std::sync::Arc;

pub struct Api(pub Arc<Node>);

fn internal<E: std::fmt::Display>(e: E) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl Api {
    fn block(&self, hash: &H256, full: bool) -> Result<Option<BlockView>, ApiError> {
        if full {
            return Ok(self.0.store.block(hash).map_err(internal)?.map(|b| BlockView::new(b, true)));
        }
        let Some(sb) = self.0.store.stored_block(hash).map_err(internal)? else { return Ok(None) };
        Ok(Some(BlockView {
            hash: *hash,
            header: sb.header,
            transactions: sb.tx_hashes.into_iter().map(cpc_rpc::TxOrHash::Hash).collect(),
            proposer_pub_key: sb.proposer_pub_key,
            signature: sb.signature,
        }))
    }
}

impl ChainApi for Api {
    fn chain_id(&self) -> String {
        self.0.params.chain_id.clone()
    }

    fn head_height(&self) -> u64 {
        self.0.head().height
    }

    fn block_by_height(&self, height: u64, full: bool) -> Result<Option<BlockView>, ApiError> {
        match self.0.store.hash_at(height).map_err(internal)? {
            Some(h) => self.block(&h, full),
            None => Ok(None),
        }
    }

    fn block_by_hash(&self, hash: &H256, full: bool) -> Result<Option<BlockView>, ApiError> {
        self.block(hash, full)
    }

    fn account(&self, addr: &Address) -> Result<AccountView, ApiError> {
        let acc = self.0.store.account(addr).map_err(internal)?;
        let pending_nonce = self.0.mempool.lock().pending_nonce(addr, acc.nonce);
        Ok(AccountView { address: *addr, balance: acc.balance, nonce: acc.nonce, pending_nonce })
    }

    fn send_transaction(&self, tx: Value) -> Result<H256, ApiError> {
        let tx: Transaction =
            serde_json::from_value(tx).map_err(|e| ApiError::InvalidParams(format!("malformed transaction: {e}")))?;
        self.0.submit(tx).map_err(|e| match e {
            AdmitError::Storage(s) => ApiError::Internal(s.to_string()),
            other => ApiError::Rejected(other.to_string()),
        })
    }

    fn transaction(&self, hash: &H256) -> Result<Option<TxView>, ApiError> {
        // Stored transactions without a receipt belong to blocks off the canonical chain.
        if let Some(r) = self.0.store.receipt(hash).map_err(internal)? {
            let tx = self.0.store.tx(hash).map_err(internal)?.ok_or_else(|| internal("transaction body missing"))?;
            return Ok(Some(TxView::included(tx, r.block_height, r.block_hash, r.index)));
        }
        Ok(self.0.mempool.lock().get(hash).map(|tx| TxView::pending((*tx).clone())))
    }

    fn receipt(&self, hash: &H256) -> Result<Option<Receipt>, ApiError> {
        self.0.store.receipt(hash).map_err(internal)
    }

    fn compute_results(&self, height: u64) -> Result<Option<ComputeResultsView>, ApiError> {
        let Some(hash) = self.0.store.hash_at(height).map_err(internal)? else { return Ok(None) };
        let block = self.0.store.block(&hash).map_err(internal)?.ok_or_else(|| internal("block missing"))?;
        let rewards = self.0.store.rewards(&hash).map_err(internal)?.unwrap_or_default();
        let mut payments = rewards.worker_payments.iter();
        let mut results = Vec::new();
        for tx in block.transactions.iter().filter(|t| t.tx_type == TxType::SubmitResult) {
            let r = ComputeResult::from_payload(&tx.payload).map_err(internal)?;
            let synthetic = is_synthetic(&r);
            // Payments are recorded in block order, one per verified synthetic result.
            let reward = if synthetic { payments.next().map(|(_, amount)| amount.clone()) } else { None };
            results.push(ComputeResultView { tx_hash: tx.hash(), result: r, synthetic, reward });
        }
        Ok(Some(ComputeResultsView {
            height,
            block_hash: hash,
            compute_root: block.header.compute_root.to_text(),
            results,
            miner_pool: rewards.miner_pool.to_string(),
            burned: rewards.burned.to_string(),
        }))
    }

    fn syncing(&self) -> Option<SyncStatus> {
        self.0.sync.lock().map(|p| SyncStatus {
            starting_block: p.starting_block,
            current_block: p.current_block,
            highest_block: p.highest_block,
        })
    }

    fn peer_count(&self) -> usize {
        self.0.net.get().map_or(0, |n| n.peer_count())
    }

    async fn peers(&self) -> Vec<PeerView> {
        let Some(net) = self.0.net.get() else { return vec![] };
        net.peers()
            .await
            .into_iter()
            .map(|p| PeerView {
                peer_id: p.peer_id.to_string(),
                addr: p.addr.map(|a| a.to_string()),
                score: p.score,
                inbound: p.inbound,
            })
            .collect()
    }

    fn node_info(&self) -> NodeInfo {
        let head = self.0.head();
        let net = self.0.net.get();
        NodeInfo {
            chain_id: self.0.params.chain_id.clone(),
            genesis_hash: self.0.genesis_hash,
            head_height: head.height,
            head_hash: head.hash,
            peer_id: net.map(|n| n.local_peer_id().to_string()),
            listen_addrs: net.map(|n| n.listen_addrs().iter().map(|a| a.to_string()).collect()).unwrap_or_default(),
            validator: self.0.signer.as_ref().map(|k| Address::from_public_key(&k.public_key()).to_string()),
        }
    }

    fn set_isolated(&self, isolated: bool) -> Result<(), ApiError> {
        let net = self.0.net.get().ok_or_else(|| ApiError::Rejected("the P2P network is off".into()))?;
        net.set_isolated(isolated);
        Ok(())
    }

    fn set_partition(&self, peers: Option<Vec<String>>) -> Result<(), ApiError> {
        let net = self.0.net.get().ok_or_else(|| ApiError::Rejected("the P2P network is off".into()))?;
        let peers = match peers {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| p.parse().map_err(|_| ApiError::InvalidParams(format!("not a peer id: {p:?}"))))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        net.set_partition(peers);
        Ok(())
    }
}
