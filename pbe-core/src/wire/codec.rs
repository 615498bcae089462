//! Byte-level reading and writing shared by every wire type.
//!
//! A [`Reader`] never panics: every read checks the remaining length and names the field it
//! was reading when the input runs out; every length prefix is checked against a maximum
//! before anything is allocated (STYLE.md §3.2).

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};

use crate::error::DecodeError;
use crate::suite::Group;

/// A cursor over untrusted bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated(what))?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated(what))?;
        self.pos = end;
        Ok(out)
    }

    /// Takes everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        out
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    /// A big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A list length (u16) with its maximum checked before any allocation.
    pub fn count(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let n = usize::from(self.u16(what)?);
        if n > max {
            return Err(DecodeError::TooMany { what, max, found: n });
        }
        Ok(n)
    }

    /// A UTF-8 string with a u16 length prefix and a maximum length.
    pub fn string(&mut self, what: &'static str, max: usize) -> Result<&'a str, DecodeError> {
        let n = usize::from(self.u16(what)?);
        if n > max {
            return Err(DecodeError::TooMany { what, max, found: n });
        }
        std::str::from_utf8(self.take(n, what)?).map_err(|_| DecodeError::InvalidText(what))
    }

    /// Fails with `TrailingData` unless everything was read.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::TrailingData(what))
        }
    }

    /// A group element in `form`, decoded and checked by the suite (see [`Group::decode`]).
    pub fn point<G: Group>(
        &mut self,
        form: Compress,
        check: Validate,
        what: &'static str,
    ) -> Result<G, DecodeError> {
        let bytes = self.take(G::encoded_len(form), what)?;
        G::decode(bytes, form, check).ok_or(DecodeError::InvalidGroupElement(what))
    }

    /// A canonically serialized arkworks value (a scalar) of known size.
    pub fn element<T: CanonicalDeserialize>(
        &mut self,
        size: usize,
        compress: Compress,
        validate: Validate,
        what: &'static str,
    ) -> Result<T, DecodeError> {
        let bytes = self.take(size, what)?;
        decode_element(bytes, compress, validate, what)
    }
}

/// Decodes exactly `bytes` as one canonically serialized value.
pub fn decode_element<T: CanonicalDeserialize>(
    bytes: &[u8],
    compress: Compress,
    validate: Validate,
    what: &'static str,
) -> Result<T, DecodeError> {
    let mut slice = bytes;
    let value = T::deserialize_with_mode(&mut slice, compress, validate)
        .map_err(|_| DecodeError::InvalidGroupElement(what))?;
    if !slice.is_empty() {
        return Err(DecodeError::InvalidGroupElement(what));
    }
    Ok(value)
}

/// Appends a big-endian u16.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a length-prefixed string. Callers guarantee `s.len() ≤ u16::MAX` (every string we
/// write was validated against a smaller maximum); longer input is a bug and is truncated
/// to its prefix rather than written with a lying length.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let n = bytes.len().min(usize::from(u16::MAX));
    put_u16(out, n as u16);
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
}

/// Appends a group element's encoding.
pub fn put_point<G: Group>(out: &mut Vec<u8>, v: &G, form: Compress) {
    v.encode(form, out);
}

/// Appends a canonically serialized arkworks value (a scalar).
pub fn put_element<T: CanonicalSerialize>(out: &mut Vec<u8>, v: &T, compress: Compress) {
    // Serializing into a Vec cannot fail: the writer never errors.
    let _ = v.serialize_with_mode(&mut *out, compress);
}

/// The serialized size of `T` in `compress` mode, taken from the type's zero value.
pub fn element_size<T: CanonicalSerialize + Default>(compress: Compress) -> usize {
    T::default().serialized_size(compress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_u16() {
        assert_eq!(Reader::new(&[1]).u16("count"), Err(DecodeError::Truncated("count")));
    }

    #[test]
    fn rejects_oversized_count_before_allocating() {
        let mut r = Reader::new(&[0xff, 0xff]);
        assert!(matches!(r.count("rows", 10), Err(DecodeError::TooMany { found: 65535, .. })));
    }

    #[test]
    fn rejects_trailing_data() {
        let mut r = Reader::new(&[0, 0, 7]);
        r.u16("n").unwrap();
        assert_eq!(r.finish("thing"), Err(DecodeError::TrailingData("thing")));
    }

    #[test]
    fn rejects_invalid_utf8() {
        let mut r = Reader::new(&[0, 2, 0xff, 0xfe]);
        assert_eq!(r.string("name", 10), Err(DecodeError::InvalidText("name")));
    }
}
