//! A bounds-checked little/big-endian reader over a byte slice that reports the file and byte
//! offset of anything it cannot read.

use crate::SceneError;
use std::path::Path;

pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
    big_endian: bool,
}

impl<'a> ByteReader<'a> {
    pub fn new(data: &'a [u8], path: &'a Path) -> Self {
        Self {
            data,
            pos: 0,
            path,
            big_endian: false,
        }
    }

    pub fn with_offset(data: &'a [u8], path: &'a Path, pos: usize, big_endian: bool) -> Self {
        Self {
            data,
            pos,
            path,
            big_endian,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn error(&self, message: impl Into<String>) -> SceneError {
        SceneError::Binary {
            path: self.path.to_path_buf(),
            offset: self.pos as u64,
            message: message.into(),
        }
    }

    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> SceneError {
        SceneError::Binary {
            path: self.path.to_path_buf(),
            offset: offset as u64,
            message: message.into(),
        }
    }

    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SceneError> {
        if self.remaining() < n {
            return Err(self.error(format!(
                "expected {what} ({n} bytes) but the file ends after {} more bytes",
                self.remaining()
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], SceneError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        if self.big_endian {
            a.reverse();
        }
        Ok(a)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, SceneError> {
        Ok(self.take(1, what)?[0])
    }
    pub fn u32(&mut self, what: &str) -> Result<u32, SceneError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &str) -> Result<i32, SceneError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64, SceneError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> Result<f64, SceneError> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A count read from the file, checked against the bytes left so that a corrupt count
    /// cannot make us allocate more than the file could hold.
    pub fn count(&mut self, what: &str, min_record_bytes: usize) -> Result<usize, SceneError> {
        let start = self.pos;
        let n = self.u64(what)?;
        let possible = (self.remaining() / min_record_bytes.max(1)) as u64;
        if n > possible {
            self.pos = start;
            return Err(self.error(format!(
                "{what} is {n}, but only {} bytes follow (room for at most {possible})",
                self.remaining() - 8
            )));
        }
        Ok(n as usize)
    }

    /// Bytes up to (not including) a NUL terminator, which is consumed.
    pub fn c_string(&mut self, what: &str) -> Result<String, SceneError> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            return Err(self.error(format!(
                "expected {what} ending in a NUL byte but the file ends first"
            )));
        };
        let s = String::from_utf8(rest[..end].to_vec())
            .map_err(|_| self.error(format!("{what} is not valid UTF-8")))?;
        self.pos += end + 1;
        Ok(s)
    }
}
