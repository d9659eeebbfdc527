//! Memcomparable key encoding.
//!
//! Index keys are byte strings whose `memcmp` order equals PostgreSQL's btree
//! order of the row value `(c1, c2, ...)`, so the index never calls back into
//! type-specific comparison functions (which would need a backend and
//! catalog lookups in the middle of a shared-memory scan).
//!
//! Every column starts with a tag byte; `TAG_VALUE < TAG_NULL` puts NULL after
//! every value, like btree's default NULLS LAST. Fixed-width values follow as
//! order-preserving big-endian bytes. Variable-width values are escaped parts:
//! `0x00` becomes `0x00 0xFF` and a part ends with `0x00 0x01`, which makes
//! each part prefix-free (the column boundary is findable) while keeping
//! byte order (the terminator is below any continuation).

use std::cmp::Ordering;

pub const TAG_VALUE: u8 = 0x01;
pub const TAG_NULL: u8 = 0x02;

/// Shape of one column's value bytes, needed to find column boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColKind {
    /// `n` value bytes after the tag.
    Fixed(u8),
    /// `p` escaped parts after the tag, each terminated by `0x00 0x01`.
    /// Numeric values use `Var(1)`.
    Var(u8),
}

/// ColKind of each `push_*` method, for building layouts.
pub const KIND_BOOL: ColKind = ColKind::Fixed(1);
pub const KIND_I16: ColKind = ColKind::Fixed(2);
pub const KIND_I32: ColKind = ColKind::Fixed(4);
pub const KIND_U32: ColKind = ColKind::Fixed(4);
pub const KIND_I64: ColKind = ColKind::Fixed(8);
pub const KIND_I128: ColKind = ColKind::Fixed(16);
pub const KIND_F32: ColKind = ColKind::Fixed(4);
pub const KIND_F64: ColKind = ColKind::Fixed(8);
pub const KIND_BYTES: ColKind = ColKind::Var(1);
pub const KIND_COLLATED: ColKind = ColKind::Var(2);
pub const KIND_NUMERIC: ColKind = ColKind::Var(1);

const ESC: u8 = 0xFF;
const TERM: u8 = 0x01;

/// Builds one key; reuse it (`clear`) to avoid an allocation per row.
#[derive(Clone, Debug, Default)]
pub struct KeyEncoder {
    buf: Vec<u8>,
}

impl KeyEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.buf.clear()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn push_null(&mut self) {
        self.buf.push(TAG_NULL)
    }

    fn value(&mut self, bytes: &[u8]) {
        self.buf.push(TAG_VALUE);
        self.buf.extend_from_slice(bytes);
    }

    pub fn push_bool(&mut self, v: bool) {
        self.value(&[v as u8])
    }

    /// Flipping the sign bit maps two's complement order onto unsigned order.
    pub fn push_i16(&mut self, v: i16) {
        self.value(&((v as u16) ^ 0x8000).to_be_bytes())
    }

    pub fn push_i32(&mut self, v: i32) {
        self.value(&((v as u32) ^ 0x8000_0000).to_be_bytes())
    }

    pub fn push_u32(&mut self, v: u32) {
        self.value(&v.to_be_bytes())
    }

    pub fn push_i64(&mut self, v: i64) {
        self.value(&((v as u64) ^ (1 << 63)).to_be_bytes())
    }

    pub fn push_i128(&mut self, v: i128) {
        self.value(&((v as u128) ^ (1 << 127)).to_be_bytes())
    }

    /// PostgreSQL float order: -0 equals 0 and every NaN equals every other
    /// NaN and sorts above +inf, so both are canonicalised before the usual
    /// sign-magnitude to unsigned mapping.
    pub fn push_f32(&mut self, v: f32) {
        let bits = if v.is_nan() {
            u32::MAX
        } else {
            let b = if v == 0.0 { 0 } else { v.to_bits() };
            if b >> 31 == 1 { !b } else { b | 1 << 31 }
        };
        self.value(&bits.to_be_bytes())
    }

    pub fn push_f64(&mut self, v: f64) {
        let bits = if v.is_nan() {
            u64::MAX
        } else {
            let b = if v == 0.0 { 0 } else { v.to_bits() };
            if b >> 63 == 1 { !b } else { b | 1 << 63 }
        };
        self.value(&bits.to_be_bytes())
    }

    /// Fixed-width bytes compared bytewise (uuid); ColKind::Fixed(b.len()).
    pub fn push_fixed_bytes(&mut self, b: &[u8]) {
        self.value(b)
    }

    /// bytea, or text under the "C" collation (plain byte order).
    pub fn push_bytes(&mut self, b: &[u8]) {
        self.buf.push(TAG_VALUE);
        self.part(b);
    }

    /// Text under a deterministic collation: the strxfrm sort key decides,
    /// and equal sort keys fall back to the raw bytes as PostgreSQL does.
    pub fn push_collated(&mut self, sortkey: &[u8], raw: &[u8]) {
        self.buf.push(TAG_VALUE);
        self.part(sortkey);
        self.part(raw);
    }

    /// A PostgreSQL `numeric_out` string (plain decimal, "NaN", "Infinity",
    /// "-Infinity"); ColKind::Var(1). Equal values encode equally whatever
    /// their scale, see [`numeric_payload`].
    pub fn push_numeric_str(&mut self, s: &str) -> Result<(), String> {
        let payload = numeric_payload(s)?;
        self.buf.push(TAG_VALUE);
        self.part(&payload);
        Ok(())
    }

    fn part(&mut self, b: &[u8]) {
        for &c in b {
            self.buf.push(c);
            if c == 0 {
                self.buf.push(ESC);
            }
        }
        self.buf.extend_from_slice(&[0, TERM]);
    }
}

