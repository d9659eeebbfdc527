//! Memcomparable keys: memcmp order of encoded rows must equal a model of
//! PostgreSQL's btree order (per column, NULLS LAST), equal values must encode
//! equal, split_columns must find every column boundary (also of truncated
//! keys), a complete-column prefix must bound exactly its extensions, and
//! sql_compare / sql_in_range must follow SQL row comparison with NULLs.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;
use tablecache_core::keys::*;
use tablecache_core_fuzz::{cmp_dec, numeric_text, parse_decimal, pg_float, Dec};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Bool,
    I16,
    I32,
    U32,
    I64,
    I128,
    F32,
    F64,
    Fixed(u8),
    Bytes,
    Collated,
    Numeric,
}

impl Kind {
    fn col_kind(self) -> ColKind {
        match self {
            Kind::Bool => KIND_BOOL,
            Kind::I16 => KIND_I16,
            Kind::I32 => KIND_I32,
            Kind::U32 => KIND_U32,
            Kind::I64 => KIND_I64,
            Kind::I128 => KIND_I128,
            Kind::F32 => KIND_F32,
            Kind::F64 => KIND_F64,
            Kind::Fixed(n) => ColKind::Fixed(n),
            Kind::Bytes => KIND_BYTES,
            Kind::Collated => KIND_COLLATED,
            Kind::Numeric => KIND_NUMERIC,
        }
    }
}

#[derive(Clone, Debug)]
enum V {
    Bool(bool),
    I16(i16),
    I32(i32),
    U32(u32),
    I64(i64),
    I128(i128),
    F32(f32),
    F64(f64),
    Fixed(Vec<u8>),
    Bytes(Vec<u8>),
    Coll(Vec<u8>, Vec<u8>),
    Num(String, Dec),
}

/// None = SQL NULL.
type Row = Vec<Option<V>>;

fn kind(u: &mut Unstructured) -> Result<Kind> {
    Ok(match u.int_in_range(0u8..=11)? {
        0 => Kind::Bool,
        1 => Kind::I16,
        2 => Kind::I32,
        3 => Kind::U32,
        4 => Kind::I64,
        5 => Kind::I128,
        6 => Kind::F32,
        7 => Kind::F64,
        8 => Kind::Fixed(u.int_in_range(0u8..=17)?),
        9 => Kind::Bytes,
        10 => Kind::Collated,
        _ => Kind::Numeric,
    })
}

/// Byte strings from a tiny alphabet collide and share prefixes often; raw
/// ones exercise the escaping of every byte value.
fn bytes(u: &mut Unstructured) -> Result<Vec<u8>> {
    let len = u.int_in_range(0usize..=10)?;
    let small = u.arbitrary::<bool>()?;
    (0..len)
        .map(|_| {
            let b: u8 = u.arbitrary()?;
            Ok(if small { [0x00, 0x01, 0x02, 0xFF][(b & 3) as usize] } else { b })
        })
        .collect()
}

fn int_like<T: Copy + for<'a> arbitrary::Arbitrary<'a>>(u: &mut Unstructured, special: &[T]) -> Result<T> {
    if u.ratio(1u8, 3)? {
        Ok(*u.choose(special)?)
    } else {
        u.arbitrary()
    }
}

const F64_SPECIAL: &[f64] = &[
    0.0, -0.0, 1.0, -1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN,
    f64::MIN_POSITIVE, -f64::MIN_POSITIVE, f64::MAX, f64::MIN, 5e-324, -5e-324, 0.5, -0.5,
];

fn f64_val(u: &mut Unstructured) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => *u.choose(F64_SPECIAL)?,
        1 => f64::from_bits(u.arbitrary()?),
        // A NaN with an arbitrary payload and sign.
        2 => f64::from_bits(u.arbitrary::<u64>()? | 0x7FF0_0000_0000_0001),
        _ => u.int_in_range(-4i8..=4)? as f64 / 2.0,
    })
}

fn f32_val(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => *u.choose(F64_SPECIAL)? as f32,
        1 => f32::from_bits(u.arbitrary()?),
        2 => f32::from_bits(u.arbitrary::<u32>()? | 0x7F80_0001),
        _ => u.int_in_range(-4i8..=4)? as f32 / 2.0,
    })
}

