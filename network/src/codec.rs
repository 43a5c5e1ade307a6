//! The sync protocol's wire codec: libp2p's CBOR codec, with size limits that fail loudly.
//!
//! libp2p-request-response 0.30's `cbor::codec::Codec` reads at most `*_size_maximum` bytes
//! (`io.take(max).read_to_end`) and then decodes; an oversize message is silently truncated and
//! shows up as a generic "unexpected end of input" decode error. We read `max + 1` bytes
//! ourselves, so an oversize message is reported as exactly that ([`CodecError::TooLarge`]),
//! and only hand a complete, bounded buffer to the CBOR codec for decoding.
//!
//! A message is one CBOR value; the stream's end delimits it (the request-response handler
//! closes the write side after each message).

use crate::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SyncRequest, SyncResponse};
use libp2p::StreamProtocol;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::{self, cbor};
use std::io;

/// Why the codec refused a message. Travels inside `io::Error` (kind `InvalidData`) through
/// libp2p and is recovered with [`CodecError::from_io`], so the network can tell a misbehaving
/// peer (penalised) from a broken connection (not).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what} exceeds the {limit}-byte limit (read more than {limit} bytes)")]
    TooLarge { what: &'static str, limit: usize },
    #[error("{what} is not valid CBOR for the sync protocol: {reason}")]
    Undecodable { what: &'static str, reason: String },
}

impl CodecError {
    /// The `CodecError` inside an `io::Error` built by this codec, if it is one.
    pub fn from_io(e: &io::Error) -> Option<&CodecError> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<CodecError>())
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Request-response codec for `/cpc/<chain_id>/sync/1`.
#[derive(Clone)]
pub struct SyncCodec {
    inner: cbor::codec::Codec<SyncRequest, SyncResponse>,
}

impl Default for SyncCodec {
    fn default() -> Self {
        SyncCodec {
            inner: cbor::codec::Codec::default()
                .set_request_size_maximum(MAX_REQUEST_BYTES as u64)
                .set_response_size_maximum(MAX_RESPONSE_BYTES as u64),
        }
    }
}

/// Reads the whole stream, failing as soon as it holds more than `limit` bytes.
async fn read_bounded<T>(io: &mut T, limit: usize, what: &'static str) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut buf = Vec::new();
    io.take(limit as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(CodecError::TooLarge { what, limit }.into_io());
    }
    Ok(buf)
}

fn undecodable(what: &'static str, e: io::Error) -> io::Error {
    CodecError::Undecodable { what, reason: e.to_string() }.into_io()
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_bounded(io, MAX_REQUEST_BYTES, "sync request").await?;
        self.inner
            .read_request(p, &mut buf.as_slice())
            .await
            .map_err(|e| undecodable("sync request", e))
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_bounded(io, MAX_RESPONSE_BYTES, "sync response").await?;
        self.inner
            .read_response(p, &mut buf.as_slice())
            .await
            .map_err(|e| undecodable("sync response", e))
    }

    async fn write_request<T>(&mut self, p: &StreamProtocol, io: &mut T, req: SyncRequest) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_request(p, io, req).await
    }

    async fn write_response<T>(&mut self, p: &StreamProtocol, io: &mut T, resp: SyncResponse) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        // Encode to memory first so an oversize answer is visible here; it is still sent (the
        // requester enforces the limit and tells its node), but it points at a node bug: the
        // node should keep `Blocks` answers within MAX_RESPONSE_PAYLOAD_BYTES.
        let mut buf = Vec::new();
        self.inner.write_response(p, &mut buf, resp).await?;
        if buf.len() > MAX_RESPONSE_BYTES {
            tracing::warn!(
                bytes = buf.len(),
                limit = MAX_RESPONSE_BYTES,
                "sending a sync response above MAX_RESPONSE_BYTES; the requester will reject it"
            );
        }
        io.write_all(&buf).await
    }
}

/// Serde helpers so the opaque payloads travel as CBOR byte strings (one byte per byte)
/// instead of arrays of integers (up to two bytes per byte for JSON text).
pub(crate) mod bytes_serde {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::fmt;

