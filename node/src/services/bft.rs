//! BFT consensus as a node service: Malachite decides, the engine builds, checks and commits
//! (cpc-bft's `EngineHost`). The service ends with the node's stop signal (stopping the engine's
//! actors and releasing the WAL) or fails the node when consensus stops on its own.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use cpc_bft::host::EngineHost;
use cpc_bft::service::{BftConfig, start};
use tokio::sync::watch;

use crate::node::Node;

pub async fn run(
    node: Arc<Node>,
    cfg: BftConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let listen = cfg.listen.clone();
    let host = EngineHost::new(node.engine.clone()).map_err(|e| anyhow!("{e:#}"))?;
    let mut handle = start(cfg, host)
        .await
        .map_err(|e| anyhow!("starting BFT consensus on {listen}: {e:#}"))?;
    let _ = node.consensus.set(handle.probe());
    tracing::info!(address = %handle.address, %listen, "BFT consensus started");
    let res = tokio::select! {
        _ = stop.changed() => Ok(()),
        r = &mut handle.app => match r {
            Ok(Ok(())) => Err(anyhow!("consensus stopped")),
            Ok(Err(e)) => Err(anyhow!("consensus failed: {e:#}")),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow!("consensus task: {e}")),
        },
    };
    handle.stop().await;
    res
}
