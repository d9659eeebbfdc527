//! The WAL records that carry invalidations from a primary to its hot standbys.
//!
//! A standby replays them in its startup process, where an error stops replay and shuts the
//! standby down: [`decode`] is total — any bytes give a record or a [`DecodeError`], never a
//! panic, and never an allocation larger than the input justifies. Every length is checked
//! against what is left before anything is allocated.
//!
//! Layout (little endian), version 1:
//!
//! ```text
//! u8 version (1) | u8 kind
//! kind 1, invalidations: u32 db | u32 xid | u8 flags (1: prepared, 2: all caches dropped) | u16 caches | cache*
//!   cache: i64 id | u8 flags (1: everything, 2: dropped) | u16 invals | inval*
//!   inval: u8 flags (1: lo, 2: hi, 4: hi inclusive, 8: no merge) | u8 len, index name | [lo] | [hi]
//!   bound: u16 len, key | u8 values | value*     value: u32 type | u8 present | [u32 len, image]
//! kind 2, heartbeat: i64 lifetime | i64 now | u16 n | u32 xid * n
//! kind 3, stopped: i64 now
//! ```

/// An index name is at most this long (PostgreSQL's NAMEDATALEN - 1).
pub const MAX_NAME: usize = 63;
pub const VERSION: u8 = 1;
pub const KIND_INVALIDATIONS: u8 = 1;
pub const KIND_HEARTBEAT: u8 = 2;
pub const KIND_STOPPED: u8 = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalValue {
    pub typid: u32,
    pub image: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalBound {
    pub key: Vec<u8>,
    pub values: Vec<WalValue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalInval {
    pub index: Vec<u8>,
    pub lo: Option<WalBound>,
    pub hi: Option<WalBound>,
    pub hi_inclusive: bool,
    pub no_merge: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalCache {
    pub cache_id: i64,
    /// every row of the cache (then `invals` is empty)
    pub everything: bool,
    /// the cache was dropped (its memory can go)
    pub dropped: bool,
    pub invals: Vec<WalInval>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalRecord {
    /// What one transaction invalidated, written before its commit (or prepare) record.
    /// `all_dropped`: the extension was dropped in `db`, with every cache.
    Invalidations { db: u32, xid: u32, prepared: bool, all_dropped: bool, caches: Vec<WalCache> },
    /// The primary sends: since it started (`lifetime`, its start time), every transaction's
    /// invalidations have been written. `unknown_prepared`: transactions prepared before it
    /// started, whose invalidations were never written.
    Heartbeat { lifetime: i64, now: i64, unknown_prepared: Vec<u32> },
    /// The primary was started with sending off, after a lifetime with it on.
    Stopped { now: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    Version(u8),
    Kind(u8),
    NameTooLong,
    Flags,
    TrailingBytes,
}

// ---- encoding -------------------------------------------------------------------------------

/// Would encoding fail? (A name longer than [`MAX_NAME`], a key or image too long for its
/// length field, more than 65535 caches, invalidations or values.)
pub fn encodable(r: &WalRecord) -> bool {
    match r {
        WalRecord::Invalidations { caches, .. } => {
            caches.len() <= u16::MAX as usize
                && caches.iter().all(|c| {
                    c.invals.len() <= u16::MAX as usize
                        && c.invals.iter().all(|v| {
                            v.index.len() <= MAX_NAME
                                && [&v.lo, &v.hi].into_iter().flatten().all(|b| {
                                    b.key.len() <= u16::MAX as usize
                                        && b.values.len() <= u8::MAX as usize
                                        && b.values.iter().all(|x| x.image.as_ref().is_none_or(|i| i.len() <= u32::MAX as usize))
                                })
                        })
                })
        }
        WalRecord::Heartbeat { unknown_prepared, .. } => unknown_prepared.len() <= u16::MAX as usize,
        WalRecord::Stopped { .. } => true,
    }
}

fn put_bound(out: &mut Vec<u8>, b: &WalBound) {
    out.extend_from_slice(&(b.key.len() as u16).to_le_bytes());
    out.extend_from_slice(&b.key);
    out.push(b.values.len() as u8);
    for v in &b.values {
        out.extend_from_slice(&v.typid.to_le_bytes());
        match &v.image {
            None => out.push(0),
            Some(i) => {
                out.push(1);
                out.extend_from_slice(&(i.len() as u32).to_le_bytes());
                out.extend_from_slice(i);
            }
        }
    }
}

/// The record's bytes. Panics if `!encodable(r)`: callers check first (and fall back to
/// "everything" for a cache they cannot describe).
pub fn encode(r: &WalRecord) -> Vec<u8> {
    assert!(encodable(r), "record not encodable");
    let mut out = vec![VERSION];
    match r {
        WalRecord::Invalidations { db, xid, prepared, all_dropped, caches } => {
            out.push(KIND_INVALIDATIONS);
            out.extend_from_slice(&db.to_le_bytes());
            out.extend_from_slice(&xid.to_le_bytes());
            out.push(*prepared as u8 | (*all_dropped as u8) << 1);
            out.extend_from_slice(&(caches.len() as u16).to_le_bytes());
            for c in caches {
                out.extend_from_slice(&c.cache_id.to_le_bytes());
                out.push(c.everything as u8 | (c.dropped as u8) << 1);
                let invals: &[WalInval] = if c.everything { &[] } else { &c.invals };
                out.extend_from_slice(&(invals.len() as u16).to_le_bytes());
                for v in invals {
                    let flags = v.lo.is_some() as u8 | (v.hi.is_some() as u8) << 1 | (v.hi_inclusive as u8) << 2 | (v.no_merge as u8) << 3;
                    out.push(flags);
                    out.push(v.index.len() as u8);
                    out.extend_from_slice(&v.index);
                    for b in [&v.lo, &v.hi].into_iter().flatten() {
                        put_bound(&mut out, b);
                    }
                }
            }
        }
        WalRecord::Stopped { now } => {
            out.push(KIND_STOPPED);
            out.extend_from_slice(&now.to_le_bytes());
        }
        WalRecord::Heartbeat { lifetime, now, unknown_prepared } => {
            out.push(KIND_HEARTBEAT);
            out.extend_from_slice(&lifetime.to_le_bytes());
            out.extend_from_slice(&now.to_le_bytes());
            out.extend_from_slice(&(unknown_prepared.len() as u16).to_le_bytes());
            for x in unknown_prepared {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    out
}

// ---- decoding -------------------------------------------------------------------------------

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap_or([0; 2])))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or([0; 4])))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap_or([0; 8])))
    }
    /// A count of items that each take at least `min` bytes: refused if what is left cannot
    /// hold them, so that no allocation exceeds the input.
    fn count(&mut self, n: usize, min: usize) -> Result<usize, DecodeError> {
        if n.saturating_mul(min) > self.b.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    fn bound(&mut self) -> Result<WalBound, DecodeError> {
        let klen = self.u16()? as usize;
        let key = self.take(klen)?.to_vec();
        let n = self.u8()? as usize;
        let n = self.count(n, 5)?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let typid = self.u32()?;
            let image = match self.u8()? {
                0 => None,
                1 => {
                    let len = self.u32()? as usize;
                    Some(self.take(len)?.to_vec())
                }
                _ => return Err(DecodeError::Flags),
            };
            values.push(WalValue { typid, image });
        }
        Ok(WalBound { key, values })
    }
}

