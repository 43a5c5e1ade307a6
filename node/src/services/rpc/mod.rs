//! The node's implementation of the JSON-RPC [`ChainApi`].

use crate::node::Node;
use cpc_consensus::is_synthetic;
use cpc_mempool::AdmitError;
use cpc_primitives::{Address, ComputeResult, Receipt, Transaction, TxType, H256};
use cpc_rpc::{
    AccountTxView, AccountTxsView, AccountView, ActiveSetView, ApiError, BlockView, ChainApi, ChainEvent, ComputeResultsView, DelegationView,
    MinerStatus, NetworkStatsView, NodeInfo, PeerView, SubmitView, SyncStatus, TaskResultView, TxPlace, TxView, TxpoolStatus, UnbondingView,
    ValidatorView, WorkView, WorkerView,
};
use cpc_state::stake_query;

/// Blocks `poc_networkStats` averages over.
pub const STATS_BLOCKS: u64 = 100;
use serde_json::Value;
use std::sync::Arc;

mod views;

pub use views::{block_event, compute_results_view, set_view, validator_view};

pub struct Api(pub Arc<Node>);

fn internal<E: std::fmt::Display>(e: E) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl Api {
    fn block(&self, hash: &H256, full: bool) -> Result<Option<BlockView>, ApiError> {
        let view = if full {
            self.0.engine.store().block(hash).map_err(internal)?.map(|b| BlockView::new(b, true))
        } else {
            self.0.engine.store().stored_block(hash).map_err(internal)?.map(|sb| BlockView {
                hash: *hash,
                header: sb.header,
                transactions: sb.tx_hashes.into_iter().map(cpc_rpc::TxOrHash::Hash).collect(),
                proposer_pub_key: sb.proposer_pub_key,
                signature: sb.signature,
                certificate: None,
            })
        };
        let Some(mut view) = view else { return Ok(None) };
        view.certificate = self.certificate(view.header.height, hash)?;
        Ok(Some(view))
    }

    /// The commit certificate of block `hash` at `height` (none for genesis, or for a block
    /// that is not the committed one there: the certificate names the block it certifies).
    fn certificate(&self, height: u64, hash: &H256) -> Result<Option<cpc_rpc::CertificateView>, ApiError> {
        let Some(bytes) = self.0.engine.certificate(height).map_err(internal)? else { return Ok(None) };
        let c = cpc_bft::certificate::decode_certificate(&bytes)
            .map_err(|e| internal(format!("stored certificate of height {height}: {e}")))?;
        if c.value_id.0 != hash.0 {
            return Ok(None);
        }
        Ok(Some(cpc_rpc::CertificateView {
            height,
            round: c.round.as_i64(),
            block_hash: H256(c.value_id.0),
            signatures: c
                .commit_signatures
                .iter()
                .map(|s| cpc_rpc::CommitSignatureView { validator: s.address.valcons(), signature: cpc_primitives::Signature(s.signature.0) })
                .collect(),
        }))
    }
}

impl ChainApi for Api {
    fn chain_id(&self) -> String {
        self.0.engine.params().chain_id.clone()
    }

    fn head_height(&self) -> u64 {
        self.0.head().height
    }

    fn block_by_height(&self, height: u64, full: bool) -> Result<Option<BlockView>, ApiError> {
        match self.0.engine.store().hash_at(height).map_err(internal)? {
            Some(h) => self.block(&h, full),
            None => Ok(None),
        }
    }

    fn block_by_hash(&self, hash: &H256, full: bool) -> Result<Option<BlockView>, ApiError> {
        self.block(hash, full)
    }

    fn account(&self, addr: &Address) -> Result<AccountView, ApiError> {
        let acc = self.0.engine.store().account(addr).map_err(internal)?;
        let pending_nonce = self.0.engine.mempool().pending_nonce(addr, acc.nonce);
        Ok(AccountView { address: *addr, balance: acc.balance, nonce: acc.nonce, pending_nonce })
    }