/// Order-preserving bytes for a numeric (before escaping).
///
/// Class byte: -Infinity 1, negative 2, zero 3, positive 4, Infinity 5, NaN 6.
/// A finite non-zero value is `0.d1d2... * 10^e` with `d1 != 0` and trailing
/// zeros dropped, so the form is canonical. Positives: `e` as a sign-flipped
/// big-endian i32, then digit pairs as bytes `10*a+b+1` (1..=100; an odd last
/// digit is padded with 0, harmless since trailing zeros are gone). A shorter
/// digit string is then a smaller value, as prefix order wants. Negatives:
/// every byte complemented (155..=254 for digits) plus a final 0xFF, so order
/// reverses and a shorter digit string (smaller magnitude) now sorts higher.
pub fn numeric_payload(s: &str) -> Result<Vec<u8>, String> {
    match s {
        "NaN" => return Ok(vec![6]),
        "Infinity" | "+Infinity" => return Ok(vec![5]),
        "-Infinity" => return Ok(vec![1]),
        _ => {}
    }
    let bad = || format!("invalid numeric text {s:?}");
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let int = int.trim_start_matches('0');
    let (exp, digits) = if int.is_empty() {
        let f = frac.trim_start_matches('0');
        (-((frac.len() - f.len()) as i64), f.as_bytes().to_vec())
    } else {
        (int.len() as i64, [int.as_bytes(), frac.as_bytes()].concat())
    };
    let digits = {
        let n = digits.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1);
        &digits[..n]
    };
    if digits.is_empty() {
        return Ok(vec![3]);
    }
    let exp = i32::try_from(exp).map_err(|_| bad())?;
    let mut out = Vec::with_capacity(6 + digits.len() / 2);
    out.push(if neg { 2 } else { 4 });
    out.extend_from_slice(&((exp as u32) ^ 0x8000_0000).to_be_bytes());
    for pair in digits.chunks(2) {
        let a = pair[0] - b'0';
        let b = pair.get(1).map_or(0, |c| c - b'0');
        out.push(10 * a + b + 1);
    }
    if neg {
        for c in &mut out[1..] {
            *c = !*c;
        }
        out.push(0xFF);
    }
    Ok(out)
}

/// Length of the escaped part at the start of `b` (terminator included), or
/// None if `b` ends before the terminator.
fn part_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let z = i + b.get(i..)?.iter().position(|&c| c == 0)?;
        match b.get(z + 1)? {
            &TERM => return Some(z + 2),
            _ => i = z + 2,
        }
    }
}

