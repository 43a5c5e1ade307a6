//! The bytes a proposal stream carries: the block and, beside it, the task-market blobs its
//! transactions name (A and B of a POST_JOB, C of a job result) that the proposer holds —
//! EIP-4844's sidecar, sent with the proposal instead of gossiped on its own. A validator that
//! missed a transaction's gossip (and so the fetch of its data) gets the data here and can
//! check the proposal before voting, instead of voting nil until it finds the data elsewhere
//! (docs/MARKET.md, "With the proposal").
//!
//! ```text
//! 0xB1 ‖ le32 len ‖ block JSON ‖ le32 count ‖ count × (le32 len ‖ Blob::encode)
//! ```
//! Bytes that start with `{` are a block alone (no blobs): what a decided value carries for
//! sync (a certified block is taken without data) and what a proposal kept by an older node
//! looks like. The stream bound (`MAX_PROPOSAL_BYTES`) bounds every length here.

use cpc_primitives::Block;
use cpc_primitives::blob::Blob;

/// The first byte of a proposal with blobs.
pub const TAG: u8 = 0xB1;

/// Encodes a block's JSON with its blobs (a block alone when there are none).
pub fn encode(block_json: Vec<u8>, blobs: &[impl std::borrow::Borrow<Blob>]) -> Vec<u8> {
    if blobs.is_empty() {
        return block_json;
    }
    let size = 9 + block_json.len() + blobs.iter().map(|b| 13 + b.borrow().data.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(TAG);
    out.extend_from_slice(&(block_json.len() as u32).to_le_bytes());
    out.extend_from_slice(&block_json);
    out.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for b in blobs {
        let e = b.borrow().encode();
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(&e);
    }
    out
}

fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err(format!("proposal: {what} needs {n} bytes, {} left", b.len()));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn le32(b: &mut &[u8], what: &str) -> Result<usize, String> {
    Ok(u32::from_le_bytes(take(b, 4, what)?.try_into().expect("4 bytes")) as usize)
}

/// The block's JSON bytes and the blobs (decoded, shapes checked; their roots are the
/// caller's to check against the block).
pub fn split(bytes: &[u8]) -> Result<(&[u8], Vec<Blob>), String> {
    match bytes.first() {
        Some(b'{') => Ok((bytes, Vec::new())),
        Some(&TAG) => {
            let mut rest = &bytes[1..];
            let len = le32(&mut rest, "the block's length")?;
            let block = take(&mut rest, len, "the block")?;
            let count = le32(&mut rest, "the blob count")?;
            // Each blob takes at least 13 bytes: a count past that is a lie.
            if count > rest.len() / 13 {
                return Err(format!("proposal: {count} blobs in {} bytes", rest.len()));
            }
            let mut blobs = Vec::with_capacity(count);
            for i in 0..count {
                let len = le32(&mut rest, "a blob's length")?;
                let b = take(&mut rest, len, "a blob")?;
                blobs.push(Blob::decode(b).map_err(|e| format!("proposal: blob {i}: {e}"))?);
            }
            if !rest.is_empty() {
                return Err(format!("proposal: {} bytes after the last blob", rest.len()));
            }
            Ok((block, blobs))
        }
        Some(other) => Err(format!("proposal: expected a block ('{{') or a block with blobs (0x{TAG:02x}), found 0x{other:02x}")),
        None => Err("proposal: empty".into()),
    }
}

/// Decodes a proposal: the block and its blobs.
pub fn decode(bytes: &[u8]) -> Result<(Block, Vec<Blob>), String> {
    let (json, blobs) = split(bytes)?;
    let block = serde_json::from_slice(json).map_err(|e| format!("undecodable block: {e}"))?;
    Ok((block, blobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(rows: u32, cols: u32, salt: u8) -> Blob {
        Blob::new(cpc_primitives::blob::BlobKind::Int8, rows, cols, (0..rows * cols).map(|i| (i as u8).wrapping_mul(salt)).collect()).unwrap()
    }

    #[test]
    fn a_block_with_blobs_comes_back_whole_and_a_block_alone_is_its_json() {
        let json = br#"{"x":1}"#.to_vec();
        let blobs = vec![blob(3, 5, 7), blob(1, 4, 3)];
        let bytes = encode(json.clone(), &blobs);
        assert_eq!(bytes[0], TAG);
        let (j, got) = split(&bytes).unwrap();
        assert_eq!(j, &json[..]);
        assert_eq!(got, blobs);
        let none: [Blob; 0] = [];
        assert_eq!(encode(json.clone(), &none), json, "no blobs: the block's JSON alone");
        assert_eq!(split(&json).unwrap(), (&json[..], vec![]));
    }

    #[test]
    fn every_cut_and_every_lie_about_a_length_is_refused_with_the_reason() {
        let bytes = encode(br#"{"x":1}"#.to_vec(), &[blob(3, 5, 7)]);
        for cut in 1..bytes.len() {
            let e = split(&bytes[..cut]).unwrap_err();
            assert!(e.starts_with("proposal:"), "cut at {cut}: {e}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(split(&extra).unwrap_err().contains("1 bytes after the last blob"));
        let mut many = bytes.clone();
        let at = 1 + 4 + 7;
        many[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(split(&many).unwrap_err().contains("blobs in"), "a count past the bytes is refused before allocating");
        assert!(split(&[0x00]).unwrap_err().contains("found 0x00"));
        assert!(split(&[]).unwrap_err().contains("empty"));
        let mut shape = bytes.clone();
        shape[at + 4 + 4 + 1] = 9; // rows 3 -> 9: the data no longer fills the shape
        assert!(split(&shape).unwrap_err().contains("blob 0"));
    }
}