fn value(u: &mut Unstructured, k: Kind) -> Result<Option<V>> {
    if u.ratio(1u8, 5)? {
        return Ok(None);
    }
    Ok(Some(match k {
        Kind::Bool => V::Bool(u.arbitrary()?),
        Kind::I16 => V::I16(int_like(u, &[0, -1, 1, i16::MIN, i16::MAX, 255, 256, -256])?),
        Kind::I32 => V::I32(int_like(u, &[0, -1, 1, i32::MIN, i32::MAX, 255, 256, -256])?),
        Kind::U32 => V::U32(int_like(u, &[0, 1, u32::MAX, 1 << 31, (1 << 31) - 1, 255, 256])?),
        Kind::I64 => V::I64(int_like(u, &[0, -1, 1, i64::MIN, i64::MAX, 255, 256, -256])?),
        Kind::I128 => V::I128(int_like(u, &[0, -1, 1, i128::MIN, i128::MAX, 255, 256, -256])?),
        Kind::F32 => V::F32(f32_val(u)?),
        Kind::F64 => V::F64(f64_val(u)?),
        Kind::Fixed(n) => {
            let small = u.arbitrary::<bool>()?;
            V::Fixed(
                (0..n)
                    .map(|_| u.arbitrary::<u8>().map(|b| if small { b & 1 } else { b }))
                    .collect::<Result<_>>()?,
            )
        }
        Kind::Bytes => V::Bytes(bytes(u)?),
        Kind::Collated => V::Coll(bytes(u)?, bytes(u)?),
        Kind::Numeric => {
            let s = numeric_text(u)?;
            let d = parse_decimal(&s).expect("generator makes valid numerics");
            V::Num(s, d)
        }
    }))
}

fn model_cmp(a: &V, b: &V) -> Ordering {
    use V::*;
    match (a, b) {
        (Bool(a), Bool(b)) => a.cmp(b),
        (I16(a), I16(b)) => a.cmp(b),
        (I32(a), I32(b)) => a.cmp(b),
        (U32(a), U32(b)) => a.cmp(b),
        (I64(a), I64(b)) => a.cmp(b),
        (I128(a), I128(b)) => a.cmp(b),
        (F32(a), F32(b)) => pg_float(*a as f64, *b as f64),
        (F64(a), F64(b)) => pg_float(*a, *b),
        (Fixed(a), Fixed(b)) => a.cmp(b),
        (Bytes(a), Bytes(b)) => a.cmp(b),
        (Coll(s1, r1), Coll(s2, r2)) => s1.cmp(s2).then_with(|| r1.cmp(r2)),
        (Num(_, a), Num(_, b)) => cmp_dec(a, b),
        _ => panic!("kind mismatch {a:?} {b:?}"),
    }
}

/// Index (btree) order of one column: NULLS LAST, NULL equal to NULL.
fn model_col(a: &Option<V>, b: &Option<V>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => model_cmp(a, b),
    }
}

