//! `cpcd`: the cpc node binary.

mod api;
mod cli;
mod miner;
mod node;
mod poc_cmd;
mod run;

use clap::Parser;
use cli::{Cli, Cmd, GenesisCmd, GpuCmd};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        None => run::run(cli.run),
        Some(Cmd::Init { genesis, datadir }) => run::init(&genesis, &datadir),
        Some(Cmd::Genesis(GenesisCmd::Dev)) => {
            println!("{}", cpc_genesis::Genesis::dev().to_pretty_json());
            Ok(())
        }
        Some(Cmd::Poc(cmd)) => return poc_cmd::run(cmd),
        Some(Cmd::Gpu(GpuCmd::List)) => gpu_list(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn gpu_list() -> anyhow::Result<()> {
    match cpc_gpu::list_devices() {
        Ok(devs) if devs.is_empty() => println!("CUDA driver found, but no CUDA devices"),
        Ok(devs) => {
            for d in devs {
                println!("{d}");
            }
        }
        Err(e) => println!("{e}"),
    }
    Ok(())
}
