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

    /// The same rows read as a `rows × cols` matrix of `kind`, if they have that shape: the
    /// root is over rows, so an int8 matrix of 4c columns and an int32 one of c columns with
    /// the same bytes share it. A job names the reading it needs; which one a node happens to
    /// hold under the root must not matter (else whoever hands over the other reading first
    /// decides whether a job is valid there).
    pub fn read_as(&self, kind: BlobKind, rows: u32, cols: u32) -> Option<std::borrow::Cow<'_, Blob>> {
        if (self.kind, self.rows, self.cols) == (kind, rows, cols) {
            return Some(std::borrow::Cow::Borrowed(self));
        }
        let same_rows = self.rows == rows && self.cols as usize * self.kind.bytes_per_entry() == cols as usize * kind.bytes_per_entry();
        same_rows.then(|| std::borrow::Cow::Owned(Blob { kind, rows, cols, data: self.data.clone() }))
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


/// The most rows a market blob has (B: k ≤ 4096 rows).
pub const MAX_BLOB_ROWS: u32 = 4096;
/// The most bytes one row has (A: k ≤ 4096 int8; C: n ≤ 1024 int32).
pub const MAX_BLOB_ROW_BYTES: usize = 4096;
/// The most data bytes of a market blob (1024 × 4096 int8, or 1024 × 1024 int32).
pub const MAX_BLOB_BYTES: usize = 4 << 20;
/// Row bytes per chunk a blob travels in between nodes (whole rows: at least one).
pub const BLOB_CHUNK_BYTES: usize = 256 << 10;

impl Blob {
    /// The rows `[first, first + count)` of chunk `index` in [`BlobManifest::chunk_span`]'s
    /// cut, or None past the end.
    pub fn chunk(&self, index: u32) -> Option<&[u8]> {
        let m = BlobManifest { kind: self.kind, rows: self.rows, cols: self.cols, leaves: Vec::new() };
        let (first, count) = m.chunk_span(index)?;
        let row = m.row_bytes();
        Some(&self.data[first as usize * row..(first + count) as usize * row])
    }
}

/// What a blob's holder sends before its data (docs/MARKET.md, Between nodes): the shape and
/// every row leaf, at most 4096 × 32 bytes. The receiver checks that the leaves hash to the
/// root it asked for before it asks for a byte of data; then each chunk of rows is checked
/// against its leaves as it arrives, so a peer that sends wrong data is caught at the first
/// wrong chunk, not after 4 MiB, and nothing unchecked is ever kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobManifest {
    pub kind: BlobKind,
    pub rows: u32,
    pub cols: u32,
    pub leaves: Vec<H256>,
}

impl BlobManifest {
    pub fn of(blob: &Blob) -> BlobManifest {
        BlobManifest { kind: blob.kind, rows: blob.rows, cols: blob.cols, leaves: blob.leaves() }
    }

    pub fn row_bytes(&self) -> usize {
        self.cols as usize * self.kind.bytes_per_entry()
    }

    /// Rows per chunk: as many whole rows as fit [`BLOB_CHUNK_BYTES`], at least one.
    pub fn chunk_rows(&self) -> u32 {
        (BLOB_CHUNK_BYTES / self.row_bytes().max(1)).max(1) as u32
    }

    pub fn chunks(&self) -> u32 {
        self.rows.div_ceil(self.chunk_rows())
    }

    /// (first row, row count) of chunk `index`, or None past the end.
    pub fn chunk_span(&self, index: u32) -> Option<(u32, u32)> {
        let per = self.chunk_rows();
        let first = index.checked_mul(per).filter(|f| *f < self.rows)?;
        Some((first, per.min(self.rows - first)))
    }

