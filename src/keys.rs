//! From PostgreSQL values to the core's memcomparable keys. The pure encoding lives in
//! `tablecache_core::keys`; this module knows PostgreSQL's types, collations and casts.

use pgrx::pg_sys::{self, Datum, Oid};
use std::ffi::{c_char, c_int, CStr};
use tablecache_core::keys::{ColKind, KeyEncoder};

const NUMERIC_OUT: u32 = 1702; // pg_proc oid of numeric_out

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
    /// text-like: its bytes; `collation` (InvalidOid: byte order, the "C" and "POSIX"
    /// collations) orders it the way PostgreSQL does (`varstr_cmp`: strcoll, ties broken by
    /// bytes). `pad` strips trailing blanks (bpchar); `name` reads a NameData.
    Text { collation: Oid, pad: bool, name: bool },
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
            KeyType::Bytes | KeyType::Text { .. } => ColKind::Var(1),
        }
    }

    /// Is it ordered by a collation rather than by its bytes?
    pub fn is_collated(&self) -> bool {
        matches!(self, KeyType::Text { collation, .. } if *collation != pg_sys::InvalidOid)
    }

    pub fn collation(&self) -> Oid {
        match self {
            KeyType::Text { collation, .. } => *collation,
            _ => pg_sys::InvalidOid,
        }
    }
}

/// Compares two encoded keys of one index, in PostgreSQL's order for its columns.
pub fn cmp_keys(types: &[KeyType], layout: &[ColKind], collated: &[bool], a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if !collated.iter().any(|&c| c) {
        return a.cmp(b);
    }
    tablecache_core::keys::cmp_collated(a, b, layout, collated, |j, x, y| cmp_text(x, y, types[j].collation()))
}

/// PostgreSQL's comparison of two strings under `collation` (what `ORDER BY` and `<` use).
pub fn cmp_text(x: &[u8], y: &[u8], collation: Oid) -> std::cmp::Ordering {
    let r = unsafe { pg_sys::varstr_cmp(x.as_ptr() as *const c_char, x.len() as c_int, y.as_ptr() as *const c_char, y.len() as c_int, collation) };
    r.cmp(&0)
}

/// One column slice (tag included) against another, for SQL-semantics range checks.
pub fn cmp_column(kt: KeyType, x: &[u8], y: &[u8]) -> std::cmp::Ordering {
    if !kt.is_collated() {
        return x.cmp(y);
    }
    match (tablecache_core::keys::unescape_part(&x[1..]), tablecache_core::keys::unescape_part(&y[1..])) {
        (Some((a, _)), Some((b, _))) => cmp_text(&a, &b, kt.collation()),
        _ => x.cmp(y),
    }
}

/// The collation a text column is ordered by: InvalidOid for byte order ("C", "POSIX"), or
/// the collation itself (a libc locale); ICU collations are refused.
fn collation_for(collation: Oid) -> Result<Oid, String> {
    if collation == pg_sys::C_COLLATION_OID || collation == pg_sys::POSIX_COLLATION_OID || collation == pg_sys::InvalidOid {
        return Ok(pg_sys::InvalidOid);
    }
    let (provider, collate): (Option<i8>, Option<String>) = if collation == pg_sys::DEFAULT_COLLATION_OID {
        crate::spi::select_two("SELECT datlocprovider, datcollate::text FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()", &[])
    } else {
        crate::spi::select_two("SELECT collprovider, collcollate FROM pg_catalog.pg_collation WHERE oid OPERATOR(pg_catalog.=) $1", &[collation.into()])
    };
    let provider = provider.map(|p| p as u8 as char).unwrap_or('c');
    let collate = collate.unwrap_or_default();
    match provider {
        'c' | 'd' if collate == "C" || collate == "POSIX" => Ok(pg_sys::InvalidOid),
        'c' | 'd' => Ok(collation),
        _ => Err("ICU collations are not supported for index keys yet; use a libc collation or COLLATE \"C\"".into()),
    }
}

/// The key type of a column, or (SQLSTATE, message) when it cannot be an index key.
pub fn key_type_for(typid: Oid, collation: Oid) -> Result<KeyType, (pgrx::PgSqlErrorCode, String)> {
    use pgrx::PgSqlErrorCode::*;
    let base = unsafe { pg_sys::getBaseType(typid) };
    if unsafe { pg_sys::GetDefaultOpClass(base, pg_sys::BTREE_AM_OID) } == pg_sys::InvalidOid {
        return Err((ERRCODE_UNDEFINED_FUNCTION, format!("type {} has no default btree operator class", type_name(typid))));
    }
    let text = |pad, name| -> Result<KeyType, (pgrx::PgSqlErrorCode, String)> {
        collation_for(collation).map(|collation| KeyType::Text { collation, pad, name }).map_err(|m| (ERRCODE_FEATURE_NOT_SUPPORTED, m))
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
        pg_sys::NAMEOID => text(false, true)?,
        pg_sys::TEXTOID | pg_sys::VARCHAROID => text(false, false)?,
        pg_sys::BPCHAROID => text(true, false)?,
        _ => {
            return Err((
                ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("type {} is not supported as an index key yet", type_name(typid)),
            ))
        }
    })
}

pub fn role_name(role: Oid) -> String {
    unsafe {
        let p = pg_sys::GetUserNameFromId(role, true);
        if p.is_null() {
            format!("{}", role.to_u32())
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
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
            KeyType::Text { name: true, .. } => enc.push_bytes(CStr::from_ptr(d.cast_mut_ptr::<c_char>()).to_bytes()),
            KeyType::Text { pad, .. } => {
                let mut b = varlena_bytes(d);
                if pad {
                    while let [rest @ .., b' '] = b {
                        b = rest;
                    }
                }
                enc.push_bytes(b)
            }
        }
    }
}