pub fn decode(bytes: &[u8]) -> Result<WalRecord, DecodeError> {
    let mut r = Reader { b: bytes };
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let rec = match r.u8()? {
        KIND_INVALIDATIONS => {
            let db = r.u32()?;
            let xid = r.u32()?;
            let flags = r.u8()?;
            if flags & !3 != 0 {
                return Err(DecodeError::Flags);
            }
            let (prepared, all_dropped) = (flags & 1 != 0, flags & 2 != 0);
            let n = r.u16()? as usize;
            let n = r.count(n, 11)?;
            let mut caches = Vec::with_capacity(n);
            for _ in 0..n {
                let cache_id = r.i64()?;
                let cflags = r.u8()?;
                if cflags & !3 != 0 {
                    return Err(DecodeError::Flags);
                }
                let (everything, dropped) = (cflags & 1 != 0, cflags & 2 != 0);
                let m = r.u16()? as usize;
                if everything && m != 0 {
                    return Err(DecodeError::Flags);
                }
                let m = r.count(m, 2)?;
                let mut invals = Vec::with_capacity(m);
                for _ in 0..m {
                    let flags = r.u8()?;
                    if flags & !0x0f != 0 {
                        return Err(DecodeError::Flags);
                    }
                    let len = r.u8()? as usize;
                    if len > MAX_NAME {
                        return Err(DecodeError::NameTooLong);
                    }
                    let index = r.take(len)?.to_vec();
                    let lo = if flags & 1 != 0 { Some(r.bound()?) } else { None };
                    let hi = if flags & 2 != 0 { Some(r.bound()?) } else { None };
                    invals.push(WalInval { index, lo, hi, hi_inclusive: flags & 4 != 0, no_merge: flags & 8 != 0 });
                }
                caches.push(WalCache { cache_id, everything, dropped, invals });
            }
            WalRecord::Invalidations { db, xid, prepared, all_dropped, caches }
        }
        KIND_HEARTBEAT => {
            let lifetime = r.i64()?;
            let now = r.i64()?;
            let n = r.u16()? as usize;
            let n = r.count(n, 4)?;
            let mut unknown_prepared = Vec::with_capacity(n);
            for _ in 0..n {
                unknown_prepared.push(r.u32()?);
            }
            WalRecord::Heartbeat { lifetime, now, unknown_prepared }
        }
        KIND_STOPPED => WalRecord::Stopped { now: r.i64()? },
        k => return Err(DecodeError::Kind(k)),
    };
    if !r.b.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(rec)
}

