//! SPDY/3.1 framing, as moby/spdystream (client-go's port-forward and remotecommand) speaks
//! it: the frames a port-forward session uses, and header blocks compressed with zlib and the
//! SPDY/3 dictionary (one compression context per direction for the whole session).
//!
//! Contract:
//! - [`Decoder::decode`] takes bytes as they arrive (in any split) and yields whole frames;
//!   a frame longer than [`MAX_FRAME`], a header block inflating past [`MAX_HEADER_BLOCK`] or
//!   with more than [`MAX_HEADERS`] pairs, or a malformed frame is a [`SpdyError`] (the session
//!   then ends); unknown control frame types are skipped.
//! - [`Encoder::encode`] writes one frame; header names are sent lower-case (SPDY/3 requires
//!   it), values with several entries joined by NUL.
//! - No flow control is enforced or generated: spdystream ignores WINDOW_UPDATE, and so does
//!   this module's user.
//!
//! No maintained Rust crate speaks SPDY, hence this module (no I/O; `flate2` for zlib).

use std::sync::OnceLock;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The largest frame payload accepted: 1 MiB (spdystream writes at most 32 KiB of data per
/// frame; the format allows 16 MiB).
pub const MAX_FRAME: usize = 1 << 20;
/// The most an inflated header block may hold: 256 KiB.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// The most name/value pairs in one header block.
pub const MAX_HEADERS: usize = 1024;

const VERSION: u16 = 3;
/// `FLAG_FIN` of data frames, SYN_STREAM and SYN_REPLY.
pub const FLAG_FIN: u8 = 0x01;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// Header name/value pairs.
pub type Headers = Vec<(String, String)>;

/// One SPDY/3 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Stream data; `fin` half-closes the sender's side.
    Data {
        /// Stream id.
        stream: u32,
        /// Last frame from this sender.
        fin: bool,
        /// Payload.
        data: Bytes,
    },
    /// A new stream.
    SynStream {
        /// Stream id (odd from the client).
        stream: u32,
        /// Associated stream (0: none).
        associated: u32,
        /// Priority 0 (highest) to 7.
        priority: u8,
        /// The sender sends nothing more.
        fin: bool,
        /// The receiver may not send.
        unidirectional: bool,
        /// Headers.
        headers: Headers,
    },
    /// The answer to a SYN_STREAM.
    SynReply {
        /// Stream id.
        stream: u32,
        /// The sender sends nothing more.
        fin: bool,
        /// Headers.
        headers: Headers,
    },
    /// A stream is aborted.
    RstStream {
        /// Stream id.
        stream: u32,
        /// Why (1 PROTOCOL_ERROR, 5 CANCEL, ...).
        status: u32,
    },
    /// Settings (id, value); flags dropped.
    Settings(Vec<(u32, u32)>),
    /// A ping to echo.
    Ping(u32),
    /// The session ends.
    GoAway {
        /// Last stream the sender processed.
        last_good: u32,
        /// Why (0 OK).
        status: u32,
    },
    /// More headers for a stream.
    Headers {
        /// Stream id.
        stream: u32,
        /// Headers.
        headers: Headers,
    },
    /// Flow-control credit.
    WindowUpdate {
        /// Stream id.
        stream: u32,
        /// Credit in bytes.
        delta: u32,
    },
}

/// A malformed or oversized SPDY session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SPDY: {0}")]
pub struct SpdyError(pub String);

fn err(s: impl Into<String>) -> SpdyError {
    SpdyError(s.into())
}

/// The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1):
/// length-prefixed common header names and values, then common text. 1423 bytes.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TEXT: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
            "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
            "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
            "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
            "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
            "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::with_capacity(1423);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TEXT.as_bytes());
        d
    })
}

