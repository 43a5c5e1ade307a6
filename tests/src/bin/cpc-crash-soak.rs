//! `cpc-crash-soak N [--seed S] [--datadir D] [--min-ms A] [--max-ms B]`: N cycles of (start
//! `cpcd --dev` under transfer and result load, `kill -9` after A..B ms, restart and check);
//! see `cpcd_tests::soak`. Prints one line per cycle and a summary; exit 1 on any loss.
//! `scripts/crash-soak.sh N` runs it (RELIABILITY.md has the figures).

use anyhow::{bail, Context, Result};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<()> {
    let mut it = std::env::args().skip(1);
    let mut cycles = None;
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    let mut datadir = None;
    let (mut min_ms, mut max_ms) = (300u64, 3_000u64);
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => seed = val()?.parse()?,
            "--datadir" => datadir = Some(std::path::PathBuf::from(val()?)),
            "--min-ms" => min_ms = val()?.parse()?,
            "--max-ms" => max_ms = val()?.parse()?,
            "-h" | "--help" => {
                println!("cpc-crash-soak N [--seed S] [--datadir D] [--min-ms A] [--max-ms B]");
                return Ok(());
            }
            n if cycles.is_none() => cycles = Some(n.parse::<usize>().context("N: a number of cycles")?),
            other => bail!("unknown argument {other}"),
        }
    }
    let cycles = cycles.context("usage: cpc-crash-soak N [--seed S] [--datadir D]")?;
    if min_ms > max_ms {
        bail!("--min-ms {min_ms} is above --max-ms {max_ms}");
    }
    let tmp = tempfile::tempdir()?;
    let dir = datadir.unwrap_or_else(|| tmp.path().join("node"));
    println!("crash soak: {cycles} cycles, seed {seed}, kill after {min_ms}..{max_ms} ms of load, datadir {}", dir.display());
    let start = Instant::now();
    let r = cpcd_tests::soak::crash_soak(&dir, cycles, seed, min_ms, max_ms).await?;
    println!(
        "crash soak done in {:.0} s: {} cycles, {} kill -9, {} losses; final height {}, {} receipt checks, {} transfers sent, {} results (shares) on the chain",
        start.elapsed().as_secs_f64(),
        r.cycles,
        r.kills,
        r.losses,
        r.final_height,
        r.receipts_checked,
        r.transfers_sent,
        r.results_committed
    );
    for p in &r.problems {
        println!("LOSS: {p}");
    }
    if r.losses > 0 {
        std::process::exit(1);
    }
    Ok(())
}
