//! `cpcd`: the cpc node binary.

// Import errors carry consensus's BlockError (large, rare, never on a hot path).
#![allow(clippy::result_large_err)]

mod commands;
mod config;
mod launcher;
mod node;
mod services;
mod supervisor;

use commands::{Cli, Cmd, GenesisCmd, GpuCmd};
use std::process::ExitCode;

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let known: Vec<String> = Cli::command().get_arguments().filter_map(|a| a.get_long().map(str::to_string)).collect();
    let args = match config::merge_config_args(std::env::args().collect(), &known) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => e.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if cli.cmd.is_none() && cli.run.dump_config {
        print!("{}", config::dump(&Cli::command(), &matches));
        return ExitCode::SUCCESS;
    }
    let result = match cli.cmd {
        None => commands::run::run(cli.run),
        Some(Cmd::Init { genesis, datadir }) => commands::init::init(&genesis, &datadir),
        Some(Cmd::Genesis(GenesisCmd::Dev)) => commands::genesis::dev(),
        Some(Cmd::Poc(cmd)) => return commands::poc::run(cmd),
        Some(Cmd::Gpu(GpuCmd::List)) => commands::gpu::list(),
        Some(Cmd::NodeId { datadir }) => commands::node_id::node_id(&datadir),
        Some(Cmd::Worker(args)) => commands::worker::run(args),
        Some(Cmd::Key(args)) => cpc_wallet::key::run(args),
        Some(Cmd::Tx(args)) => cpc_wallet::tx::run(args),
        Some(Cmd::Query(args)) => cpc_wallet::query::run(args),
        Some(Cmd::Job(args)) => cpc_wallet::job::run(args),
        Some(Cmd::Testnet(commands::TestnetCmd::Init {
            validators,
            nodes,
            out,
            chain_id,
            block_time_ms,
            p2p_base_port,
            http_base_port,
            fund_dev_accounts,
            share_target_start,
            bft_base_port,
            standby,
            self_bond,
            staking,
            market,
            market_params,
        })) => commands::testnet::init(&commands::testnet::TestnetSpec {
            standby,
            self_bond,
            staking,
            market,
            market_params,
            fund_dev_accounts,
            share_target_start,
            bft_base_port,
            validators,
            nodes: nodes.unwrap_or(validators),
            out,
            chain_id,
            block_time_ms,
            p2p_base_port,
            http_base_port,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
