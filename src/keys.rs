//! From PostgreSQL values to the core's memcomparable keys. The pure encoding lives in
//! `tablecache_core::keys`; this module knows PostgreSQL's types, collations and casts.

use pgrx::pg_sys::{self, Datum, Oid};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use tablecache_core::keys::{ColKind, KeyEncoder};

/// How one key column is encoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyType {
    Bool,
    I16,
    I32,
    I64,
    U32,
    F32,
    F64,
    Numeric,
    Uuid,
    Interval,
    Bytes,
    /// text-like with its collation; `pad` strips trailing blanks (bpchar semantics)
    Text { coll: Collate, pad: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Collate {
    /// byte order (the "C" and "POSIX" collations)
    Bytes,
    /// the database's default libc collation, already set by PostgreSQL with setlocale()
    DbDefault,
    /// a libc locale_t made for a named collation (kept for the life of the backend)
    Libc(usize),
}

impl KeyType {
    pub fn col_kind(&self) -> ColKind {
        match self {
            KeyType::Bool => ColKind::Fixed(1),
            KeyType::I16 => ColKind::Fixed(2),
            KeyType::I32 | KeyType::U32 | KeyType::F32 => ColKind::Fixed(4),
            KeyType::I64 | KeyType::F64 => ColKind::Fixed(8),
            KeyType::Uuid | KeyType::Interval => ColKind::Fixed(16),
            KeyType::Numeric => tablecache_core::keys::KIND_NUMERIC,
            KeyType::Bytes => ColKind::Var(1),
            KeyType::Text { coll: Collate::Bytes, .. } => ColKind::Var(1),
            KeyType::Text { .. } => ColKind::Var(2),
        }
    }
}

extern "C" {
    fn newlocale(mask: c_int, locale: *const c_char, base: *mut c_void) -> *mut c_void;
    fn strxfrm(dest: *mut c_char, src: *const c_char, n: usize) -> usize;
    fn strxfrm_l(dest: *mut c_char, src: *const c_char, n: usize, loc: *mut c_void) -> usize;
}
const NUMERIC_OUT: u32 = 1702; // pg_proc oid of numeric_out
const LC_COLLATE_MASK: c_int = 1 << 3; // glibc: LC_COLLATE = 3

thread_local! {
    static LOCALES: RefCell<HashMap<u32, Collate>> = RefCell::new(HashMap::new());
}

fn is_c_locale(name: &str) -> bool {
    name == "C" || name == "POSIX"
}

fn collate_for(collation: Oid) -> Result<Collate, String> {
    if collation == pg_sys::C_COLLATION_OID || collation == pg_sys::POSIX_COLLATION_OID || collation == pg_sys::InvalidOid {
        return Ok(Collate::Bytes);
    }
    if let Some(c) = LOCALES.with(|l| l.borrow().get(&collation.to_u32()).copied()) {
        return Ok(c);
    }
    let (provider, collate): (Option<i8>, Option<String>) = if collation == pg_sys::DEFAULT_COLLATION_OID {
        crate::catalog::select_two("SELECT datlocprovider, datcollate::text FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()", &[])
    } else {
        crate::catalog::select_two(
            "SELECT collprovider, collcollate FROM pg_catalog.pg_collation WHERE oid OPERATOR(pg_catalog.=) $1",
            &[collation.into()],
        )
    };
    let provider = provider.map(|p| p as u8 as char).unwrap_or('c');
    let collate = collate.unwrap_or_default();
    let c = match provider {
        'c' | 'd' if is_c_locale(&collate) => Collate::Bytes,
        'c' | 'd' if collation == pg_sys::DEFAULT_COLLATION_OID => Collate::DbDefault,
        'c' | 'd' => {
            let cname = CString::new(collate.clone()).map_err(|e| e.to_string())?;
            let loc = unsafe { newlocale(LC_COLLATE_MASK, cname.as_ptr(), std::ptr::null_mut()) };
            if loc.is_null() {
                return Err(format!("could not create locale \"{collate}\""));
            }
            Collate::Libc(loc as usize)
        }
        _ => return Err("ICU collations are not supported for index keys yet; use a libc collation or COLLATE \"C\"".into()),
    };
    LOCALES.with(|l| l.borrow_mut().insert(collation.to_u32(), c));
    Ok(c)
}

/// The key type of a column, or (SQLSTATE, message) when it cannot be an index key.
pub fn key_type_for(typid: Oid, collation: Oid) -> Result<KeyType, (pgrx::PgSqlErrorCode, String)> {
    use pgrx::PgSqlErrorCode::*;
    let base = unsafe { pg_sys::getBaseType(typid) };
    if unsafe { pg_sys::GetDefaultOpClass(base, pg_sys::BTREE_AM_OID) } == pg_sys::InvalidOid {
        return Err((ERRCODE_UNDEFINED_FUNCTION, format!("type {} has no default btree operator class", type_name(typid))));
    }
    let text = |pad| -> Result<KeyType, (pgrx::PgSqlErrorCode, String)> {
        collate_for(collation).map(|coll| KeyType::Text { coll, pad }).map_err(|m| (ERRCODE_FEATURE_NOT_SUPPORTED, m))
    };
    Ok(match base {
        pg_sys::BOOLOID => KeyType::Bool,
        pg_sys::INT2OID => KeyType::I16,
        pg_sys::INT4OID | pg_sys::DATEOID => KeyType::I32,
        pg_sys::INT8OID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID | pg_sys::TIMEOID => KeyType::I64,
        pg_sys::OIDOID => KeyType::U32,
        pg_sys::FLOAT4OID => KeyType::F32,
        pg_sys::FLOAT8OID => KeyType::F64,
        pg_sys::NUMERICOID => KeyType::Numeric,
        pg_sys::UUIDOID => KeyType::Uuid,
        pg_sys::INTERVALOID => KeyType::Interval,
        pg_sys::BYTEAOID => KeyType::Bytes,
        pg_sys::NAMEOID => KeyType::Text { coll: Collate::Bytes, pad: false },
        pg_sys::TEXTOID | pg_sys::VARCHAROID => text(false)?,
        pg_sys::BPCHAROID => text(true)?,
        _ => {
            return Err((
                ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("type {} is not supported as an index key yet", type_name(typid)),
            ))
        }
    })
}

pub fn type_name(typid: Oid) -> String {
    unsafe {
        let p = pg_sys::format_type_be(typid);
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

unsafe fn varlena_bytes<'a>(d: Datum) -> &'a [u8] {
    unsafe {
        let v = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
        let len = pgrx::varsize_any_exhdr(v);
        let data = pgrx::vardata_any(v) as *const u8;
        std::slice::from_raw_parts(data, len)
    }
}

fn xfrm(coll: Collate, s: &[u8], out: &mut Vec<u8>) {
    let c = CString::new(s).unwrap_or_default();
    out.clear();
    out.resize(s.len() * 4 + 16, 0);
    loop {
        let n = unsafe {
            match coll {
                Collate::Libc(loc) => strxfrm_l(out.as_mut_ptr() as *mut c_char, c.as_ptr(), out.len(), loc as *mut c_void),
                _ => strxfrm(out.as_mut_ptr() as *mut c_char, c.as_ptr(), out.len()),
            }
        };
        if n < out.len() {
            out.truncate(n);
            return;
        }
        out.resize(n + 1, 0);
    }
}

thread_local! {
    static XFRM_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Appends one column to `enc`.
///
/// # Safety
/// `d` is a valid datum of the column's type when `isnull` is false.
pub unsafe fn push_datum(enc: &mut KeyEncoder, kt: KeyType, d: Datum, isnull: bool) {
    if isnull {
        enc.push_null();
        return;
    }
    unsafe {
        match kt {
            KeyType::Bool => enc.push_bool(d.value() != 0),
            KeyType::I16 => enc.push_i16(d.value() as i16),
            KeyType::I32 => enc.push_i32(d.value() as i32),
            KeyType::I64 => enc.push_i64(d.value() as i64),
            KeyType::U32 => enc.push_u32(d.value() as u32),
            KeyType::F32 => enc.push_f32(f32::from_bits(d.value() as u32)),
            KeyType::F64 => enc.push_f64(f64::from_bits(d.value() as u64)),
            KeyType::Uuid => enc.push_fixed_bytes(std::slice::from_raw_parts(d.cast_mut_ptr::<u8>(), 16)),
            KeyType::Interval => {
                let iv = &*(d.cast_mut_ptr::<pg_sys::Interval>());
                let span = (iv.month as i128 * 30 + iv.day as i128) * 86_400_000_000i128 + iv.time as i128;
                enc.push_i128(span);
            }
            KeyType::Numeric => {
                let p = pg_sys::OidOutputFunctionCall(pg_sys::Oid::from(NUMERIC_OUT), d);
                let _ = enc.push_numeric_str(&CStr::from_ptr(p).to_string_lossy());
                pg_sys::pfree(p.cast());
            }
            KeyType::Bytes => enc.push_bytes(varlena_bytes(d)),
            KeyType::Text { coll, pad } => {
                let mut b = varlena_bytes(d);
                if pad {
                    while let [rest @ .., b' '] = b {
                        b = rest;
                    }
                }
                match coll {
                    Collate::Bytes => enc.push_bytes(b),
                    _ => XFRM_BUF.with(|buf| {
                        let mut buf = buf.borrow_mut();
                        xfrm(coll, b, &mut buf);
                        enc.push_collated(&buf, b);
                    }),
                }
            }
        }
    }
}