    fn send_transaction(&self, tx: Value) -> Result<H256, ApiError> {
        let tx: Transaction =
            serde_json::from_value(tx).map_err(|e| ApiError::InvalidParams(format!("malformed transaction: {e}")))?;
        self.0.submit(tx).map_err(|e| match e {
            AdmitError::Storage(s) => ApiError::Internal(s.to_string()),
            other => ApiError::TxRejected { reason: other.reason(), message: other.to_string() },
        })
    }

    fn transaction(&self, hash: &H256) -> Result<Option<TxView>, ApiError> {
        // Stored transactions without a receipt belong to blocks off the canonical chain.
        if let Some(r) = self.0.engine.store().receipt(hash).map_err(internal)? {
            let tx = self.0.engine.store().tx(hash).map_err(internal)?.ok_or_else(|| internal("transaction body missing"))?;
            return Ok(Some(TxView::included(tx, r.block_height, r.block_hash, r.index)));
        }
        Ok(self.0.engine.mempool().get(hash).map(|tx| TxView::pending((*tx).clone())))
    }

    fn receipt(&self, hash: &H256) -> Result<Option<Receipt>, ApiError> {
        self.0.engine.store().receipt(hash).map_err(internal)
    }

    fn compute_results(&self, height: u64) -> Result<Option<ComputeResultsView>, ApiError> {
        let Some(hash) = self.0.engine.store().hash_at(height).map_err(internal)? else { return Ok(None) };
        let block = self.0.engine.store().block(&hash).map_err(internal)?.ok_or_else(|| internal("block missing"))?;
        let rewards = self.0.engine.store().rewards(&hash).map_err(internal)?.unwrap_or_default();
        let (tips, _, _) = self.0.engine.window_for(height).map_err(internal)?;
        Ok(Some(compute_results_view(&block, hash, &rewards, &tips)?))
    }

    fn evidence(&self, from_height: u64, limit: usize) -> Result<Vec<serde_json::Value>, ApiError> {
        let list = self.0.engine.evidence(from_height, limit).map_err(internal)?;
        Ok(list
            .into_iter()
            .map(|e| {
                let id = e.id();
                let mut v = serde_json::to_value(e.canonical()).expect("evidence serializes");
                v["id"] = serde_json::json!(id);
                v
            })
            .collect())
    }

