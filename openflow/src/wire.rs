//! Byte-level helpers shared by the codec: a checked, zero-copy big-endian reader that reports
//! absolute byte offsets (its reads are the nom parsers of [`crate::grammar`]), and padding
//! helpers.

use crate::grammar::{int_at, take_n, BeInt};
use crate::Error;

/// A cursor over `buf` whose offsets are reported relative to the start of the whole message
/// (`base` is the absolute offset of `buf[0]`).
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

macro_rules! read_int {
    ($name:ident, $ty:ty) => {
        /// The next big-endian integer of this width, read by its nom parser
        /// ([`crate::grammar::BeInt`]); [`Error::Truncated`] naming `what` when it is cut off.
        #[inline]
        pub(crate) fn $name(&mut self, what: &'static str) -> Result<$ty, Error> {
            match <$ty as BeInt>::be(&self.buf[self.pos..]) {
                Ok((rest, v)) => {
                    self.pos = self.buf.len() - rest.len();
                    Ok(v)
                }
                Err(_) => Err(self.truncated(what, std::mem::size_of::<$ty>())),
            }
        }
    };
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    #[inline(always)]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline(always)]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    #[cold]
    fn truncated(&self, what: &'static str, needed: usize) -> Error {
        Error::Truncated {
            what,
            offset: self.offset(),
            needed,
            available: self.remaining(),
        }
    }

    read_int!(u8, u8);
    read_int!(u16, u16);
    read_int!(u32, u32);
    read_int!(u64, u64);

    /// The next `n` bytes ([`take_n`]); [`Error::Truncated`] naming `what` when there are
    /// fewer.
    #[inline]
    pub(crate) fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], Error> {
        match take_n(&self.buf[self.pos..], n) {
            Ok((_, v)) => {
                self.pos += n;
                Ok(v)
            }
            Err(_) => Err(self.truncated(what, n)),
        }
    }

    /// Step over `n` bytes the caller has already checked are there.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    /// A sub-reader over the next `n` bytes (with correct absolute offsets).
    #[inline]
    pub(crate) fn sub(&mut self, what: &'static str, n: usize) -> Result<Reader<'a>, Error> {
        let base = self.offset();
        Ok(Reader::new(self.take(what, n)?, base))
    }

    #[inline]
    pub(crate) fn skip(&mut self, what: &'static str, n: usize) -> Result<(), Error> {
        self.take(what, n).map(|_| ())
    }

    /// The unread bytes, without consuming them.
    #[inline(always)]
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    pub(crate) fn peek_u16(&self, at: usize) -> Option<u16> {
        int_at(&self.buf[self.pos..], at)
    }
}

/// Bytes of zero padding that bring `len` up to a multiple of 8.
pub(crate) fn pad8(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// Append zeros so that `buf.len() - start` is a multiple of 8.
pub(crate) fn pad_to_8(buf: &mut Vec<u8>, start: usize) {
    let n = pad8(buf.len() - start);
    buf.resize(buf.len() + n, 0);
}

/// Overwrite the big-endian u16 at `at`.
pub(crate) fn put_u16_at(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// A length field's two bytes: `n` big-endian when it fits 16 bits, else 0. A length that
/// does not fit is never wrapped (a wrapped length would frame the bytes after it as other
/// messages); 0 is a length every decoder refuses, and the message around it is longer than
/// [`crate::message::MAX_MESSAGE_LEN`] anyway, so [`crate::Message::try_emit`] refuses it
/// whole before anything is sent.
#[inline]
pub(crate) fn len16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(0).to_be_bytes()
}

/// Overwrite the length field at `at` with [`len16`]`(n)`.
#[inline]
pub(crate) fn put_len_at(buf: &mut [u8], at: usize, n: usize) {
    buf[at..at + 2].copy_from_slice(&len16(n));
}

/// Fail with [`Error::BadLength`] unless exactly `n` bytes are left (fixed-size bodies).
pub(crate) fn exact_len(r: &Reader, n: usize, what: &'static str) -> Result<(), Error> {
    if r.remaining() == n {
        Ok(())
    } else {
        Err(Error::BadLength {
            what,
            offset: r.offset(),
            length: r.remaining(),
        })
    }
}

/// Append `s` as a NUL-padded fixed-size field of `n` bytes (truncated to `n - 1`).
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str, n: usize) {
    let k = s.len().min(n - 1);
    buf.extend_from_slice(&s.as_bytes()[..k]);
    buf.resize(buf.len() + n - k, 0);
}

/// A NUL-padded fixed-size string field: the bytes up to the first NUL, at most `b.len() - 1`
/// of them (the last byte is the terminator; OVS's `ovs_strlcpy` reads the field the same way),
/// each byte of an invalid UTF-8 sequence read as `?`. Byte for byte, so that [`put_str`]
/// writes the string back to the bytes it came from (invalid ones as `?`) and decoding an
/// encoding gives the same string: a lossy `U+FFFD` is 3 bytes and would be cut on re-emit.
pub(crate) fn get_str(b: &[u8]) -> String {
    let b = &b[..b.len().saturating_sub(1)];
    let b = b.split(|x| *x == 0).next().unwrap_or_default();
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(std::iter::repeat_n('?', chunk.invalid().len()));
    }
    s
}

/// Read a length-prefixed item (`len u16` at `at` within the item) of at least `min` bytes and
/// return a sub-reader over it; `BadLength` when the length is short or runs past the end.
pub(crate) fn item<'a>(
    r: &mut Reader<'a>,
    at: usize,
    min: usize,
    what: &'static str,
) -> Result<Reader<'a>, Error> {
    let off = r.offset();
    let len = r.peek_u16(at).ok_or(Error::Truncated {
        what,
        offset: off,
        needed: at + 2,
        available: r.remaining(),
    })? as usize;
    if len < min || len > r.remaining() {
        return Err(Error::BadLength {
            what,
            offset: off,
            length: len,
        });
    }
    r.sub(what, len)
}
