//! When the engine produces blocks on its own (reth's local miner): `MiningMode`.

use crate::Engine;
use cpc_state::StoreError;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a paused instant-mode producer looks at the disk again.
const PAUSED_RETRY: Duration = Duration::from_secs(1);

/// When to produce a block on a single-validator chain (`--dev`).
pub enum MiningMode {
    /// As soon as transactions wait (`--dev.block-time 0`).
    Instant,
    /// Every interval, with or without transactions (`--dev.block-time 1s`).
    Interval(Duration),
    /// One block per message (tests and tools that step the chain).
    Trigger(mpsc::Receiver<()>),
}

impl MiningMode {
    /// The mode of `--dev.block-time`: 0 is instant.
    pub fn from_block_time_ms(ms: u64) -> MiningMode {
        if ms == 0 { MiningMode::Instant } else { MiningMode::Interval(Duration::from_millis(ms)) }
    }
}

/// One block on a blocking thread. A failed build is logged (the next attempt may succeed; a
/// pause for disk space is logged once, by the engine); a database that failed to write
/// returns an error, and a panic (a bug) propagates: either stops the node (its supervisor).
pub async fn produce_one(engine: Arc<Engine>, round: u32) -> Result<()> {
    match tokio::task::spawn_blocking(move || engine.produce_block(round)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is::<crate::LowDisk>() => Ok(()),
        Ok(Err(e)) if e.chain().any(|c| c.downcast_ref::<StoreError>().is_some_and(StoreError::is_io_failure)) => Err(anyhow::anyhow!(
            "the database refused to write a block ({e:#}). Every block committed before it is safe, but RocksDB \
             takes no more writes until it is reopened, so the node stops: free space on the datadir's disk (or fix \
             the I/O fault) and start cpcd again; --datadir.min-free-mb pauses production before the disk is full"
        )),
        Ok(Err(e)) => {
            tracing::error!("block production failed: {e:#}");
            Ok(())
        }
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(anyhow::anyhow!("block production was cancelled: {e}")),
    }
}

/// Produces blocks in `mode` until `stop` turns true.
pub async fn run_producer(engine: Arc<Engine>, mode: MiningMode, mut stop: watch::Receiver<bool>) -> Result<()> {
    match mode {
        MiningMode::Instant => loop {
            tokio::select! {
                _ = engine.tx_arrived().notified() => {}
                _ = stop.changed() => return Ok(()),
            }
            while !engine.pool_is_empty() && !*stop.borrow() {
                produce_one(engine.clone(), 0).await?;
                if engine.production_paused().is_some() {
                    // Out of disk: ask again in a while, not in a hot loop.
                    tokio::select! {
                        _ = tokio::time::sleep(PAUSED_RETRY) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                }
            }
        },
        MiningMode::Interval(every) => {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick fires at once
            loop {
                tokio::select! {
                    _ = tick.tick() => produce_one(engine.clone(), 0).await?,
                    _ = stop.changed() => return Ok(()),
                }
            }
        }
        MiningMode::Trigger(mut rx) => loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(()) => produce_one(engine.clone(), 0).await?,
                    None => return Ok(()), // the trigger is gone: nothing will ask again
                },
                _ = stop.changed() => return Ok(()),
            }
        },
    }
}