/// A short description for pg_waldump and error messages (`rm_desc`).
pub fn describe(bytes: &[u8]) -> String {
    match decode(bytes) {
        Ok(WalRecord::Invalidations { db, xid, prepared, all_dropped, caches }) => {
            let parts: Vec<String> = caches
                .iter()
                .map(|c| {
                    let what = if c.everything { "everything".to_string() } else { format!("{} key ranges", c.invals.len()) };
                    format!("{}: {what}{}", c.cache_id, if c.dropped { ", dropped" } else { "" })
                })
                .collect();
            format!(
                "db {db} xid {xid}{}{} caches [{}]",
                if prepared { " prepared" } else { "" },
                if all_dropped { " all dropped" } else { "" },
                parts.join(", ")
            )
        }
        Ok(WalRecord::Stopped { now }) => format!("sending stopped at {now}"),
        Ok(WalRecord::Heartbeat { lifetime, now, unknown_prepared }) => {
            format!("sending since {lifetime} at {now}, {} prepared before", unknown_prepared.len())
        }
        Err(e) => format!("undecodable: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_round_trip() {
        let r = WalRecord::Heartbeat { lifetime: -5, now: 1 << 40, unknown_prepared: vec![3, u32::MAX] };
        assert_eq!(decode(&encode(&r)), Ok(r));
    }

    #[test]
    fn truncation_and_trailing_bytes_are_errors() {
        let r = WalRecord::Invalidations {
            db: 5,
            xid: 7,
            prepared: false,
            all_dropped: false,
            caches: vec![WalCache {
                cache_id: 9,
                everything: false,
                dropped: true,
                invals: vec![WalInval {
                    index: b"primary_key".to_vec(),
                    lo: Some(WalBound { key: vec![1, 2], values: vec![WalValue { typid: 23, image: Some(vec![1, 0, 0, 0]) }] }),
                    hi: None,
                    hi_inclusive: true,
                    no_merge: false,
                }],
            }],
        };
        let b = encode(&r);
        assert_eq!(decode(&b), Ok(r));
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // 65535 caches announced, none present
        let b = [VERSION, KIND_INVALIDATIONS, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        assert_eq!(decode(&b), Err(DecodeError::Truncated));
    }
}
