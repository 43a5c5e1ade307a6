//! cpc-network
