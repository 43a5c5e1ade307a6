//! Market blobs (docs/MARKET.md, Data): the matrices a job names by content root, kept
//! beside the chain. The root rule is consensus-critical, so it lives here with the other
//! encodings.

use crate::hash::{sha256_concat, H256};
use serde::{Deserialize, Serialize};

/// The element type of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// An input matrix (A or B): one byte per entry, two's complement.
    Int8,
    /// A result (C): four bytes per entry, little-endian two's complement.
    Int32,
}

impl BlobKind {
    pub fn bytes_per_entry(self) -> usize {
        match self {
            BlobKind::Int8 => 1,
            BlobKind::Int32 => 4,
        }
    }
    fn byte(self) -> u8 {
        match self {
            BlobKind::Int8 => 8,
            BlobKind::Int32 => 32,
        }
    }
}

/// A matrix a job refers to by its content root, kept beside the chain (docs/MARKET.md,
/// Data). Its root is the row root: leaf `H(0x00 ‖ row bytes)` per row, parents
/// `H(0x01 ‖ left ‖ right)`, an odd last node promoted unchanged — for an int32 matrix with a
/// power-of-two row count exactly the synthetic tasks' `result_hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub kind: BlobKind,
    pub rows: u32,
    pub cols: u32,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(kind: BlobKind, rows: u32, cols: u32, data: Vec<u8>) -> Result<Blob, String> {
        if rows == 0 || cols == 0 {
            return Err(format!("blob: expected at least one row and one column, found {rows} x {cols}"));
        }
        let want = rows as usize * cols as usize * kind.bytes_per_entry();
        if data.len() != want {
            return Err(format!("blob: a {rows} x {cols} {kind:?} matrix has {want} bytes, found {}", data.len()));
        }
        Ok(Blob { kind, rows, cols, data })
    }

    pub fn from_i8(rows: u32, cols: u32, v: &[i8]) -> Result<Blob, String> {
        Blob::new(BlobKind::Int8, rows, cols, v.iter().map(|x| *x as u8).collect())
    }

    pub fn from_i32(rows: u32, cols: u32, v: &[i32]) -> Result<Blob, String> {
        Blob::new(BlobKind::Int32, rows, cols, v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    pub fn as_i8(&self) -> Vec<i8> {
        self.data.iter().map(|b| *b as i8).collect()
    }

    pub fn as_i32(&self) -> Vec<i32> {
        self.data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
    }

    /// Stored bytes: `kind (8 or 32) ‖ le32 rows ‖ le32 cols ‖ data`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.data.len());
        out.push(self.kind.byte());
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&self.cols.to_le_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    pub fn decode(b: &[u8]) -> Result<Blob, String> {
        if b.len() < 9 {
            return Err(format!("blob: expected at least 9 bytes, found {}", b.len()));
        }
        let kind = match b[0] {
            8 => BlobKind::Int8,
            32 => BlobKind::Int32,
            other => return Err(format!("blob: kind byte expected 8 or 32, found {other}")),
        };
        let rows = u32::from_le_bytes(b[1..5].try_into().expect("4 bytes"));
        let cols = u32::from_le_bytes(b[5..9].try_into().expect("4 bytes"));
        Blob::new(kind, rows, cols, b[9..].to_vec())
    }

    /// The row leaves.
    pub fn leaves(&self) -> Vec<H256> {
        let row = self.cols as usize * self.kind.bytes_per_entry();
        self.data
            .chunks_exact(row)
            .map(|r| sha256_concat(&[&[0x00u8], r]))
            .collect()
    }

    /// The content root (see the type's documentation).
    pub fn root(&self) -> H256 {
        rows_root(self.leaves())
    }

    /// The blob if its content root is `root` (what anyone who fetched it by its root checks).
    pub fn with_root(self, root: &H256) -> Result<Blob, String> {
        match self.root() {
            r if r == *root => Ok(self),
            r => Err(format!("blob {root}: the data has root {r}")),
        }
    }
}

/// The root over row leaves: parents `H(0x01 ‖ left ‖ right)`, an odd last node promoted.
pub fn rows_root(mut level: Vec<H256>) -> H256 {
    if level.is_empty() {
        return H256::ZERO;
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| if p.len() == 2 { sha256_concat(&[&[0x01u8], &p[0].0, &p[1].0]) } else { p[0] })
            .collect();
    }
    level[0]
}