/// Reads frames from one direction of a session (see the module docs).
pub struct Decoder {
    buf: BytesMut,
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of a session.
    pub fn new() -> Self {
        Decoder { buf: BytesMut::new(), inflate: Decompress::new(true) }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Frame>, SpdyError> {
        loop {
            if self.buf.len() < 8 {
                return Ok(None);
            }
            let len = u32::from_be_bytes([0, self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if len > MAX_FRAME {
                return Err(err(format!("a frame of {len} bytes is over the limit of {MAX_FRAME}")));
            }
            if self.buf.len() < 8 + len {
                return Ok(None);
            }
            let head = self.buf.split_to(8);
            let mut body = self.buf.split_to(len).freeze();
            let flags = head[4];
            if head[0] & 0x80 == 0 {
                let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
                return Ok(Some(Frame::Data { stream, fin: flags & FLAG_FIN != 0, data: body }));
            }
            let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
            if version != VERSION {
                return Err(err(format!("unsupported SPDY version {version}")));
            }
            let kind = u16::from_be_bytes([head[2], head[3]]);
            let need = |n: usize, body: &Bytes| {
                if body.len() < n {
                    Err(err(format!("control frame {kind} is {} bytes, needs {n}", body.len())))
                } else {
                    Ok(())
                }
            };
            let frame = match kind {
                SYN_STREAM => {
                    need(10, &body)?;
                    let stream = body.get_u32() & 0x7fff_ffff;
                    let associated = body.get_u32() & 0x7fff_ffff;
                    let priority = body.get_u8() >> 5;
                    let _slot = body.get_u8();
                    let headers = self.headers(&body)?;
                    Frame::SynStream {
                        stream,
                        associated,
                        priority,
                        fin: flags & FLAG_FIN != 0,
                        unidirectional: flags & 0x02 != 0,
                        headers,
                    }
                }
                SYN_REPLY => {
                    need(4, &body)?;
                    let stream = body.get_u32() & 0x7fff_ffff;
                    let headers = self.headers(&body)?;
                    Frame::SynReply { stream, fin: flags & FLAG_FIN != 0, headers }
                }
                HEADERS => {
                    need(4, &body)?;
                    let stream = body.get_u32() & 0x7fff_ffff;
                    let headers = self.headers(&body)?;
                    Frame::Headers { stream, headers }
                }
                RST_STREAM => {
                    need(8, &body)?;
                    Frame::RstStream { stream: body.get_u32() & 0x7fff_ffff, status: body.get_u32() }
                }
                SETTINGS => {
                    need(4, &body)?;
                    let n = body.get_u32() as usize;
                    if body.len() < n.saturating_mul(8) {
                        return Err(err("SETTINGS frame shorter than its entry count"));
                    }
                    Frame::Settings((0..n).map(|_| (body.get_u32() & 0x00ff_ffff, body.get_u32())).collect())
                }
                PING => {
                    need(4, &body)?;
                    Frame::Ping(body.get_u32())
                }
                GOAWAY => {
                    need(4, &body)?;
                    let last_good = body.get_u32() & 0x7fff_ffff;
                    let status = if body.len() >= 4 { body.get_u32() } else { 0 };
                    Frame::GoAway { last_good, status }
                }
                WINDOW_UPDATE => {
                    need(8, &body)?;
                    Frame::WindowUpdate { stream: body.get_u32() & 0x7fff_ffff, delta: body.get_u32() & 0x7fff_ffff }
                }
                _ => continue,
            };
            return Ok(Some(frame));
        }
    }

    /// Inflates and parses one header block (the session's shared zlib stream).
    fn headers(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(err(format!("a header block inflates past {MAX_HEADER_BLOCK} bytes")));
                }
                out.reserve(out.len().min(MAX_HEADER_BLOCK - out.len()).max(64));
            }
            let before_in = self.inflate.total_in();
            let r = self.inflate.decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before_in) as usize;
            input = &input[used..];
            match r {
                Ok(Status::StreamEnd) => break,
                Ok(_) if input.is_empty() && out.len() < out.capacity() => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(dictionary()).map_err(|e| err(format!("header dictionary: {e}")))?;
                }
                Err(e) => return Err(err(format!("header block: {e}"))),
            }
        }
        parse_headers(&out)
    }
}

fn parse_headers(mut b: &[u8]) -> Result<Headers, SpdyError> {
    let short = || err("header block truncated");
    if b.len() < 4 {
        return Err(short());
    }
    let n = b.get_u32() as usize;
    if n > MAX_HEADERS {
        return Err(err(format!("{n} headers are over the limit of {MAX_HEADERS}")));
    }
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        let mut field = || -> Result<String, SpdyError> {
            if b.len() < 4 {
                return Err(short());
            }
            let len = b.get_u32() as usize;
            if b.len() < len {
                return Err(short());
            }
            let s = String::from_utf8_lossy(&b[..len]).into_owned();
            b.advance(len);
            Ok(s)
        };
        let name = field()?.to_ascii_lowercase();
        let value = field()?;
        for v in value.split('\0') {
            headers.push((name.clone(), v.to_string()));
        }
    }
    Ok(headers)
}

