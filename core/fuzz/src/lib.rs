//! Models shared by the fuzz targets. They are written independently of the
//! code under test (no call into `tablecache_core` here): a fuzz target
//! checks the real thing against them.

use arbitrary::{Result, Unstructured};
use std::cmp::Ordering;

/// A PostgreSQL numeric as a plain decimal model: class, then for finite
/// non-zero values the magnitude as (integer digits without leading zeros,
/// fraction digits without trailing zeros).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dec {
    NegInf,
    Neg(Vec<u8>, Vec<u8>),
    Zero,
    Pos(Vec<u8>, Vec<u8>),
    PosInf,
    NaN,
}

impl Dec {
    fn class(&self) -> u8 {
        match self {
            Dec::NegInf => 0,
            Dec::Neg(..) => 1,
            Dec::Zero => 2,
            Dec::Pos(..) => 3,
            Dec::PosInf => 4,
            Dec::NaN => 5,
        }
    }
}

/// What `numeric_out` can print plus what `numeric_in` reads in plain form:
/// `[+-]? digits [. digits]` or `[+-]? . digits` (at least one digit in all),
/// and the words NaN, Infinity, +Infinity, -Infinity. None = not valid.
pub fn parse_decimal(s: &str) -> Option<Dec> {
    match s {
        "NaN" => return Some(Dec::NaN),
        "Infinity" | "+Infinity" => return Some(Dec::PosInf),
        "-Infinity" => return Some(Dec::NegInf),
        _ => {}
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut int = Vec::new();
    let mut frac = Vec::new();
    let mut seen_point = false;
    let mut ndigits = 0;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                ndigits += 1;
                if seen_point { frac.push(c) } else { int.push(c) }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
        i += 1;
    }
    if ndigits == 0 {
        return None;
    }
    while int.first() == Some(&b'0') {
        int.remove(0);
    }
    while frac.last() == Some(&b'0') {
        frac.pop();
    }
    Some(if int.is_empty() && frac.is_empty() {
        Dec::Zero
    } else if neg {
        Dec::Neg(int, frac)
    } else {
        Dec::Pos(int, frac)
    })
}

/// Compare magnitudes: more integer digits is bigger; then digit by digit,
/// integer part first; a fraction that is a proper prefix of the other is
/// smaller (no trailing zeros).
fn cmp_mag(ai: &[u8], af: &[u8], bi: &[u8], bf: &[u8]) -> Ordering {
    ai.len().cmp(&bi.len()).then_with(|| ai.cmp(bi)).then_with(|| af.cmp(bf))
}

pub fn cmp_dec(a: &Dec, b: &Dec) -> Ordering {
    match (a, b) {
        (Dec::Pos(ai, af), Dec::Pos(bi, bf)) => cmp_mag(ai, af, bi, bf),
        (Dec::Neg(ai, af), Dec::Neg(bi, bf)) => cmp_mag(bi, bf, ai, af),
        _ => a.class().cmp(&b.class()),
    }
}

/// PostgreSQL float order: all NaNs equal and above +inf, -0 == 0.
pub fn pg_float(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap(),
    }
}

/// A numeric text built from digits, sign and point: leading/trailing zeros,
/// "+", "-0", ".5", "5." and long digit strings all occur.
pub fn numeric_text(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1u8, 8)? {
        return Ok(u.choose(&["NaN", "Infinity", "+Infinity", "-Infinity"])?.to_string());
    }
    let mut s = String::new();
    s.push_str(u.choose(&["", "", "-", "+"])?);
    let long = u.ratio(1u8, 10)?;
    let max = if long { 40 } else { 4 };
    let digit = |u: &mut Unstructured| -> Result<char> {
        // Zeros are the interesting digit: weight them.
        let d = u.int_in_range(0u8..=12)?;
        Ok((b'0' + if d > 9 { 0 } else { d }) as char)
    };
    let ni = u.int_in_range(0..=max)?;
    for _ in 0..ni {
        s.push(digit(u)?);
    }
    let point = u.arbitrary::<bool>()?;
    let nf = if point { u.int_in_range(0..=max)? } else { 0 };
    if point {
        s.push('.');
    }
    for _ in 0..nf {
        s.push(digit(u)?);
    }
    if ni + nf == 0 {
        s.push(digit(u)?);
    }
    Ok(s)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_sanity() {
        let p = |s| parse_decimal(s).unwrap();
        assert_eq!(p("-0.00"), Dec::Zero);
        assert_eq!(p("+001.50"), p("1.5"));
        assert_eq!(cmp_dec(&p("-1.5"), &p("-1.05")), Ordering::Less);
        assert_eq!(cmp_dec(&p("0.05"), &p("0.5")), Ordering::Less);
        assert_eq!(cmp_dec(&p("10"), &p("9.99")), Ordering::Greater);
        for bad in ["", "-", ".", "+.", "1e5", "1.2.3", " 1", "--1", "-NaN", "infinity"] {
            assert!(parse_decimal(bad).is_none(), "{bad:?}");
        }
    }
}
