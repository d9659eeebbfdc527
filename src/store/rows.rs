//! A cached row in the arena: its encoded keys (one per index) followed by the tuple, copied
//! once at load and detoasted. Layout, all offsets relative to the record:
//!
//! ```text
//! u32 tuple_len | u16 nkeys | u16 null_mask | u16 key_end[nkeys] | key bytes | tuple
//! ```
//! The tuple is not aligned: it is only ever copied out (`heap_copy_tuple_as_datum`,
//! `tuplestore_puttuple`), never read in place, so padding would only cost memory.
//! `null_mask` bit i says that key i holds a NULL column, so readers apply SQL's row-comparison
//! rules only to those rows.

use crate::catalog::IndexDef;
use crate::shmem::{self, Slot};
use pgrx::pg_sys;
use std::cmp::Ordering;
use tablecache_core::alloc::Offset;
use tablecache_core::index;

const FIXED: usize = 8;

/// The keys of one row together may take this many bytes (their ends are 16-bit offsets).
pub const MAX_KEY_BYTES: usize = u16::MAX as usize;

pub fn record_size(keys: &[&[u8]], tuple_len: usize) -> usize {
    let klen: usize = keys.iter().map(|k| k.len()).sum();
    FIXED + 2 * keys.len() + klen + tuple_len
}

pub fn keys_fit(keys: &[&[u8]]) -> bool {
    keys.iter().map(|k| k.len()).sum::<usize>() <= MAX_KEY_BYTES
}

/// Writes a record into an allocated block of at least `record_size` bytes.
///
/// # Safety
/// `dst` points at `record_size(keys, tuple_len)` writable bytes; `tuple` at `tuple_len` bytes;
/// `keys_fit(keys)`.
pub unsafe fn write(dst: *mut u8, keys: &[&[u8]], null_mask: u16, tuple: *const u8, tuple_len: usize) {
    unsafe {
        (dst as *mut u32).write_unaligned(tuple_len as u32);
        (dst.add(4) as *mut u16).write_unaligned(keys.len() as u16);
        (dst.add(6) as *mut u16).write_unaligned(null_mask);
        let mut end = 0usize;
        let kbase = dst.add(FIXED + 2 * keys.len());
        for (i, k) in keys.iter().enumerate() {
            std::ptr::copy_nonoverlapping(k.as_ptr(), kbase.add(end), k.len());
            end += k.len();
            (dst.add(FIXED + 2 * i) as *mut u16).write_unaligned(end as u16);
        }
        let toff = FIXED + 2 * keys.len() + end;
        std::ptr::copy_nonoverlapping(tuple, dst.add(toff), tuple_len);
    }
}

/// A view of one record. Valid while the caller holds the cache's slot lock (or owns the
/// record, e.g. while staging a load).
#[derive(Clone, Copy)]
pub struct Row(*const u8);

impl Row {
    #[inline]
    pub fn at(off: Offset) -> Row {
        Row(shmem::ptr(off))
    }

    /// Starts fetching the record's first cache line (header and keys) into the CPU cache.
    #[inline]
    pub fn prefetch(off: Offset) {
        #[cfg(target_arch = "x86_64")]
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(shmem::ptr(off) as *const i8);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = off;
    }

    /// Starts fetching `bytes` of the record (from its start) into the CPU cache: a scan that
    /// copies whole records asks for all of their cache lines, not only the first.
    #[inline]
    pub fn prefetch_bytes(off: Offset, bytes: usize) {
        let mut o = 0;
        while o < bytes {
            Row::prefetch(off + o as u64);
            o += 64;
        }
    }

    #[inline]
    fn nkeys(&self) -> usize {
        unsafe { (self.0.add(4) as *const u16).read_unaligned() as usize }
    }

    #[inline]
    pub fn has_null(&self, i: usize) -> bool {
        unsafe { (self.0.add(6) as *const u16).read_unaligned() & (1 << i) != 0 }
    }

    #[inline]
    fn key_end(&self, i: usize) -> usize {
        unsafe { (self.0.add(FIXED + 2 * i) as *const u16).read_unaligned() as usize }
    }