    /// `kind ‖ le32 rows ‖ le32 cols ‖ leaves` (32 bytes each).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Blob { kind: self.kind, rows: self.rows, cols: self.cols, data: Vec::new() }.encode();
        for l in &self.leaves {
            out.extend_from_slice(&l.0);
        }
        out
    }

    /// Decodes and checks a manifest against the root it was asked for: the shape within a
    /// market blob's bounds, one leaf per row, and the leaves' root.
    pub fn decode_for(b: &[u8], root: &H256) -> Result<BlobManifest, String> {
        if b.len() < 9 {
            return Err(format!("blob manifest: expected at least 9 bytes, found {}", b.len()));
        }
        let kind = match b[0] {
            8 => BlobKind::Int8,
            32 => BlobKind::Int32,
            other => return Err(format!("blob manifest: kind byte expected 8 or 32, found {other}")),
        };
        let rows = u32::from_le_bytes(b[1..5].try_into().expect("4 bytes"));
        let cols = u32::from_le_bytes(b[5..9].try_into().expect("4 bytes"));
        let m = BlobManifest { kind, rows, cols, leaves: Vec::new() };
        if rows == 0 || cols == 0 || rows > MAX_BLOB_ROWS || m.row_bytes() > MAX_BLOB_ROW_BYTES || rows as usize * m.row_bytes() > MAX_BLOB_BYTES {
            return Err(format!(
                "blob manifest: expected 1..={MAX_BLOB_ROWS} rows of 1..={MAX_BLOB_ROW_BYTES} bytes, at most {MAX_BLOB_BYTES} in all, found {rows} x {cols} {kind:?}"
            ));
        }
        let leaf_bytes = &b[9..];
        if leaf_bytes.len() != rows as usize * 32 {
            return Err(format!("blob manifest: expected {rows} leaves ({} bytes), found {} bytes", rows as usize * 32, leaf_bytes.len()));
        }
        let leaves: Vec<H256> = leaf_bytes.chunks_exact(32).map(|c| H256(c.try_into().expect("32 bytes"))).collect();
        match rows_root(leaves.clone()) {
            r if r == *root => Ok(BlobManifest { leaves, ..m }),
            r => Err(format!("blob manifest for {root}: its leaves have root {r}")),
        }
    }
}

/// A blob being received chunk by chunk against its checked manifest.
#[derive(Debug)]
pub struct BlobAssembly {
    manifest: BlobManifest,
    data: Vec<u8>,
    next: u32,
}

impl BlobAssembly {
    pub fn new(manifest: BlobManifest) -> BlobAssembly {
        let cap = manifest.rows as usize * manifest.row_bytes();
        BlobAssembly { manifest, data: Vec::with_capacity(cap), next: 0 }
    }

    /// The chunk to ask for next, or None when the blob is complete.
    pub fn next_chunk(&self) -> Option<u32> {
        (self.next < self.manifest.chunks()).then_some(self.next)
    }

    /// Takes the next chunk if every row of it hashes to its leaf; on error nothing is kept.
    pub fn add(&mut self, bytes: &[u8]) -> Result<(), String> {
        let index = self.next;
        let (first, count) = self.manifest.chunk_span(index).ok_or_else(|| format!("blob chunk {index}: the blob is complete"))?;
        let row = self.manifest.row_bytes();
        if bytes.len() != count as usize * row {
            return Err(format!("blob chunk {index}: expected {count} rows of {row} bytes ({}), found {} bytes", count as usize * row, bytes.len()));
        }
        for (i, r) in bytes.chunks_exact(row).enumerate() {
            let at = first as usize + i;
            let leaf = sha256_concat(&[&[0x00u8], r]);
            if leaf != self.manifest.leaves[at] {
                return Err(format!("blob chunk {index}: row {at} hashes to {leaf}, its leaf is {}", self.manifest.leaves[at]));
            }
        }
        self.data.extend_from_slice(bytes);
        self.next += 1;
        Ok(())
    }

