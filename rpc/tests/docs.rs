//! docs/RPC.md documents exactly the methods the server registers.

use cpc_primitives::{Address, Receipt, H256};
use cpc_rpc::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Never called: registering methods needs only the type.
struct Stub;

impl ChainApi for Stub {
    fn chain_id(&self) -> String {
        unreachable!()
    }
    fn head_height(&self) -> u64 {
        unreachable!()
    }
    fn block_by_height(&self, _: u64, _: bool) -> Result<Option<BlockView>, ApiError> {
        unreachable!()
    }
    fn block_by_hash(&self, _: &H256, _: bool) -> Result<Option<BlockView>, ApiError> {
        unreachable!()
    }
    fn account(&self, _: &Address) -> Result<AccountView, ApiError> {
        unreachable!()
    }
    fn send_transaction(&self, _: Value) -> Result<H256, ApiError> {
        unreachable!()
    }
    fn estimate_gas(&self, _: Value) -> Result<u64, ApiError> {
        unreachable!()
    }
    fn gas_price(&self) -> u64 {
        unreachable!()
    }
    fn transaction(&self, _: &H256) -> Result<Option<TxView>, ApiError> {
        unreachable!()
    }
    fn network_stats(&self) -> Result<NetworkStatsView, ApiError> {
        unreachable!()
    }
    fn worker(&self, _: &Address) -> Result<WorkerView, ApiError> {
        unreachable!()
    }
    fn account_transactions(&self, _: &Address, _: Option<TxPlace>, _: usize) -> Result<AccountTxsView, ApiError> {
        unreachable!()
    }
    fn result_by_task(&self, _: &str) -> Result<Option<TaskResultView>, ApiError> {
        unreachable!()
    }
    fn receipt(&self, _: &H256) -> Result<Option<Receipt>, ApiError> {
        unreachable!()
    }
    fn compute_results(&self, _: u64) -> Result<Option<ComputeResultsView>, ApiError> {
        unreachable!()
    }
    fn syncing(&self) -> Option<SyncStatus> {
        unreachable!()
    }
    fn peer_count(&self) -> usize {
        unreachable!()
    }
    async fn peers(&self) -> Vec<PeerView> {
        unreachable!()
    }
    fn node_info(&self) -> NodeInfo {
        unreachable!()
    }
    fn set_isolated(&self, _: bool) -> Result<(), ApiError> {
        unreachable!()
    }
    fn set_partition(&self, _: Option<Vec<String>>) -> Result<(), ApiError> {
        unreachable!()
    }
    fn txpool_status(&self) -> TxpoolStatus {
        unreachable!()
    }
    fn txpool_content(&self, _from: Option<&Address>) -> Value {
        unreachable!()
    }
    fn get_work(&self, _: &Address) -> Result<WorkView, ApiError> {
        unreachable!()
    }
    fn submit_result(&self, _: Value) -> Result<SubmitView, ApiError> {
        unreachable!()
    }
    fn miner_status(&self) -> MinerStatus {
        unreachable!()
    }
    fn events(&self) -> tokio::sync::broadcast::Receiver<ChainEvent> {
        unreachable!()
    }
    fn validators(&self) -> Result<Vec<ValidatorView>, ApiError> {
        unreachable!()
    }
    fn validator(&self, _: &Address) -> Result<Option<ValidatorView>, ApiError> {
        unreachable!()
    }
    fn delegations(&self, _: &Address) -> Result<Vec<DelegationView>, ApiError> {
        unreachable!()
    }
    fn unbonding(&self, _: Option<&Address>) -> Result<Vec<UnbondingView>, ApiError> {
        unreachable!()
    }
    fn active_set(&self, _: Option<u64>) -> Result<Option<ActiveSetView>, ApiError> {
        unreachable!()
    }
    fn supply(&self) -> Result<Value, ApiError> {
        unreachable!()
    }
    fn staking_params(&self) -> Value {
        unreachable!()
    }
}

#[test]
fn rpc_md_lists_every_method_and_nothing_else() {
    let served: BTreeSet<String> =
        module(Arc::new(Stub), &Namespace::ALL).method_names().map(str::to_string).collect();
    let doc = include_str!("../../docs/RPC.md");
    let documented: BTreeSet<String> =
        doc.lines().filter_map(|l| l.strip_prefix("### ")).map(|s| s.trim().to_string()).collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not in docs/RPC.md: {missing:?}");
    assert!(extra.is_empty(), "in docs/RPC.md but not served: {extra:?}");
    // Every method has a curl (or WebSocket) example.
    for section in doc.split("\n### ").skip(1) {
        let name = section.lines().next().unwrap();
        assert!(section.contains("rpc ") || section.contains("\"method\""), "{name} has no example");
    }
}