    async fn consensus_state(&self) -> Result<serde_json::Value, ApiError> {
        let head = self.0.head().height;
        if let Some(probe) = self.0.consensus.get() {
            let mut v = probe.state().await.ok_or_else(|| internal("consensus did not answer"))?;
            v["mode"] = "validator".into();
            v["committed_height"] = head.into();
            return Ok(v);
        }
        // No consensus here: a dev chain's lone validator decides alone; a full node follows
        // by certificates.
        let mode = if self.0.engine.signer().is_some() { "single_validator" } else { "full_node" };
        Ok(serde_json::json!({
            "mode": mode,
            "height": head + 1,
            "committed_height": head,
            "validators": self.0.engine.next_validators().len(),
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
            chain_id: self.0.engine.params().chain_id.clone(),
            genesis_hash: self.0.engine.genesis_hash(),
            head_height: head.height,
            head_hash: head.hash,
            peer_id: net.map(|n| n.local_peer_id().to_string()),
            listen_addrs: net.map(|n| n.listen_addrs().iter().map(|a| a.to_string()).collect()).unwrap_or_default(),
            validator: self.0.engine.signer().map(|k| Address::from_public_key(&k.public_key()).to_string()),
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

    fn estimate_gas(&self, tx: Value) -> Result<u64, ApiError> {
        let t = tx
            .get("tx_type")
            .cloned()
            .ok_or_else(|| ApiError::InvalidParams("estimateGas: expected an object with \"tx_type\"".into()))?;
        let tx_type: TxType =
            serde_json::from_value(t).map_err(|e| ApiError::InvalidParams(format!("estimateGas: tx_type: {e}")))?;
        // A complete transaction is checked as admission would, short of state.
        if tx.get("signature").is_some() {
            let full: cpc_primitives::Transaction =
                serde_json::from_value(tx).map_err(|e| ApiError::InvalidParams(format!("malformed transaction: {e}")))?;
            cpc_consensus::check_tx_in_isolation(&full, self.0.engine.params()).map_err(|e| ApiError::Rejected(e.to_string()))?;
        }
        Ok(tx_type.intrinsic_gas())
    }

    fn gas_price(&self) -> u64 {
        // The chain minimum while blocks have room; when more transfers wait than one block
        // holds, one more than the price of the last one that fits.
        let min = self.0.engine.params().min_gas_price;
        let capacity = (self.0.engine.params().block_gas_limit / TxType::Transfer.intrinsic_gas()) as usize;
        let best = self.0.engine.mempool().best(capacity + 1);
        if best.len() <= capacity {
            return min;
        }
        best[capacity - 1].tx.gas_price.saturating_add(1).max(min)
    }

    fn txpool_status(&self) -> TxpoolStatus {
        let s = self.0.engine.mempool().status();
        TxpoolStatus { pending: s.pending, queued: s.queued }
    }

    fn txpool_content(&self, from: Option<&Address>) -> Value {
        let (content, total) = match from {
            Some(a) => {
                let txs = self.0.engine.mempool().sender_txs(a);
                let n = txs.len();
                (vec![(*a, txs)], n)
            }
            None => self.0.engine.mempool().content_limited(cpc_rpc::TXPOOL_CONTENT_MAX),
        };
        let returned: usize = content.iter().map(|(_, txs)| txs.len()).sum();
        let mut pending = serde_json::Map::new();
        let mut queued = serde_json::Map::new();
        for (addr, txs) in content {
            let mut next = self.0.engine.store().account(&addr).map(|a| a.nonce).unwrap_or(0);
            let (mut p, mut q) = (serde_json::Map::new(), serde_json::Map::new());
            for (nonce, tx) in txs {
                let v = serde_json::to_value(TxView::pending((*tx).clone())).expect("serializes");
                if nonce == next {
                    p.insert(nonce.to_string(), v);
                    next += 1;
                } else {
                    q.insert(nonce.to_string(), v);
                }
            }
            if !p.is_empty() {
                pending.insert(addr.to_string(), Value::Object(p));
            }
            if !q.is_empty() {
                queued.insert(addr.to_string(), Value::Object(q));
            }
        }
        let mut out = serde_json::json!({"pending": pending, "queued": queued});
        if returned < total {
            out["truncated"] = serde_json::json!({"returned": returned, "total": total});
        }
        out
    }

    fn get_work(&self, worker: &Address) -> Result<WorkView, ApiError> {
        let head = self.0.head();
        let w = worker.to_string();
        // This tip's tasks already submitted by the worker: results for it can only be pending
        // (the earliest block that may include them is the next one).
        // O(the worker's own transactions), not O(pool).
        let mut taken: Vec<u64> = self
            .0
            .engine
            .mempool()
            .sender_txs(worker)
            .into_iter()
            .filter(|(_, tx)| tx.tx_type == TxType::SubmitResult)
            .filter_map(|(_, tx)| ComputeResult::from_payload(&tx.payload).ok())
            .filter_map(|r| r.nonce.filter(|n| cpc_poc::task_id(&head.hash, &w, *n) == r.task_id))
            .collect();
        taken.sort_unstable();
        let p = &self.0.engine.params().poc;
        Ok(WorkView {
            tip: head.hash,
            height: head.height,
            n: p.matrix_size,
            k: p.challenges,
            window: p.window,
            max_synthetic_results_per_block: p.max_synthetic_results_per_block,
            share_target: head.share_target,
            difficulty: head.share_target.difficulty(),
            taken_nonces: taken,
        })
    }

    fn network_stats(&self) -> Result<NetworkStatsView, ApiError> {
        let head = self.0.head();
        let n = self.0.engine.params().poc.matrix_size;
        // The last STATS_BLOCKS blocks from the canonical index (no block reads). Time runs from
        // the first of them (genesis' timestamp says nothing about block times); the shares of the
        // blocks after it were found in that time, each weighted by its parent tip's difficulty.
        let first = head.height.saturating_sub(STATS_BLOCKS - 1).max(1);
        let mut shares = 0u64;
        let mut tasks = 0f64;
        let mut prev: Option<cpc_state::CanonEntry> = None;
        let (mut start_ts, mut last_ts) = (0, 0);
        for h in first..=head.height {
            let e = self.0.engine.store().canon_at(h).map_err(internal)?.ok_or_else(|| internal("canonical index gap"))?;
            shares += e.shares as u64;
            match prev {
                None => start_ts = e.timestamp,
                Some(p) => tasks += e.shares as f64 * p.share_target.difficulty(),
            }
            last_ts = e.timestamp;
            prev = Some(e);
        }
        let blocks = if head.height == 0 { 0 } else { head.height + 1 - first };
        let intervals = blocks.saturating_sub(1);
        let elapsed_s = last_ts.saturating_sub(start_ts) as f64 / 1000.0;
        let tasks_per_second = if elapsed_s > 0.0 { tasks / elapsed_s } else { 0.0 };
        Ok(NetworkStatsView {
            height: head.height,
            share_target: head.share_target,
            difficulty: head.share_target.difficulty(),
            blocks,
            mean_shares_per_block: if blocks == 0 { 0.0 } else { shares as f64 / blocks as f64 },
            shares_per_block_target: self.0.engine.params().poc.shares_per_block,
            mean_block_time_s: if intervals == 0 { 0.0 } else { elapsed_s / intervals as f64 },
            tasks_per_second,
            int8_tops: tasks_per_second * 2.0 * (n as f64).powi(3) / 1e12,
            n,
        })
    }

    fn worker(&self, worker: &Address) -> Result<WorkerView, ApiError> {
        let st = self.0.engine.store().worker_stats(worker).map_err(internal)?;
        Ok(WorkerView {
            address: *worker,
            shares: st.map_or(0, |s| s.shares),
            rewards: st.map_or(0, |s| s.rewards),
            last_share_height: st.map(|s| s.last_share_height),
        })
    }

    fn account_transactions(&self, addr: &Address, before: Option<TxPlace>, limit: usize) -> Result<AccountTxsView, ApiError> {
        let store = self.0.engine.store();
        // One more than asked for tells whether there is a next page.
        let mut places = store.account_txs(addr, before.map(|p| (p.height, p.index)), limit + 1).map_err(internal)?;
        let next = (places.len() > limit).then(|| {
            places.truncate(limit);
            let (height, index, _) = places[limit - 1];
            TxPlace { height, index }
        });
        let mut transactions = Vec::with_capacity(places.len());
        for (height, index, hash) in places {
            let missing = |what: &str| internal(format!("the account history names {hash} at {height}/{index}, whose {what} is missing"));
            let r = store.receipt(&hash).map_err(internal)?.ok_or_else(|| missing("receipt"))?;
            let tx = store.tx(&hash).map_err(internal)?.ok_or_else(|| missing("body"))?;
            transactions.push(AccountTxView {
                tx_hash: hash,
                block_height: r.block_height,
                block_hash: r.block_hash,
                index: r.index,
                tx_type: tx.tx_type,
                from_address: tx.from_address,
                to_address: tx.to_address,
                amount: tx.amount,
                status: r.status,
            });
        }
        Ok(AccountTxsView { transactions, next })
    }

    fn result_by_task(&self, task_id: &str) -> Result<Option<TaskResultView>, ApiError> {
        let store = self.0.engine.store();
        let Some(hash) = store.task_tx(task_id).map_err(internal)? else { return Ok(None) };
        let missing = |what: &str| internal(format!("the task index names {hash} for {task_id:?}, whose {what} is missing"));
        let r = store.receipt(&hash).map_err(internal)?.ok_or_else(|| missing("receipt"))?;
        let tx = store.tx(&hash).map_err(internal)?.ok_or_else(|| missing("body"))?;
        let result = ComputeResult::from_payload(&tx.payload).map_err(|e| internal(format!("{hash}: {e}")))?;
        Ok(Some(TaskResultView {
            task_id: task_id.to_string(),
            tx_hash: hash,
            block_height: r.block_height,
            block_hash: r.block_hash,
            index: r.index,
            worker_address: result.worker_address,
        }))
    }

    fn submit_result(&self, tx: Value) -> Result<SubmitView, ApiError> {
        let t: cpc_primitives::Transaction =
            serde_json::from_value(tx).map_err(|e| ApiError::InvalidParams(format!("malformed transaction: {e}")))?;
        if t.tx_type != TxType::SubmitResult {
            return Err(ApiError::InvalidParams(format!("poc_submitResult: expected a SUBMIT_RESULT, found {}", t.tx_type)));
        }
        let r = ComputeResult::from_payload(&t.payload).map_err(|e| ApiError::Rejected(format!("SUBMIT_RESULT rule 1: {e}")))?;
        let tx_hash = self.0.submit(t).map_err(|e| match e {
            AdmitError::Storage(s) => ApiError::Internal(s.to_string()),
            other => ApiError::TxRejected { reason: other.reason(), message: other.to_string() },
        })?;
        let synthetic = is_synthetic(&r);
        let (mut tip, mut tip_height) = (None, None);
        if synthetic {
            let head = self.0.head();
            if let Ok((tips, lo, _)) = self.0.engine.window_for(head.height + 1)
                && let Some(n) = r.nonce {
                    let hashes: Vec<H256> = tips.iter().map(|t| t.0).collect();
                    tip = cpc_poc::find_tip(&r.task_id, &r.worker_address, n, &hashes);
                    tip_height = tip.and_then(|t| hashes.iter().position(|h| *h == t)).map(|i| lo + i as u64);
                }
        }
        Ok(SubmitView { tx_hash, task_id: r.task_id, synthetic, tip, tip_height })
    }

    fn miner_status(&self) -> MinerStatus {
        match self.0.miner.get() {
            Some(m) => m.status(),
            None => MinerStatus {
                mining: false,
                worker: None,
                devices: vec![],
                share_target: None,
                difficulty: None,
                shares_found: 0,
                results_accepted: 0,
                results_rejected: Default::default(),
                cancelled: 0,
            },
        }
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<ChainEvent> {
        self.0.events.subscribe()
    }

    fn validators(&self) -> Result<Vec<ValidatorView>, ApiError> {
        let next = self.0.engine.next_validators();
        let list = stake_query::validators(self.0.engine.store()).map_err(internal)?;
        Ok(list.iter().map(|v| validator_view(v, next.keys())).collect())
    }

    fn validator(&self, operator: &Address) -> Result<Option<ValidatorView>, ApiError> {
        let next = self.0.engine.next_validators();
        let v = stake_query::validator(self.0.engine.store(), operator).map_err(internal)?;
        Ok(v.map(|v| validator_view(&v, next.keys())))
    }

    fn delegations(&self, delegator: &Address) -> Result<Vec<DelegationView>, ApiError> {
        let list = stake_query::delegations(self.0.engine.store(), delegator).map_err(internal)?;
        Ok(list
            .into_iter()
            .map(|d| DelegationView {
                validator: d.validator,
                shares: d.shares,
                tokens: d.tokens,
                pending_rewards: d.pending_rewards,
                unbonding_entries: d.unbonding_entries,
            })
            .collect())
    }

    fn unbonding(&self, delegator: Option<&Address>) -> Result<Vec<UnbondingView>, ApiError> {
        let head = self.0.head().height;
        let list = stake_query::unbonding(self.0.engine.store(), head, delegator).map_err(internal)?;
        Ok(list
            .into_iter()
            .map(|u| UnbondingView {
                delegator: u.delegator,
                validator: u.validator,
                creation_height: u.entry.creation_height,
                completion_height: u.completion_height,
                initial: u.entry.initial,
                balance: u.entry.balance,
            })
            .collect())
    }

    fn active_set(&self, height: Option<u64>) -> Result<Option<ActiveSetView>, ApiError> {
        use cpc_state::StateView;
        let height = height.unwrap_or_else(|| self.0.head().height + 1);
        let set = self.0.engine.store().active_set_at(height).map_err(internal)?;
        Ok(set.map(|s| set_view(height, &s)))
    }

    fn staking_params(&self) -> Value {
        serde_json::to_value(&self.0.engine.params().staking).expect("the parameters serialize")
    }

    fn supply(&self) -> Result<Value, ApiError> {
        use cpc_state::StateView;
        Ok(serde_json::to_value(self.0.engine.store().supply()).expect("the supply serializes"))
    }

    fn put_blob(&self, kind: cpc_state::BlobKind, rows: u32, cols: u32, data: Vec<u8>) -> Result<Value, ApiError> {
        let blob = cpc_state::Blob::new(kind, rows, cols, data).map_err(ApiError::InvalidParams)?;
        let root = self.0.engine.store().put_blob(&blob).map_err(|e| match e {
            e @ cpc_state::StoreError::BlobsFull { .. } => ApiError::Rejected(e.to_string()),
            e => internal(e),
        })?;
        Ok(serde_json::json!({"root": root, "kind": kind, "rows": rows, "cols": cols, "bytes": blob.data.len()}))
    }

    fn blob(&self, root: &H256) -> Result<Option<Value>, ApiError> {
        use cpc_state::StateView;
        let store = self.0.engine.store();
        let b = store.blob(root).map_err(internal)?;
        if b.is_none()
            && let Some(at) = store.blob_pruned_at(root).map_err(internal)?
        {
            return Err(ApiError::Rejected(format!(
                "blob {root} was pruned at height {at}: every job that used it closed more than its retention before \
                 (or none used it within {} blocks of its put)",
                cpc_state::UNREFERENCED_BLOB_BLOCKS
            )));
        }
        Ok(b.map(|b| serde_json::json!({"root": root, "kind": b.kind, "rows": b.rows, "cols": b.cols, "data": hex::encode(&b.data)})))
    }

    fn job(&self, id: &H256) -> Result<Option<Value>, ApiError> {
        use cpc_state::stake::{StakeKey, StakeRecord};
        use cpc_state::StateView;
        match self.0.engine.store().stake_record(&StakeKey::Job(*id)).map_err(internal)? {
            Some(StakeRecord::Job(rec)) => Ok(Some(job_view(id, &rec))),
            _ => Ok(None),
        }
    }

    fn jobs(&self, worker: Option<&Address>, after: Option<&H256>, limit: usize) -> Result<Vec<Value>, ApiError> {
        let which = worker.map_or(cpc_state::JobList::Open, cpc_state::JobList::Worker);
        let page = self.0.engine.store().jobs(which, after, limit).map_err(internal)?;
        let page = page.ok_or_else(|| ApiError::InvalidParams(format!("after: expected the id of a job, found {}, which names none", after.expect("None only for an unknown cursor"))))?;
        Ok(page.iter().map(|(id, rec)| job_view(id, rec)).collect())
    }

    fn market_params(&self) -> Result<Value, ApiError> {
        let market = &self.0.engine.params().market;
        let mut v = serde_json::to_value(market).expect("the parameters serialize");
        v["escrow_address"] = Value::String(cpc_state::escrow_address().to_string());
        // The next block is built on the head: its fee comes from the head's excess.
        let excess = cpc_state::market::blob_fee_state(self.0.engine.store()).map_err(internal)?.excess_blob_bytes;
        v["excess_blob_bytes"] = excess.into();
        v["next_blob_fee_per_byte"] = Value::String(market.blob_fee_at(excess).to_string());
        Ok(v)
    }
}

/// A job as `job_getJob` shows it: the record, its id, the task id its result answers and
/// what the worker would be paid.
fn job_view(id: &H256, rec: &cpc_state::JobRecord) -> Value {
    let mut v = serde_json::to_value(rec).expect("records serialize");
    v["id"] = Value::String(id.to_hex());
    v["task_id"] = Value::String(cpc_state::job_task_id(id));
    v
}