/// Writes frames for one direction of a session (see the module docs).
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder at the start of a session.
    pub fn new() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // Only fails for a stream already started; this one is new.
        let _ = deflate.set_dictionary(dictionary());
        Encoder { deflate }
    }

    /// Appends `frame` to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) {
        match frame {
            Frame::Data { stream, fin, data } => {
                out.put_u32(stream & 0x7fff_ffff);
                out.put_u8(if *fin { FLAG_FIN } else { 0 });
                put_len(out, data.len());
                out.put_slice(data);
            }
            Frame::SynStream { stream, associated, priority, fin, unidirectional, headers } => {
                let mut body = BytesMut::new();
                body.put_u32(*stream);
                body.put_u32(*associated);
                body.put_u8((priority & 7) << 5);
                body.put_u8(0);
                self.header_block(headers, &mut body);
                let flags = u8::from(*fin) | if *unidirectional { 0x02 } else { 0 };
                control(out, SYN_STREAM, flags, &body);
            }
            Frame::SynReply { stream, fin, headers } => {
                let mut body = BytesMut::new();
                body.put_u32(*stream);
                self.header_block(headers, &mut body);
                control(out, SYN_REPLY, u8::from(*fin), &body);
            }
            Frame::Headers { stream, headers } => {
                let mut body = BytesMut::new();
                body.put_u32(*stream);
                self.header_block(headers, &mut body);
                control(out, HEADERS, 0, &body);
            }
            Frame::RstStream { stream, status } => {
                control(out, RST_STREAM, 0, &[stream.to_be_bytes(), status.to_be_bytes()].concat());
            }
            Frame::Settings(entries) => {
                let mut body = BytesMut::new();
                body.put_u32(entries.len() as u32);
                for (id, v) in entries {
                    body.put_u32(id & 0x00ff_ffff);
                    body.put_u32(*v);
                }
                control(out, SETTINGS, 0, &body);
            }
            Frame::Ping(id) => control(out, PING, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                control(out, GOAWAY, 0, &[last_good.to_be_bytes(), status.to_be_bytes()].concat());
            }
            Frame::WindowUpdate { stream, delta } => {
                control(out, WINDOW_UPDATE, 0, &[stream.to_be_bytes(), delta.to_be_bytes()].concat());
            }
        }
    }

    fn header_block(&mut self, headers: &Headers, out: &mut BytesMut) {
        let mut plain = Vec::new();
        // Pairs with the same name are one entry, values NUL-separated.
        let mut names: Vec<String> = Vec::new();
        for (n, _) in headers {
            let n = n.to_ascii_lowercase();
            if !names.contains(&n) {
                names.push(n);
            }
        }
        plain.extend_from_slice(&(names.len() as u32).to_be_bytes());
        for n in &names {
            let values: Vec<&str> =
                headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str()).collect();
            let v = values.join("\0");
            plain.extend_from_slice(&(n.len() as u32).to_be_bytes());
            plain.extend_from_slice(n.as_bytes());
            plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let mut compressed = Vec::with_capacity(plain.len() + 64);
        let mut input = plain.as_slice();
        loop {
            if compressed.len() == compressed.capacity() {
                compressed.reserve(256);
            }
            let before = self.deflate.total_in();
            let _ = self.deflate.compress_vec(input, &mut compressed, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && compressed.len() < compressed.capacity() {
                break;
            }
        }
        out.put_slice(&compressed);
    }
}

fn put_len(out: &mut BytesMut, len: usize) {
    let b = (len as u32).to_be_bytes();
    out.put_slice(&b[1..]);
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, body: &[u8]) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u8(flags);
    put_len(out, body.len());
    out.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_dictionary_is_the_specs() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"charset=iso-8859-1,utf-,*,enq=0."));
    }

    #[test]
    fn frames_round_trip_through_one_compression_context_in_any_split() {
        let frames = vec![
            Frame::SynStream {
                stream: 1,
                associated: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: h(&[("streamType", "error"), ("port", "8080"), ("requestID", "0")]),
            },
            Frame::SynStream {
                stream: 3,
                associated: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: h(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]),
            },
            Frame::SynReply { stream: 1, fin: false, headers: vec![] },
            Frame::Data { stream: 3, fin: false, data: Bytes::from_static(b"GET / HTTP/1.1\r\n") },
            Frame::Data { stream: 1, fin: true, data: Bytes::new() },
            Frame::Ping(7),
            Frame::Settings(vec![(7, 65536)]),
            Frame::WindowUpdate { stream: 3, delta: 1000 },
            Frame::RstStream { stream: 3, status: 5 },
            Frame::GoAway { last_good: 3, status: 0 },
        ];
        let mut enc = Encoder::new();
        let mut wire = BytesMut::new();
        for f in &frames {
            enc.encode(f, &mut wire);
        }
        for split in [1usize, 7, 4096] {
            let mut dec = Decoder::new();
            let mut got = Vec::new();
            for chunk in wire.chunks(split) {
                dec.push(chunk);
                while let Some(f) = dec.decode().unwrap() {
                    got.push(f);
                }
            }
            let mut want = frames.clone();
            // Names arrive lower-cased.
            if let Frame::SynStream { headers, .. } = &mut want[0] {
                *headers = h(&[("streamtype", "error"), ("port", "8080"), ("requestid", "0")]);
            }
            assert_eq!(got, want, "split {split}");
        }
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let mut dec = Decoder::new();
        dec.push(&[0, 0, 0, 1, 0, 0x10, 0, 1]);
        assert!(dec.decode().is_err());
        let mut dec = Decoder::new();
        let mut wire = BytesMut::new();
        control(&mut wire, SYN_STREAM, 0, &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xde, 0xad]);
        dec.push(&wire);
        assert!(dec.decode().is_err(), "garbage header block");
        let mut dec = Decoder::new();
        dec.push(&[0x80, 2, 0, 1, 0, 0, 0, 0]);
        assert!(dec.decode().is_err(), "SPDY/2");
    }
}