/// Column slices (tag included) of a key, one per complete column present;
/// a key may be a prefix of the layout. None = NULL. A truncated trailing
/// column is not reported.
pub fn split_columns<'a>(key: &'a [u8], layout: &[ColKind]) -> Vec<Option<&'a [u8]>> {
    let mut out = Vec::with_capacity(layout.len());
    let mut pos = 0;
    for kind in layout {
        let Some(&tag) = key.get(pos) else { break };
        if tag == TAG_NULL {
            out.push(None);
            pos += 1;
            continue;
        }
        let mut end = pos + 1;
        let ok = match *kind {
            ColKind::Fixed(n) => {
                end += n as usize;
                end <= key.len()
            }
            ColKind::Var(p) => (0..p).all(|_| match part_len(&key[end..]) {
                Some(l) => {
                    end += l;
                    true
                }
                None => false,
            }),
        };
        if tag != TAG_VALUE || !ok {
            break;
        }
        out.push(Some(&key[pos..end]));
        pos = end;
    }
    out
}

pub fn column_count(key: &[u8], layout: &[ColKind]) -> usize {
    split_columns(key, layout).len()
}

pub fn has_null(key: &[u8], layout: &[ColKind]) -> bool {
    split_columns(key, layout).iter().any(Option::is_none)
}

/// SQL row comparison of `key` against a possibly shorter `bound`: columns
/// left to right, stopping at the first pair that differs or involves a
/// NULL; a NULL makes the answer unknown (None). This is what a WHERE clause
/// `(a, b) >= (x, y)` means, which differs from the NULLS LAST index order.
/// `col(j, x, y)` compares two column slices (tag included) of column `j`.
pub fn sql_compare_by(key: &[u8], bound: &[u8], layout: &[ColKind], mut col: impl FnMut(usize, &[u8], &[u8]) -> Ordering) -> Option<Ordering> {
    let k = split_columns(key, layout);
    let b = split_columns(bound, layout);
    for (j, (x, y)) in k.iter().zip(&b).enumerate() {
        match (x, y) {
            (Some(x), Some(y)) => match col(j, x, y) {
                Ordering::Equal => {}
                o => return Some(o),
            },
            _ => return None,
        }
    }
    Some(Ordering::Equal)
}

/// [`sql_compare_by`] with byte order for every column.
pub fn sql_compare(key: &[u8], bound: &[u8], layout: &[ColKind]) -> Option<Ordering> {
    sql_compare_by(key, bound, layout, |_, x, y| x.cmp(y))
}

/// `key >= ge AND key < lt` under SQL semantics; unknown is not in range.
pub fn sql_in_range_by(key: &[u8], ge: Option<&[u8]>, lt: Option<&[u8]>, layout: &[ColKind], mut col: impl FnMut(usize, &[u8], &[u8]) -> Ordering) -> bool {
    ge.is_none_or(|g| matches!(sql_compare_by(key, g, layout, &mut col), Some(Ordering::Greater | Ordering::Equal)))
        && lt.is_none_or(|l| sql_compare_by(key, l, layout, &mut col) == Some(Ordering::Less))
}

/// [`sql_in_range_by`] with byte order for every column.
pub fn sql_in_range(key: &[u8], ge: Option<&[u8]>, lt: Option<&[u8]>, layout: &[ColKind]) -> bool {
    sql_in_range_by(key, ge, lt, layout, |_, x, y| x.cmp(y))
}

/// The bytes of an escaped part (escapes removed), and the part's length in `b`.
pub fn unescape_part(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let len = part_len(b)?;
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < len - 2 {
        out.push(b[i]);
        i += if b[i] == 0 { 2 } else { 1 };
    }
    Some((out, len))
}

