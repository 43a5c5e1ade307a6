//! cpcd