    /// The blob, once every chunk is in (its root is the manifest's, row by row).
    pub fn finish(self) -> Result<Blob, String> {
        if let Some(i) = self.next_chunk() {
            return Err(format!("blob: chunk {i} of {} has not arrived", self.manifest.chunks()));
        }
        Blob::new(self.manifest.kind, self.manifest.rows, self.manifest.cols, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: BlobKind, rows: u32, cols: u32, salt: u8) -> Blob {
        let n = rows as usize * cols as usize * kind.bytes_per_entry();
        Blob::new(kind, rows, cols, (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()).unwrap()
    }

    #[test]
    fn a_blob_crosses_in_checked_chunks_and_reassembles_to_its_root() {
        // The largest shapes, one chunk and odd remainders.
        for (kind, rows, cols) in [(BlobKind::Int8, 1024, 4096), (BlobKind::Int8, 4096, 1024), (BlobKind::Int32, 1024, 1024), (BlobKind::Int8, 3, 4), (BlobKind::Int32, 1000, 3)] {
            let b = blob(kind, rows, cols, 7);
            let root = b.root();
            let m = BlobManifest::decode_for(&BlobManifest::of(&b).encode(), &root).unwrap();
            assert!(m.chunks() as usize * BLOB_CHUNK_BYTES >= b.data.len());
            let mut asm = BlobAssembly::new(m);
            let mut sent = 0;
            while let Some(i) = asm.next_chunk() {
                let c = b.chunk(i).unwrap();
                assert!(c.len() <= BLOB_CHUNK_BYTES.max(b.cols as usize * kind.bytes_per_entry()));
                asm.add(c).unwrap();
                sent += c.len();
            }
            assert_eq!(sent, b.data.len());
            assert_eq!(b.chunk(BlobManifest::of(&b).chunks()), None, "past the end");
            let got = asm.finish().unwrap();
            assert_eq!(got.root(), root);
            assert_eq!(got, b);
        }
    }

    #[test]
    fn a_manifest_that_is_not_the_roots_or_out_of_bounds_is_refused() {
        let b = blob(BlobKind::Int8, 10, 6, 1);
        let root = b.root();
        let good = BlobManifest::of(&b).encode();
        let other = blob(BlobKind::Int8, 10, 6, 2);
        let e = BlobManifest::decode_for(&BlobManifest::of(&other).encode(), &root).unwrap_err();
        assert!(e.contains("its leaves have root"), "{e}");
        // Same leaves, another shape: a different stored blob, refused by the leaf count or
        // later by the chunk lengths; here the leaf count.
        let mut wrong_rows = good.clone();
        wrong_rows[1..5].copy_from_slice(&11u32.to_le_bytes());
        assert!(BlobManifest::decode_for(&wrong_rows, &root).unwrap_err().contains("expected 11 leaves"));
        let mut huge = good.clone();
        huge[5..9].copy_from_slice(&4097u32.to_le_bytes());
        assert!(BlobManifest::decode_for(&huge, &root).unwrap_err().contains("rows of 1..=4096 bytes"));
        let mut kind = good.clone();
        kind[0] = 16;
        assert!(BlobManifest::decode_for(&kind, &root).unwrap_err().contains("kind byte"));
        assert!(BlobManifest::decode_for(&good[..good.len() - 1], &root).is_err());
    }

    #[test]
    fn one_wrong_byte_in_a_chunk_is_caught_in_that_chunk_and_nothing_is_kept() {
        let b = blob(BlobKind::Int8, 1024, 4096, 3); // 16 chunks of 64 rows
        let m = BlobManifest::of(&b);
        assert_eq!(m.chunks(), 16);
        let mut asm = BlobAssembly::new(m);
        asm.add(b.chunk(0).unwrap()).unwrap();
        let mut bad = b.chunk(1).unwrap().to_vec();
        bad[5 * 4096 + 17] ^= 1;
        let e = asm.add(&bad).unwrap_err();
        assert!(e.contains("chunk 1: row 69 hashes to"), "{e}");
        assert_eq!(asm.next_chunk(), Some(1), "the bad chunk is not taken");
        assert!(asm.add(&b.chunk(1).unwrap()[..4096]).unwrap_err().contains("expected 64 rows"));
        asm.add(b.chunk(1).unwrap()).unwrap();
        assert!(asm.finish().unwrap_err().contains("chunk 2 of 16 has not arrived"));
    }
}
