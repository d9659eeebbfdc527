//! Encoded keys must compare with memcmp exactly as a model of PostgreSQL's
//! btree order (NULLS LAST) and of SQL row comparison.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::cmp::Ordering;
use tablecache_core::keys::*;

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
    Uuid([u8; 16]),
    Bytes(Vec<u8>),
    Coll(Vec<u8>, Vec<u8>),
    Num(String, NumModel),
}

/// Variant order is numeric order; finite values scaled by 10^20.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NumModel {
    NegInf,
    Fin(i128),
    PosInf,
    NaN,
}

const NKINDS: usize = 12;

fn kind(k: usize) -> ColKind {
    [KIND_BOOL, KIND_I16, KIND_I32, KIND_U32, KIND_I64, KIND_I128, KIND_F32, KIND_F64,
     ColKind::Fixed(16), KIND_BYTES, KIND_COLLATED, KIND_NUMERIC][k]
}

fn pg_float(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap(),
    }
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
        (Uuid(a), Uuid(b)) => a.cmp(b),
        (Bytes(a), Bytes(b)) => a.cmp(b),
        (Coll(s1, r1), Coll(s2, r2)) => s1.cmp(s2).then(r1.cmp(r2)),
        (Num(_, a), Num(_, b)) => a.cmp(b),
        _ => panic!("kind mismatch"),
    }
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
        Some(Uuid(v)) => e.push_fixed_bytes(v),
        Some(Bytes(v)) => e.push_bytes(v),
        Some(Coll(s, r)) => e.push_collated(s, r),
        Some(Num(s, _)) => e.push_numeric_str(s).unwrap(),
    }
}

fn enc(t: &[Option<V>]) -> Vec<u8> {
    let mut e = KeyEncoder::new();
    for v in t {
        push(&mut e, v);
    }
    e.as_bytes().to_vec()
}

/// NULLS LAST lexicographic order of rows (what the index must produce).
fn model_row(a: &[Option<V>], b: &[Option<V>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => model_cmp(x, y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn model_sql(a: &[Option<V>], bound: &[Option<V>]) -> Option<Ordering> {
    for (x, y) in a.iter().zip(bound) {
        match model_cmp(x.as_ref()?, y.as_ref()?) {
            Ordering::Equal => {}
            o => return Some(o),
        }
    }
    Some(Ordering::Equal)
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), Just(2u8), any::<u8>()]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(byte(), 0..6)
}

fn f64s() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (-3i32..3).prop_map(|i| i as f64),
        Just(0.0), Just(-0.0), Just(f64::INFINITY), Just(f64::NEG_INFINITY),
        Just(f64::NAN), Just(-f64::NAN), Just(f64::from_bits(0x7ff0_0000_0000_0001)),
        Just(f64::MIN_POSITIVE), Just(-f64::MIN_POSITIVE), Just(f64::MAX), Just(f64::MIN),
    ]
}

fn numeric() -> impl Strategy<Value = V> {
    // Short digit strings over {0,1} often, so prefix-related values (0.1 vs
    // 0.11, -1 vs -1.01) and equal values with different scales are common.
    let nfrac = prop_oneof![3 => 0usize..=4, 1 => 0usize..=20];
    let finite = (any::<bool>(), 0u64..4, 0u64..1_000_000_000_000_000, nfrac, any::<u64>(), 0usize..3, 0usize..3)
        .prop_map(|(neg, mag, int, nfrac, fbits, lead, trail)| {
            // Small magnitudes often, so equal and near-equal values collide.
            let int = [int % 2, int % 100, int % 100_000, int][mag as usize];
            let frac: String = (0..nfrac).map(|i| char::from(b'0' + ((fbits >> (i * 3)) % 10) as u8 % if fbits & 1 == 0 { 10 } else { 2 })).collect();
            let frac = format!("{frac}{}", "0".repeat(trail));
            let int_s = format!("{}{}", "0".repeat(lead), int);
            let s = if frac.is_empty() { int_s } else { format!("{int_s}.{frac}") };
            let s = if neg { format!("-{s}") } else { s };
            let padded: String = format!("{:0<20}", &frac[..frac.len().min(20)]);
            let f: i128 = padded.parse().unwrap();
            let m = int as i128 * 10i128.pow(20) + f;
            V::Num(s, NumModel::Fin(if neg { -m } else { m }))
        });
    prop_oneof![
        8 => finite,
        1 => Just(V::Num("NaN".into(), NumModel::NaN)),
        1 => Just(V::Num("Infinity".into(), NumModel::PosInf)),
        1 => Just(V::Num("-Infinity".into(), NumModel::NegInf)),
    ]
}

/// Independent model parser: sign, integer part, up to 20 fraction digits.
fn model_num(s: &str) -> NumModel {
    match s {
        "NaN" => return NumModel::NaN,
        "Infinity" => return NumModel::PosInf,
        "-Infinity" => return NumModel::NegInf,
        _ => {}
    }
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let m = int.parse::<i128>().unwrap() * 10i128.pow(20) + format!("{frac:0<20}").parse::<i128>().unwrap();
    NumModel::Fin(if neg { -m } else { m })
}

fn num_enc(s: &str) -> Vec<u8> {
    let mut e = KeyEncoder::new();
    e.push_numeric_str(s).unwrap();
    e.as_bytes().to_vec()
}

