//! A key or bound of one index: its encoded key (the order the index is searched in) and each
//! column's value as the raw image of its datum (the bytes PostgreSQL holds in memory), which
//! travels through shared memory and becomes a typed query parameter again in another backend.
//! No setting of any session (DateStyle, TimeZone, extra_float_digits, lc_*, client encoding)
//! can change an image, unlike a value's text form.

use pgrx::pg_sys::{self, Datum, Oid};
use std::ffi::CStr;

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub typid: Oid,
    /// the datum's bytes; None for NULL
    pub image: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub struct Bound {
    pub key: Vec<u8>,
    /// the leading columns it fixes, in index order
    pub values: Vec<Value>,
}

fn typlenbyval(typ: Oid) -> (i16, bool) {
    let (mut len, mut byval) = (0i16, false);
    unsafe { pg_sys::get_typlenbyval(typ, &mut len, &mut byval) };
    (len, byval)
}

/// The image of datum `d` of type `typ`.
///
/// # Safety
/// `d` is a valid, non-NULL datum of type `typ`.
pub unsafe fn image_of(d: Datum, typ: Oid) -> Vec<u8> {
    let (len, byval) = typlenbyval(typ);
    unsafe {
        if byval {
            (d.value() as u64).to_le_bytes().to_vec()
        } else if len > 0 {
            std::slice::from_raw_parts(d.cast_mut_ptr::<u8>(), len as usize).to_vec()
        } else if len == -1 {
            let v = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
            std::slice::from_raw_parts(v as *const u8, pgrx::varsize_any(v)).to_vec()
        } else {
            CStr::from_ptr(d.cast_mut_ptr()).to_bytes_with_nul().to_vec()
        }
    }
}

/// A datum made from an image (by-reference values copied into palloc'd, aligned memory of the
/// current memory context).
pub fn datum_of(image: &[u8], typ: Oid) -> Datum {
    let (_, byval) = typlenbyval(typ);
    if byval {
        let mut b = [0u8; 8];
        b[..image.len().min(8)].copy_from_slice(&image[..image.len().min(8)]);
        return Datum::from(u64::from_le_bytes(b) as usize);
    }
    unsafe {
        let p = pg_sys::palloc(image.len().max(1)) as *mut u8;
        std::ptr::copy_nonoverlapping(image.as_ptr(), p, image.len());
        Datum::from(p)
    }
}

/// The text form of a value (its type's output function, under the current settings).
pub fn output_text(d: Datum, typ: Oid) -> String {
    unsafe {
        let (mut out, mut varlena) = (pg_sys::InvalidOid, false);
        pg_sys::getTypeOutputInfo(typ, &mut out, &mut varlena);
        let p = pg_sys::OidOutputFunctionCall(out, d);
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        pg_sys::pfree(p.cast());
        s
    }
}

impl Value {
    pub fn datum(&self) -> Option<Datum> {
        self.image.as_deref().map(|i| datum_of(i, self.typid))
    }

    /// The value's text form under the current settings (for messages and the catalog, whose
    /// callers pin the settings), `NULL` for NULL.
    pub fn text(&self) -> Option<String> {
        self.datum().map(|d| output_text(d, self.typid))
    }
}

impl Bound {
    pub fn ncols(&self) -> usize {
        self.values.len()
    }

    /// The columns' text forms (None for NULL), under the current settings.
    pub fn texts(&self) -> Vec<Option<String>> {
        self.values.iter().map(Value::text).collect()
    }

    /// Renders the bound for messages and views: `42` or `(42,2026-01-01)`.
    pub fn display(&self) -> String {
        let texts: Vec<String> = self.texts().into_iter().map(|t| t.unwrap_or_else(|| "NULL".into())).collect();
        if texts.len() == 1 {
            texts[0].clone()
        } else {
            format!("({})", texts.join(","))
        }
    }

    /// The form kept in shared memory: the key, then each value (type, length or -1, image).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.key.len() + 8 + self.values.iter().map(|v| 8 + v.image.as_ref().map_or(0, Vec::len)).sum::<usize>());
        buf.extend_from_slice(&self.key);
        buf.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
        for v in &self.values {
            buf.extend_from_slice(&v.typid.to_u32().to_le_bytes());
            match &v.image {
                None => buf.extend_from_slice(&(-1i32).to_le_bytes()),
                Some(i) => {
                    buf.extend_from_slice(&(i.len() as i32).to_le_bytes());
                    buf.extend_from_slice(i);
                }
            }
        }
        buf
    }

    /// Reads `to_bytes`'s form; `key_len` bytes of key come first.
    ///
    /// # Safety
    /// `p` points at a block written from `to_bytes` of a bound whose key is `key_len` long.
    pub unsafe fn from_raw(p: *const u8, key_len: usize) -> Bound {
        unsafe fn rd(q: &mut *const u8) -> u32 {
            unsafe {
                let v = (*q as *const u32).read_unaligned();
                *q = q.add(4);
                v
            }
        }
        unsafe {
            let key = std::slice::from_raw_parts(p, key_len).to_vec();
            let mut q = p.add(key_len);
            let n = rd(&mut q);
            let mut values = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let typid = Oid::from(rd(&mut q));
                let len = rd(&mut q) as i32;
                let image = if len >= 0 {
                    let s = std::slice::from_raw_parts(q, len as usize).to_vec();
                    q = q.add(len as usize);
                    Some(s)
                } else {
                    None
                };
                values.push(Value { typid, image });
            }
            Bound { key, values }
        }
    }
}