fn model_row(a: &[Option<V>], b: &[Option<V>]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| model_col(x, y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

/// SQL row comparison of `key` against the shorter `bound`: left to right,
/// the first unequal or NULL-involving pair decides; NULL = unknown.
fn model_sql(key: &[Option<V>], bound: &[Option<V>]) -> Option<Ordering> {
    for (x, y) in key.iter().zip(bound) {
        match (x, y) {
            (Some(x), Some(y)) => match model_cmp(x, y) {
                Ordering::Equal => {}
                o => return Some(o),
            },
            _ => return None,
        }
    }
    Some(Ordering::Equal)
}

fn push(e: &mut KeyEncoder, v: &Option<V>) {
    use V::*;
    match v {
        None => e.push_null(),
        Some(Bool(v)) => e.push_bool(*v),
        Some(I16(v)) => e.push_i16(*v),
        Some(I32(v)) => e.push_i32(*v),
        Some(U32(v)) => e.push_u32(*v),
        Some(I64(v)) => e.push_i64(*v),
        Some(I128(v)) => e.push_i128(*v),
        Some(F32(v)) => e.push_f32(*v),
        Some(F64(v)) => e.push_f64(*v),
        Some(Fixed(b)) => e.push_fixed_bytes(b),
        Some(Bytes(b)) => e.push_bytes(b),
        Some(Coll(s, r)) => e.push_collated(s, r),
        Some(Num(s, _)) => e.push_numeric_str(s).unwrap_or_else(|err| panic!("valid numeric {s:?} rejected: {err}")),
    }
}

struct Enc {
    key: Vec<u8>,
    /// bounds[k] = length of the first k columns; bounds[0] = 0.
    bounds: Vec<usize>,
    /// Each column encoded alone.
    cols: Vec<Vec<u8>>,
}

fn encode(row: &Row) -> Enc {
    let mut e = KeyEncoder::new();
    let mut bounds = vec![0];
    let mut cols = Vec::new();
    for v in row {
        push(&mut e, v);
        bounds.push(e.len());
        let mut one = KeyEncoder::new();
        push(&mut one, v);
        cols.push(one.as_bytes().to_vec());
    }
    Enc { key: e.as_bytes().to_vec(), bounds, cols }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let ncols = u.int_in_range(1usize..=4)?;
    let kinds: Vec<Kind> = (0..ncols).map(|_| kind(u)).collect::<Result<_>>()?;
    let layout: Vec<ColKind> = kinds.iter().map(|k| k.col_kind()).collect();
    let nrows = u.int_in_range(2usize..=5)?;
    let mut rows: Vec<Row> = Vec::new();
    for _ in 0..nrows {
        let row = if !rows.is_empty() && u.ratio(1u8, 4)? {
            // A near-copy of an earlier row: same leading columns, so the
            // deciding column is a later one.
            let src: Row = u.choose(&rows)?.clone();
            let keep = u.int_in_range(0..=ncols)?;
            let mut r = src[..keep].to_vec();
            for k in &kinds[keep..] {
                r.push(value(u, *k)?);
            }
            r
        } else {
            kinds.iter().map(|k| value(u, *k)).collect::<Result<_>>()?
        };
        rows.push(row);
    }
    let encs: Vec<Enc> = rows.iter().map(encode).collect();

    for (row, enc) in rows.iter().zip(&encs) {
        let key = &enc.key[..];
        // The whole key splits into exactly its columns.
        let cols = split_columns(key, &layout);
        assert_eq!(cols.len(), ncols, "split_columns of {row:?}");
        for (i, c) in cols.iter().enumerate() {
            match (c, &row[i]) {
                (None, None) => assert_eq!(enc.cols[i], [TAG_NULL]),
                (Some(s), Some(_)) => assert_eq!(*s, &enc.cols[i][..], "column {i} of {row:?}"),
                _ => panic!("column {i} NULL-ness wrong in split of {row:?}"),
            }
        }
        assert_eq!(column_count(key, &layout), ncols);
        assert_eq!(has_null(key, &layout), row.iter().any(Option::is_none));
        // A truncated key reports exactly its complete columns.
        for t in 0..=key.len() {
            let complete = enc.bounds[1..].iter().filter(|&&b| b <= t).count();
            let got = split_columns(&key[..t], &layout);
            assert_eq!(got.len(), complete, "split of {row:?} truncated to {t}");
            assert_eq!(got[..], cols[..complete]);
        }
    }

    for (i, (a, ea)) in rows.iter().zip(&encs).enumerate() {
        for (j, (b, eb)) in rows.iter().zip(&encs).enumerate() {
            let want = model_row(a, b);
            let got = ea.key.cmp(&eb.key);
            assert_eq!(got, want, "memcmp order of {a:?} vs {b:?}");
            for k in 0..=ncols {
                // [p, prefix_end(p)) holds exactly the keys whose first k
                // columns equal a's (NULL equal to NULL, as in the index).
                let p = &ea.key[..ea.bounds[k]];
                let pe = prefix_end(p);
                let inside = p <= &eb.key[..] && &eb.key[..] < &pe[..];
                assert_eq!(inside, model_row(&a[..k], &b[..k]).is_eq(), "prefix {k} of {a:?} vs {b:?}");
                if i == j {
                    assert!(inside);
                }
                // SQL row comparison against the k-column bound of b.
                let bound = &eb.key[..eb.bounds[k]];
                assert_eq!(sql_compare(&ea.key, bound, &layout), model_sql(a, &b[..k]), "sql_compare {a:?} vs {:?}", &b[..k]);
                // a in [b_k, c_m) for the next row c.
                let c = (j + 1) % nrows;
                let m = (k + i) % (ncols + 1);
                let lt = &encs[c].key[..encs[c].bounds[m]];
                let ge_ok = matches!(model_sql(a, &b[..k]), Some(Ordering::Greater | Ordering::Equal));
                let lt_ok = model_sql(a, &rows[c][..m]) == Some(Ordering::Less);
                assert_eq!(sql_in_range(&ea.key, Some(bound), Some(lt), &layout), ge_ok && lt_ok);
                assert_eq!(sql_in_range(&ea.key, Some(bound), None, &layout), ge_ok);
                assert_eq!(sql_in_range(&ea.key, None, Some(lt), &layout), lt_ok);
            }
        }
        assert!(sql_in_range(&ea.key, None, None, &layout));
    }

    // Garbage never panics the splitter.
    let junk: &[u8] = u.arbitrary()?;
    let cols = split_columns(junk, &layout);
    assert!(cols.len() <= ncols);
    let _ = sql_compare(junk, &encs[0].key, &layout);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
