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

use crate::shmem;
use pgrx::pg_sys;
use std::cmp::Ordering;
use tablecache_core::alloc::Offset;

const FIXED: usize = 8;

pub fn record_size(keys: &[&[u8]], tuple_len: usize) -> usize {
    let klen: usize = keys.iter().map(|k| k.len()).sum();
    FIXED + 2 * keys.len() + klen + tuple_len
}

/// Writes a record into an allocated block of at least `record_size` bytes.
///
/// # Safety
/// `dst` points at `record_size(keys, tuple_len)` writable bytes; `tuple` at `tuple_len` bytes.
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

/// Order of index `i`: its key, then the primary key (so every index is a total order).
#[inline]
pub fn cmp_rows(i: usize, a: u64, b: u64) -> Ordering {
    let (ra, rb) = (Row::at(a), Row::at(b));
    match ra.key(i).cmp(rb.key(i)) {
        Ordering::Equal if i != 0 => ra.key(0).cmp(rb.key(0)),
        o => o,
    }
}
