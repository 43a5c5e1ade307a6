//! Transaction gossip in batches.
//!
//! A message on `/cpc/<chain_id>/txs/1` is either one transaction's canonical JSON (it starts
//! with `{`) or a batch: `0xB2 ‖ le32 count ‖ (le32 len ‖ transaction JSON)*`, count ≥ 2, no
//! byte after the last. The publishing node gathers the transactions it publishes for up to
//! [`TX_BATCH_DELAY`] or until the next would take the batch over `MAX_GOSSIP_TX_BYTES`, and
//! sends them as one message. One gossipsub message costs a signature, a signature check at
//! each receiver, an id in every cache and a slot in each peer's send queue (gossipsub drops
//! what does not fit in 5 000 slots, and a dropped transaction is never sent again): under
//! load, one message per transaction lost transactions, and with them the nonces behind them
//! (measured: 60 000 transfers over 4 validators never all committed).

use std::time::Duration;

/// The first byte of a batch (a transaction's JSON starts with `{`).
pub const TX_BATCH_TAG: u8 = 0xB2;

/// How long a published transaction may wait for others to share its message: 10 ms, well
/// under a block time, and enough to gather a JSON-RPC batch's transactions into one.
pub const TX_BATCH_DELAY: Duration = Duration::from_millis(10);

/// The bytes of one message carrying `txs` (one transaction alone is its own bytes).
pub fn encode_tx_gossip<T: AsRef<[u8]>>(txs: &[T]) -> Vec<u8> {
    if let [one] = txs {
        return one.as_ref().to_vec();
    }
    let len = 5 + txs.iter().map(|t| 4 + t.as_ref().len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(TX_BATCH_TAG);
    out.extend_from_slice(&(txs.len() as u32).to_le_bytes());
    for t in txs {
        out.extend_from_slice(&(t.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(t.as_ref());
    }
    out
}

/// Bytes a transaction of `len` bytes adds to a batch.
pub(crate) fn framed_len(len: usize) -> usize {
    4 + len
}

/// Bytes of a batch's header.
pub(crate) const BATCH_HEADER: usize = 5;

/// The transactions of one tx-topic message, each as its bytes (not yet parsed).
pub fn decode_tx_gossip(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    match data.first() {
        None => Err("an empty message".into()),
        Some(&TX_BATCH_TAG) => {
            let mut rest = &data[1..];
            let count = take_u32(&mut rest).ok_or("a batch without its count")? as usize;
            if count < 2 {
                return Err(format!("a batch of {count} transactions (expected at least 2; one travels alone)"));
            }
            // Each entry takes at least 5 bytes: a count beyond that is a lie, not an allocation.
            if count > rest.len() / 5 {
                return Err(format!("a batch of {count} transactions in {} bytes", rest.len()));
            }
            let mut out = Vec::with_capacity(count);
            for i in 0..count {
                let len = take_u32(&mut rest).ok_or_else(|| format!("transaction {i}: no length"))? as usize;
                if len > rest.len() {
                    return Err(format!("transaction {i}: {len} bytes announced, {} left", rest.len()));
                }
                let (tx, tail) = rest.split_at(len);
                out.push(tx);
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(format!("{} bytes after the last of {count} transactions", rest.len()));
            }
            Ok(out)
        }
        Some(_) => Ok(vec![data]),
    }
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let (head, tail) = rest.split_first_chunk::<4>()?;
    *rest = tail;
    Some(u32::from_le_bytes(*head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_one_transaction_travels_alone() {
        let txs: Vec<Vec<u8>> = vec![br#"{"a":1}"#.to_vec(), Vec::new(), br#"{"b":[2,3]}"#.to_vec()];
        let bytes = encode_tx_gossip(&txs);
        assert_eq!(bytes[0], TX_BATCH_TAG);
        assert_eq!(bytes.len(), BATCH_HEADER + txs.iter().map(|t| framed_len(t.len())).sum::<usize>());
        assert_eq!(decode_tx_gossip(&bytes).unwrap(), txs.iter().map(|t| t.as_slice()).collect::<Vec<_>>());
        let one = encode_tx_gossip(&txs[..1]);
        assert_eq!(one, txs[0]);
        assert_eq!(decode_tx_gossip(&one).unwrap(), vec![txs[0].as_slice()]);
    }

    #[test]
    fn a_malformed_batch_is_refused_with_what_is_wrong() {
        let good = encode_tx_gossip(&[b"{}".as_slice(), b"{}".as_slice()]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "empty"),
            (vec![TX_BATCH_TAG, 1, 0], "without its count"),
            (encode_tx_gossip(&[b"{}".as_slice(), b"{}".as_slice()])[..good.len() - 1].to_vec(), "announced"),
            ([good.clone(), vec![0]].concat(), "1 bytes after the last of 2"),
            ([vec![TX_BATCH_TAG], 1u32.to_le_bytes().to_vec(), 2u32.to_le_bytes().to_vec(), b"{}".to_vec()].concat(), "a batch of 1"),
            ([vec![TX_BATCH_TAG], u32::MAX.to_le_bytes().to_vec(), vec![0; 10]].concat(), "in 10 bytes"),
        ];
        for (bytes, want) in cases {
            let e = decode_tx_gossip(&bytes).unwrap_err();
            assert!(e.contains(want), "{bytes:?}: {e} (expected {want:?})");
        }
    }
}
