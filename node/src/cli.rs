//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "cpcd", version, about = "cpc full node with embedded Proof-of-Compute validation and mining")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a chain database from a genesis file.
    Init {
        #[arg(long)]
        genesis: PathBuf,
        #[arg(long)]
        datadir: PathBuf,
    },
    /// Genesis helpers.
    #[command(subcommand)]
    Genesis(GenesisCmd),
    /// Solve or verify synthetic Proof-of-Compute tasks (for workers and auditors).
    #[command(subcommand)]
    Poc(PocCmd),
    /// CUDA devices.
    #[command(subcommand)]
    Gpu(GpuCmd),
}

#[derive(Subcommand, Debug)]
pub enum GenesisCmd {
    /// Print the built-in dev genesis as JSON.
    Dev,
}

#[derive(Subcommand, Debug)]
pub enum GpuCmd {
    /// List CUDA devices (says so when no CUDA driver is installed).
    List,
}

#[derive(Subcommand, Debug)]
pub enum PocCmd {
    /// Solve one task and print its ComputeResult as one line of JSON.
    Solve {
        /// Tip block hash (64 hex digits).
        #[arg(long)]
        tip: String,
        /// Worker address (cpc1…).
        #[arg(long)]
        worker: String,
        #[arg(long)]
        nonce: u64,
        /// Matrix size n (power of two).
        #[arg(long, default_value_t = cpc_poc::DEFAULT_N)]
        size: usize,
        /// Challenged rows k.
        #[arg(long, default_value_t = cpc_poc::DEFAULT_K)]
        k: usize,
    },
    /// Read one ComputeResult (JSON) from stdin and verify it fully against the tip.
    Verify {
        #[arg(long)]
        tip: String,
        #[arg(long, default_value_t = cpc_poc::DEFAULT_N)]
        size: usize,
        #[arg(long, default_value_t = cpc_poc::DEFAULT_K)]
        k: usize,
    },
}

/// Running the node (the default command).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Single-validator development chain with the built-in dev genesis and 10 funded
    /// accounts whose keys are printed at start.
    #[arg(long)]
    pub dev: bool,
    /// Data directory (default under --dev: a temporary directory removed at exit).
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// Time between dev blocks: `1s`, `250ms`, … `0` = a block as soon as transactions wait.
    #[arg(long = "dev.block-time", default_value = "1s", value_parser = parse_duration_ms)]
    pub dev_block_time_ms: u64,
    /// JSON-RPC listen address.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    pub http_addr: IpAddr,
    /// JSON-RPC port (0 picks a free port; the bound address is logged).
    #[arg(long = "http.port", default_value_t = 8545)]
    pub http_port: u16,
    /// Mine: solve synthetic tasks of every new tip and submit the results.
    #[arg(long)]
    pub mine: bool,
    /// GPUs to mine on: `0`, `0,1` or `all` (CUDA).
    #[arg(long)]
    pub gpu: Option<String>,
    /// CPU mining threads (default: all cores when no GPU is given, else 0).
    #[arg(long = "cpu-threads")]
    pub cpu_threads: Option<usize>,
    /// Results the miner submits per tip.
    #[arg(long = "miner.results-per-tip", default_value_t = 4)]
    pub results_per_tip: u64,
    /// Log filter in RUST_LOG syntax (e.g. `info,cpcd=debug`).
    #[arg(long = "log.filter", default_value = "info")]
    pub log_filter: String,
}

/// Parses `0`, `250ms`, `1s`, `1.5s`, `2` (seconds) into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let bad = || format!("expected a duration like 0, 250ms, 1s, 1.5s, 2m or 1h, found {s:?}");
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok((v * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("1s"), Ok(1000));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1500));
        assert_eq!(parse_duration_ms("2"), Ok(2000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        assert!(parse_duration_ms("-1s").is_err());
        assert!(parse_duration_ms("fast").is_err());
    }
}