    /// A borrowed byte slice serialized with `serialize_bytes`.
    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// An owned byte buffer accepted from a byte string or (for self-describing formats such as
    /// JSON) a sequence of integers.
    pub(crate) struct ByteBuf(pub Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a byte string")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
                fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                    let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                    while let Some(b) = seq.next_element::<u8>()? {
                        v.push(b);
                    }
                    Ok(ByteBuf(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    /// `Vec<Vec<u8>>` as a sequence of byte strings.
    pub(crate) mod vec_of_bytes {
        use super::*;
        use serde::ser::SerializeSeq;

        pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for item in v {
                seq.serialize_element(&Bytes(item))?;
            }
            seq.end()
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
            let v: Vec<ByteBuf> = Vec::deserialize(d)?;
            Ok(v.into_iter().map(|b| b.0).collect())
        }
    }

    /// `Option<Vec<u8>>` as an optional byte string.
    pub(crate) mod opt_bytes {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(b) => s.serialize_some(&Bytes(b)),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            let v: Option<ByteBuf> = Option::deserialize(d)?;
            Ok(v.map(|b| b.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_RESPONSE_PAYLOAD_BYTES, MAX_BLOCKS_PER_REQUEST, Status};
    use cpc_primitives::H256;
    use libp2p::futures::executor::block_on;
    use libp2p::request_response::Codec;

    fn proto() -> StreamProtocol {
        StreamProtocol::new("/cpc/test/sync/1")
    }

    fn encode_response(resp: SyncResponse) -> Vec<u8> {
        let mut buf = Vec::new();
        block_on(SyncCodec::default().write_response(&proto(), &mut buf, resp)).unwrap();
        buf
    }

    #[test]
    fn every_message_round_trips() {
        let mut c = SyncCodec::default();
        for req in [
            SyncRequest::Status,
            SyncRequest::Blocks { from: 7, count: 3 },
            SyncRequest::BlockByHash(H256([9; 32])),
            SyncRequest::BlobManifest(H256([8; 32])),
            SyncRequest::BlobChunk { root: H256([8; 32]), index: 15 },
        ] {
            let mut buf = Vec::new();
            block_on(c.write_request(&proto(), &mut buf, req.clone())).unwrap();
            assert!(buf.len() <= MAX_REQUEST_BYTES);
            let back = block_on(c.read_request(&proto(), &mut buf.as_slice())).unwrap();
            assert_eq!(back, req);
        }
        for resp in [
            SyncResponse::Status(Status {
                chain_id: "c".into(),
                genesis_hash: H256([1; 32]),
                head_height: 5,
                head_hash: H256([2; 32]),
            }),
            SyncResponse::Blocks(vec![b"{\"a\":1}".to_vec(), vec![], vec![0, 255]]),
            SyncResponse::Block(Some(b"xyz".to_vec())),
            SyncResponse::Block(None),
            SyncResponse::Error("nope".into()),
            SyncResponse::BlobManifest(Some(vec![8, 1, 0, 0, 0, 1, 0, 0, 0, 0xff])),
            SyncResponse::BlobManifest(None),
            SyncResponse::BlobChunk(Some(vec![0xff; 300])),
            SyncResponse::BlobChunk(None),
        ] {
            let buf = encode_response(resp.clone());
            let back = block_on(c.read_response(&proto(), &mut buf.as_slice())).unwrap();
            assert_eq!(back, resp);
        }
    }

    #[test]
    fn block_payloads_are_byte_strings_not_integer_arrays() {
        // 1000 bytes of JSON text: as a CBOR integer array each byte >= 0x18 costs two bytes.
        let block = vec![b'z'; 1000];
        let n = encode_response(SyncResponse::Blocks(vec![block])).len();
        assert!(n < 1100, "expected ~1000 encoded bytes, found {n}");
    }

    #[test]
    fn a_full_payload_budget_fits_in_one_response() {
        // The node fills Blocks answers up to MAX_RESPONSE_PAYLOAD_BYTES over at most
        // MAX_BLOCKS_PER_REQUEST blocks; the encoding must stay within MAX_RESPONSE_BYTES.
        let per = MAX_RESPONSE_PAYLOAD_BYTES / MAX_BLOCKS_PER_REQUEST as usize;
        let blocks = vec![vec![b'x'; per]; MAX_BLOCKS_PER_REQUEST as usize];
        let n = encode_response(SyncResponse::Blocks(blocks)).len();
        assert!(n <= MAX_RESPONSE_BYTES, "encoded {n} bytes, limit {MAX_RESPONSE_BYTES}");
        let one = encode_response(SyncResponse::Blocks(vec![vec![b'x'; MAX_RESPONSE_PAYLOAD_BYTES]]));
        assert!(one.len() <= MAX_RESPONSE_BYTES);
    }

    #[test]
    fn oversize_response_is_reported_as_too_large() {
        let buf = encode_response(SyncResponse::Blocks(vec![vec![1; MAX_RESPONSE_BYTES]]));
        let err = block_on(SyncCodec::default().read_response(&proto(), &mut buf.as_slice())).unwrap_err();
        assert_eq!(
            CodecError::from_io(&err),
            Some(&CodecError::TooLarge { what: "sync response", limit: MAX_RESPONSE_BYTES })
        );
    }

    #[test]
    fn oversize_request_is_reported_as_too_large() {
        let buf = vec![0u8; MAX_REQUEST_BYTES + 1];
        let err = block_on(SyncCodec::default().read_request(&proto(), &mut buf.as_slice())).unwrap_err();
        assert!(matches!(CodecError::from_io(&err), Some(CodecError::TooLarge { .. })), "{err}");
    }

    #[test]
    fn garbage_request_is_reported_as_undecodable() {
        let buf = b"\xff\x00garbage".to_vec();
        let err = block_on(SyncCodec::default().read_request(&proto(), &mut buf.as_slice())).unwrap_err();
        assert!(matches!(CodecError::from_io(&err), Some(CodecError::Undecodable { .. })), "{err}");
    }
}