/// Compares two keys of one layout column by column, in the index's order: NULLS LAST, a key
/// that is a prefix of the other first, a `prefix_end` sentinel above everything it extends.
/// Columns marked in `collated` (single-part byte strings: text under a collation) are
/// compared by `coll(column, a, b)` on their unescaped bytes; every other column by its bytes.
/// With no collated column this equals plain byte order.
pub fn cmp_collated(a: &[u8], b: &[u8], layout: &[ColKind], collated: &[bool], mut coll: impl FnMut(usize, &[u8], &[u8]) -> Ordering) -> Ordering {
    let (mut pa, mut pb) = (0usize, 0usize);
    for (j, kind) in layout.iter().enumerate() {
        let (ta, tb) = match (a.get(pa), b.get(pb)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(&x), Some(&y)) => (x, y),
        };
        if ta != tb || ta != TAG_VALUE {
            match ta.cmp(&tb) {
                Ordering::Equal if ta == TAG_NULL => {
                    pa += 1;
                    pb += 1;
                    continue;
                }
                Ordering::Equal => return a[pa..].cmp(&b[pb..]), // sentinels or malformed: bytes decide
                o => return o,
            }
        }
        let width = |k: &[u8]| -> Option<usize> {
            match *kind {
                ColKind::Fixed(n) => (n as usize + 1 <= k.len()).then_some(n as usize + 1),
                ColKind::Var(p) => {
                    let mut end = 1;
                    for _ in 0..p {
                        end += part_len(&k[end..])?;
                    }
                    Some(end)
                }
            }
        };
        let (Some(wa), Some(wb)) = (width(&a[pa..]), width(&b[pb..])) else {
            return a[pa..].cmp(&b[pb..]);
        };
        let o = if collated.get(j).copied().unwrap_or(false) {
            match (unescape_part(&a[pa + 1..]), unescape_part(&b[pb + 1..])) {
                (Some((x, _)), Some((y, _))) => coll(j, &x, &y),
                _ => a[pa..pa + wa].cmp(&b[pb..pb + wb]),
            }
        } else {
            a[pa..pa + wa].cmp(&b[pb..pb + wb])
        };
        if o != Ordering::Equal {
            return o;
        }
        pa += wa;
        pb += wb;
    }
    a[pa..].cmp(&b[pb..])
}

/// Smallest byte string above every key that extends the complete-column
/// prefix `p`: every column starts with a tag below 0xFF.
pub fn prefix_end(p: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() + 1);
    v.extend_from_slice(p);
    v.push(0xFF);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Vec<u8> {
        let mut e = KeyEncoder::new();
        e.push_numeric_str(s).unwrap();
        e.as_bytes().to_vec()
    }

    #[test]
    fn numeric_canonical_and_ordered() {
        assert_eq!(num("1.50"), num("1.5"));
        assert_eq!(num("-0"), num("0"));
        assert_eq!(num("0.000"), num("0"));
        assert_eq!(num("-0012.3400"), num("-12.34"));
        assert_eq!(num("100"), num("100.0"));
        let ordered = [
            "-Infinity", "-1000", "-999.99", "-1.5", "-1.05", "-1", "-0.5", "-0.0001", "0", "0.0001",
            "0.001", "0.0011", "0.5", "1", "1.05", "1.5", "9", "10", "100", "1000000000000000000000000",
            "Infinity", "NaN",
        ];
        for w in ordered.windows(2) {
            assert!(num(w[0]) < num(w[1]), "{} < {}", w[0], w[1]);
        }
        let huge = format!("1{}", "0".repeat(5000));
        assert!(num(&huge) > num("9"));
        assert!(num(&format!("-{huge}")) < num("-9"));
        for bad in ["", "-", ".", "1e5", "abc", "1.2.3", " 1", "--1"] {
            assert!(KeyEncoder::new().push_numeric_str(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn split_prefix_and_nulls() {
        let layout = [KIND_I32, KIND_BYTES, KIND_NUMERIC, KIND_COLLATED];
        let mut e = KeyEncoder::new();
        e.push_i32(7);
        e.push_bytes(b"a\0b");
        e.push_null();
        e.push_collated(b"\0\0", b"x");
        let k = e.as_bytes();
        let cols = split_columns(k, &layout);
        assert_eq!(cols.len(), 4);
        assert!(cols[2].is_none());
        assert!(has_null(k, &layout));
        assert_eq!(column_count(&k[..5], &layout), 1);
        assert_eq!(column_count(&k[..7], &layout), 1);
        assert_eq!(sql_compare(k, &k[..5], &layout), Some(Ordering::Equal));
        assert_eq!(sql_compare(k, k, &layout), None);
        assert!(k < &prefix_end(&k[..5])[..]);
    }
}
