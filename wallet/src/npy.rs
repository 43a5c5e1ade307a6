//! `.npy` files (NumPy's format, versions 1.0 to 3.0) of 2-D int8 and int32 matrices: what
//! `cpcd job post` reads for A and B and `cpcd job fetch` writes for C. Only what the market
//! needs: C order, `|i1` (any byte order for one byte), `<i4` / `>i4`; anything else is refused
//! with what was expected and what was found.
//!
//! The format (numpy.lib.format): `\x93NUMPY`, major and minor version bytes, the header length
//! (le16 in 1.0, le32 in 2.0 and 3.0), then a Python dict literal
//! `{'descr': '<i4', 'fortran_order': False, 'shape': (m, n), }` padded with spaces and a final
//! newline so that the data starts at a multiple of 64, then the entries.

use anyhow::{anyhow, bail, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The element type of a matrix file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    I8,
    I32,
}

/// A matrix read from a `.npy` file: its shape and its entries, row-major (int32 entries as
/// little-endian bytes, the market's blob layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub dtype: Dtype,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u8>,
}

impl Matrix {
    pub fn i8s(&self) -> Vec<i8> {
        self.data.iter().map(|b| *b as i8).collect()
    }
    pub fn i32s(&self) -> Vec<i32> {
        self.data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
    }
}

/// The value of `key` in the header dict (the text up to the next top-level `,` or `}`).
fn field<'a>(header: &'a str, key: &str) -> Result<&'a str> {
    let pat = format!("'{key}':");
    let at = header.find(&pat).ok_or_else(|| anyhow!("npy header: no {key:?} in {header:?}"))?;
    let rest = header[at + pat.len()..].trim_start();
    let mut depth = 0;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Ok(rest[..i].trim()),
            _ => {}
        }
    }
    bail!("npy header: the value of {key:?} does not end")
}

/// Parses a `.npy` file holding a 2-D int8 or int32 matrix.
pub fn parse(bytes: &[u8]) -> Result<Matrix> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("not a .npy file: expected the magic \\x93NUMPY at the start");
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize, 12),
        _ => bail!("npy version {major}.{minor}: expected 1.0, 2.0 or 3.0"),
    };
    let header = bytes.get(start..start + hlen).ok_or_else(|| anyhow!("npy header: {hlen} bytes announced, the file is shorter"))?;
    let header = std::str::from_utf8(header).map_err(|_| anyhow!("npy header: not text"))?;
    let descr = field(header, "descr")?.trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "|i1" | "i1" | "<i1" | ">i1" | "|b" => Dtype::I8,
        "<i4" => Dtype::I32,
        ">i4" => Dtype::I32,
        other => bail!("npy dtype {other:?}: expected int8 ('|i1') or int32 ('<i4')"),
    };
    match field(header, "fortran_order")? {
        "False" => {}
        other => bail!("npy fortran_order {other}: expected False (C order, rows one after another)"),
    }
    let shape = field(header, "shape")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| anyhow!("npy shape {shape}: expected integers")))
        .collect::<Result<_>>()?;
    let [rows, cols] = dims[..] else { bail!("npy shape {shape}: expected a 2-D matrix (rows, cols)") };
    let size = match dtype {
        Dtype::I8 => 1,
        Dtype::I32 => 4,
    };
    let want = rows.checked_mul(cols).and_then(|x| x.checked_mul(size)).ok_or_else(|| anyhow!("npy shape {shape}: too large"))?;
    let data = &bytes[start + hlen..];
    if data.len() != want {
        bail!("npy data: a {rows} x {cols} {descr} matrix has {want} bytes, found {}", data.len());
    }
    let mut data = data.to_vec();
    if descr == ">i4" {
        for c in data.chunks_exact_mut(4) {
            c.reverse();
        }
    }
    Ok(Matrix { dtype, rows, cols, data })
}

/// Writes a matrix as a version 1.0 `.npy` file (`|i1` or `<i4`, C order).
pub fn write(m: &Matrix) -> Vec<u8> {
    let descr = match m.dtype {
        Dtype::I8 => "|i1",
        Dtype::I32 => "<i4",
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}), }}", m.rows, m.cols);
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + m.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&m.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpys_own_bytes_parse() {
        // np.arange(6, dtype=np.int8).reshape(2, 3) - 3 laid out as np.save writes it
        // (numpy.lib.format 1.0: the header padded with spaces to a multiple of 64, then '\n').
        let mut f = b"\x93NUMPY\x01\x00v\x00{'descr': '|i1', 'fortran_order': False, 'shape': (2, 3), }".to_vec();
        while f.len() < 127 {
            f.push(b' ');
        }
        f.push(b'\n');
        f.extend([0xfd, 0xfe, 0xff, 0x00, 0x01, 0x02]);
        let m = parse(&f).unwrap();
        assert_eq!((m.dtype, m.rows, m.cols), (Dtype::I8, 2, 3));
        assert_eq!(m.i8s(), vec![-3, -2, -1, 0, 1, 2]);
        assert_eq!(write(&m), f, "our writer makes numpy's bytes");
    }

    /// A version 1.0 file with this header dict and data (padded as `write` pads).
    fn raw(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn int32_round_trips_and_big_endian_is_converted() {
        let v: Vec<i32> = vec![-(1 << 26), 0, 1, 123_456_789];
        let m = Matrix { dtype: Dtype::I32, rows: 2, cols: 2, data: v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        assert_eq!(parse(&write(&m)).unwrap().i32s(), v);
        let be: Vec<u8> = v.iter().flat_map(|x| x.to_be_bytes()).collect();
        let f = raw("{'descr': '>i4', 'fortran_order': False, 'shape': (2, 2), }", &be);
        assert_eq!(parse(&f).unwrap().i32s(), v);
        // Version 2.0 (a 4-byte header length) reads the same.
        let mut v2 = f.clone();
        v2[6] = 2;
        let hlen = u16::from_le_bytes([f[8], f[9]]) as u32;
        v2.splice(8..10, hlen.to_le_bytes());
        assert_eq!(parse(&v2).unwrap().i32s(), v);
    }

    #[test]
    fn what_the_market_cannot_use_is_refused_with_the_reason() {
        let d = [1u8, 2, 3, 4];
        let err = |f: &[u8]| parse(f).unwrap_err().to_string();
        assert!(err(&raw("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", &d)).contains("expected int8"));
        assert!(err(&raw("{'descr': '|i1', 'fortran_order': True, 'shape': (2, 2), }", &d)).contains("expected False"));
        assert!(err(&raw("{'descr': '|i1', 'fortran_order': False, 'shape': (4,), }", &d)).contains("expected a 2-D matrix"));
        assert!(err(&raw("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 2), }", &d[..3])).contains("has 4 bytes, found 3"));
        assert!(err(b"PK\x03\x04 not npy").contains("not a .npy file"));
        let mut v9 = raw("{'descr': '|i1', 'fortran_order': False, 'shape': (2, 2), }", &d);
        v9[6] = 9;
        assert!(err(&v9).contains("npy version 9.0"));
    }
}