    #[inline]
    pub fn key(&self, i: usize) -> &'static [u8] {
        let n = self.nkeys();
        let start = if i == 0 { 0 } else { self.key_end(i - 1) };
        let end = self.key_end(i);
        unsafe { std::slice::from_raw_parts(self.0.add(FIXED + 2 * n + start), end - start) }
    }

    #[inline]
    pub fn tuple_len(&self) -> usize {
        unsafe { (self.0 as *const u32).read_unaligned() as usize }
    }

    #[inline]
    pub fn tuple_ptr(&self) -> *mut pg_sys::HeapTupleHeaderData {
        let n = self.nkeys();
        let klen = if n == 0 { 0 } else { self.key_end(n - 1) };
        unsafe { self.0.add(FIXED + 2 * n + klen) as *mut pg_sys::HeapTupleHeaderData }
    }

    /// A HeapTupleData pointing into shared memory (copy it before releasing the lock).
    #[inline]
    pub fn heap_tuple(&self) -> pg_sys::HeapTupleData {
        let mut t: pg_sys::HeapTupleData = unsafe { std::mem::zeroed() };
        t.t_len = self.tuple_len() as u32;
        t.t_data = self.tuple_ptr();
        t.t_tableOid = pg_sys::InvalidOid;
        t
    }
}

/// Order of index `i` (`ix`): its key, then the primary key (so every index is a total order).
#[inline]
pub fn cmp_rows(ix: &IndexDef, pk: &IndexDef, i: usize, a: u64, b: u64) -> Ordering {
    let (ra, rb) = (Row::at(a), Row::at(b));
    match ix.cmp(ra.key(i), rb.key(i)) {
        Ordering::Equal if i != 0 => pk.cmp(ra.key(0), rb.key(0)),
        o => o,
    }
}

/// Searching an index of a slot. The caller holds the slot lock (or is its writer).
pub struct Search<'a> {
    pub slot: &'a Slot,
    pub ix: &'a IndexDef,
    pub i: usize,
}

impl Search<'_> {
    /// The positions `[lo, hi)` of the index that hold the first entry `>= key`, narrowed by
    /// the fences, with the rows of a narrow block already being fetched. Valid for the index's
    /// full order too (key, then primary key), as fences only compare key prefixes. (An index
    /// ordered by a collation has no fences: byte prefixes do not follow its order.)
    #[inline]
    pub fn fence_block(&self, key: &[u8]) -> (usize, usize) {
        let arr = self.slot.index_entries(self.i);
        let (fences, top) = self.slot.index_fences(self.i);
        if fences.is_empty() || self.ix.any_collated {
            return (0, arr.len());
        }
        let (lo, hi) = index::fence_window(fences, top, arr.len(), index::key_prefix(key));
        // The rows of a block lie anywhere in the arena: asking for all of them at once costs
        // about one memory latency instead of one per step of the binary search.
        if hi - lo <= 2 * index::FENCE_STRIDE {
            arr[lo..hi].iter().for_each(|&e| Row::prefetch(e));
        }
        (lo, hi)
    }

    /// First position whose key is `>= key` (index key bytes only).
    #[inline]
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        let (lo, hi) = self.fence_block(key);
        let i = self.i;
        lo + index::lower_bound(&self.slot.index_entries(i)[lo..hi], |e| self.ix.cmp(Row::at(e).key(i), key))
    }

    /// For each of `rows` (rows that may or may not be in the index), the first position not
    /// below it in the index's full order (key, then primary key). The searches run side by
    /// side, so that their memory fetches overlap instead of waiting one after another.
    pub fn positions_of(&self, pk: &IndexDef, rows: &[u64]) -> Vec<usize> {
        let arr = self.slot.index_entries(self.i);
        rows.iter().for_each(|&r| Row::prefetch(r));
        let blocks: Vec<(usize, usize)> = rows.iter().map(|&r| self.fence_block(Row::at(r).key(self.i))).collect();
        rows.iter()
            .zip(blocks)
            .map(|(&r, (lo, hi))| lo + index::lower_bound(&arr[lo..hi], |e| cmp_rows(self.ix, pk, self.i, e, r)))
            .collect()
    }
}