fn val(k: usize) -> BoxedStrategy<V> {
    match k {
        0 => any::<bool>().prop_map(V::Bool).boxed(),
        1 => any::<i16>().prop_map(V::I16).boxed(),
        2 => prop_oneof![any::<i32>(), -2i32..2].prop_map(V::I32).boxed(),
        3 => prop_oneof![any::<u32>(), 0u32..3].prop_map(V::U32).boxed(),
        4 => prop_oneof![any::<i64>(), -2i64..2, Just(i64::MIN), Just(i64::MAX)].prop_map(V::I64).boxed(),
        5 => prop_oneof![any::<i128>(), -2i128..2].prop_map(V::I128).boxed(),
        6 => f64s().prop_map(|f| V::F32(f as f32)).boxed(),
        7 => f64s().prop_map(V::F64).boxed(),
        8 => proptest::array::uniform16(byte()).prop_map(V::Uuid).boxed(),
        9 => bytes().prop_map(V::Bytes).boxed(),
        10 => (bytes(), bytes()).prop_map(|(s, r)| V::Coll(s, r)).boxed(),
        _ => numeric().boxed(),
    }
}

type Row = Vec<Option<V>>;

fn row(layout: &[usize]) -> impl Strategy<Value = Row> {
    layout.iter().map(|&k| proptest::option::weighted(0.85, val(k))).collect::<Vec<_>>()
}

/// A layout and two rows that often share a prefix, so later columns matter.
fn two_rows() -> impl Strategy<Value = (Vec<ColKind>, Row, Row)> {
    proptest::collection::vec(0..NKINDS, 1..5).prop_flat_map(|layout| {
        let n = layout.len();
        (row(&layout), row(&layout), 0..=n, Just(layout))
    }).prop_map(|(a, mut b, shared, layout)| {
        b[..shared].clone_from_slice(&a[..shared]);
        (layout.into_iter().map(kind).collect(), a, b)
    })
}

fn config() -> Config {
    Config { cases: 4000, rng_seed: RngSeed::Fixed(0x6b657973), failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn single_values_order((k, a, b) in (0..NKINDS).prop_flat_map(|k| (Just(k), val(k), val(k)))) {
        let _ = k;
        let (ea, eb) = (enc(&[Some(a.clone())]), enc(&[Some(b.clone())]));
        prop_assert_eq!(ea.cmp(&eb), model_cmp(&a, &b), "{:?} vs {:?}", ea, eb);
    }

    #[test]
    fn numeric_prefix_related(neg in any::<bool>(), int in 0u32..3, a in "[0-9]{0,6}", ext in "[0-9]{0,4}", trail in 0usize..2) {
        let sign = if neg { "-" } else { "" };
        let x = format!("{sign}{int}.{a}");
        let y = format!("{sign}{int}.{a}{ext}{}", "0".repeat(trail));
        prop_assert_eq!(num_enc(&x).cmp(&num_enc(&y)), model_num(&x).cmp(&model_num(&y)), "{} vs {}", x, y);
    }

    #[test]
    fn rows_order_nulls_last((_layout, a, b) in two_rows()) {
        prop_assert_eq!(enc(&a).cmp(&enc(&b)), model_row(&a, &b));
    }

    #[test]
    fn split_round_trips((layout, a, _b) in two_rows()) {
        let key = enc(&a);
        let cols = split_columns(&key, &layout);
        prop_assert_eq!(cols.len(), a.len());
        prop_assert_eq!(column_count(&key, &layout), a.len());
        prop_assert_eq!(has_null(&key, &layout), a.iter().any(Option::is_none));
        for (c, v) in cols.iter().zip(&a) {
            match (c, v) {
                (None, None) => {}
                (Some(c), Some(_)) => prop_assert_eq!(c.to_vec(), enc(std::slice::from_ref(v))),
                _ => prop_assert!(false, "null mismatch"),
            }
        }
        for j in 0..=a.len() {
            prop_assert_eq!(column_count(&enc(&a[..j]), &layout), j);
        }
    }

    #[test]
    fn prefixes_bound_their_extensions((layout, a, b) in two_rows(), j in 0usize..5) {
        let j = j.min(a.len());
        let p = enc(&a[..j]);
        let end = prefix_end(&p);
        let ka = enc(&a);
        prop_assert!(p <= ka);
        prop_assert!(ka < end);
        // b extends p iff it agrees on the first j columns (model: NULL == NULL here).
        let kb = enc(&b);
        let extends = model_row(&a[..j], &b[..j]) == Ordering::Equal;
        prop_assert_eq!(p <= kb && kb < end, extends);
        prop_assert_eq!(kb.starts_with(&p), extends);
        let _ = layout;
    }

    #[test]
    fn sql_semantics((layout, a, b) in two_rows(), j in 0usize..5, c in any::<prop::sample::Index>()) {
        let j = j.min(b.len());
        let (ka, kb) = (enc(&a), enc(&b[..j]));
        let m = model_sql(&a, &b[..j]);
        prop_assert_eq!(sql_compare(&ka, &kb, &layout), m);
        // Range with b's prefix as one end and a or b as the other.
        let other = enc(&[a.clone(), b.clone()][c.index(2)]);
        let ms = |bound: &[Option<V>]| model_sql(&a, bound);
        let lt_other = [a.clone(), b.clone()][c.index(2)].clone();
        let expect = matches!(m, Some(Ordering::Greater | Ordering::Equal))
            && ms(&lt_other) == Some(Ordering::Less);
        prop_assert_eq!(sql_in_range(&ka, Some(&kb), Some(&other), &layout), expect);
        prop_assert_eq!(sql_in_range(&ka, None, None, &layout), true);
        prop_assert_eq!(sql_in_range(&ka, Some(&kb), None, &layout),
            matches!(m, Some(Ordering::Greater | Ordering::Equal)));
    }
}
