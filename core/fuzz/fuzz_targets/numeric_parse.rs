//! push_numeric_str on arbitrary text: never panics, accepts exactly the
//! plain decimals (and NaN / ±Infinity) of a model parser, leaves the key
//! untouched on rejection, and orders (and equates) accepted values as a
//! decimal comparison model does, also when followed by another column.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;
use tablecache_core::keys::*;
use tablecache_core_fuzz::{cmp_dec, numeric_text, parse_decimal, Dec};

/// Decimal-ish characters (zeros weighted), a separator and a few that make
/// the text invalid.
const ALPHABET: &[u8; 20] = b"0123456789.-+000|eN ";

fn two_strings(data: &[u8]) -> Result<(String, String)> {
    let (&mode, rest) = match data.split_first() {
        Some(x) => x,
        None => return Ok((String::new(), String::new())),
    };
    let mut u = Unstructured::new(rest);
    Ok(match mode % 3 {
        0 => (u.arbitrary::<&str>()?.to_string(), u.arbitrary::<&str>()?.to_string()),
        1 => {
            let s: String = rest.iter().map(|&b| ALPHABET[(b % 20) as usize] as char).collect();
            match s.split_once('|') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (s, String::new()),
            }
        }
        _ => (numeric_text(&mut u)?, numeric_text(&mut u)?),
    })
}

/// Encode `s` alone; check acceptance against the model.
fn check_one(s: &str) -> Option<(Vec<u8>, Dec)> {
    let model = parse_decimal(s);
    let mut e = KeyEncoder::new();
    let r = e.push_numeric_str(s);
    assert_eq!(r.is_ok(), model.is_some(), "acceptance of {s:?}: got {r:?}, model {model:?}");
    assert_eq!(numeric_payload(s).is_ok(), r.is_ok());
    match r {
        Err(_) => {
            assert!(e.is_empty(), "rejected {s:?} but wrote {:?}", e.as_bytes());
            None
        }
        Ok(()) => {
            let key = e.as_bytes().to_vec();
            let cols = split_columns(&key, &[KIND_NUMERIC]);
            assert_eq!(cols, vec![Some(&key[..])], "split of numeric {s:?}");
            Some((key, model.unwrap()))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok((a, b)) = two_strings(data) else { return };
    let ra = check_one(&a);
    let rb = check_one(&b);
    if let (Some((ka, da)), Some((kb, db))) = (ra, rb) {
        let want = cmp_dec(&da, &db);
        assert_eq!(ka.cmp(&kb), want, "order of {a:?} vs {b:?}");
        // As the first column of a longer key, the numeric must still decide
        // first, and a tie must fall through to the next column.
        for (x, y) in [(0i32, 0i32), (1, -1), (-1, 1)] {
            let mut ea = KeyEncoder::new();
            ea.push_numeric_str(&a).unwrap();
            ea.push_i32(x);
            let mut eb = KeyEncoder::new();
            eb.push_numeric_str(&b).unwrap();
            eb.push_i32(y);
            assert_eq!(ea.as_bytes().cmp(eb.as_bytes()), want.then(x.cmp(&y)), "({a:?},{x}) vs ({b:?},{y})");
            let layout = [KIND_NUMERIC, KIND_I32];
            assert_eq!(sql_compare(ea.as_bytes(), eb.as_bytes(), &layout), Some(want.then(x.cmp(&y))));
            let cut = ka.len();
            assert_eq!(column_count(&ea.as_bytes()[..cut], &layout), 1);
            assert_eq!(column_count(&ea.as_bytes()[..cut - 1], &layout), 0);
        }
        if want == Ordering::Equal {
            assert_eq!(ka, kb, "equal numerics {a:?} and {b:?} encode differently");
        }
    }
});
