//! `cpcd node-id --datadir DIR`: this node's peer id and P2P address.

use crate::commands::DEFAULT_P2P_PORT;
use anyhow::{Context, Result};
use std::path::Path;

/// `cpcd node-id --datadir DIR`
pub fn node_id(datadir: &Path) -> Result<()> {
    std::fs::create_dir_all(datadir)?;
    let key = cpc_network::load_or_create_node_key(datadir).context("node key")?;
    let id = cpc_network::PeerId::from(key.public());
    let port = crate::config::configured_p2p_port(datadir)?.unwrap_or(DEFAULT_P2P_PORT);
    println!("{id}");
    println!("/ip4/127.0.0.1/tcp/{port}/p2p/{id}");
    Ok(())
}

