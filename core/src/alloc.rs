//! Region allocator over a raw byte range, addressed by offsets.
//!
//! The range is a PostgreSQL shared memory segment that every backend maps at
//! a different address, so nothing stored inside it may be a pointer: free
//! list links and the values handed out are byte offsets from the base.
//!
//! Layout: a fixed header (counters, bin bitmap, bin heads) at offset 0, then
//! the heap of blocks, then an 8-byte sentinel header marked used so that the
//! last block never tries to coalesce past the end.
//!
//! Block format (all words are little `u64`s, 8-byte aligned):
//! * header word: `size | USED | PREV_USED`; size includes the header.
//! * used block: header, then the payload (the returned offset points here).
//! * free block: header, `next`, `prev` (offsets of neighbours in its bin,
//!   0 = none), ..., footer = size. The footer lets `free` find the start of a
//!   free left neighbour; used blocks need no footer because the right
//!   neighbour's `PREV_USED` bit says whether a footer exists.
//!
//! The caller serialises all calls (PostgreSQL lock); nothing here is atomic.

use std::ptr;

/// Byte offset from the arena base. 0 is never a valid allocation.
pub type Offset = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocStats {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
    pub allocations: u64,
}

const MAGIC: u64 = 0x7462_6c63_6163_6865; // "tblcache"
const USED: u64 = 1;
const PREV_USED: u64 = 2;
const FLAGS: u64 = 7;
/// header + next + prev + footer: the smallest block that can sit on a free list.
const MIN_BLOCK: u64 = 32;
const NBINS: usize = 64;
/// Exact-size bins cover block sizes below this; above it, one bin per power of two.
const SMALL_LIMIT: u64 = 256;

// Header word indexes.
const H_MAGIC: u64 = 0;
const H_SIZE: u64 = 1;
const H_USED: u64 = 2;
const H_FREE: u64 = 3;
const H_ALLOCS: u64 = 4;
const H_BITMAP: u64 = 5;
const H_BINS: u64 = 8;
const HEADER_BYTES: u64 = (H_BINS + NBINS as u64) * 8;

/// A view of an arena. Copying it copies the view, not the memory.
#[derive(Clone, Copy)]
pub struct Arena {
    base: *mut u8,
    size: usize,
}

// The arena only stores a base address; synchronisation is the caller's
// (PostgreSQL lock), exactly like for the shared memory it describes.
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

fn bin_of(size: u64) -> usize {
    if size < SMALL_LIMIT {
        // 32..=248 in steps of 8 -> bins 0..=27
        ((size - MIN_BLOCK) / 8) as usize
    } else {
        // 256.. -> 28.. one bin per power of two, the last bin catches the rest
        let log = 63 - size.leading_zeros() as usize; // >= 8
        (28 + log - 8).min(NBINS - 1)
    }
}

impl Arena {
    /// # Safety
    /// `base` must be 8-byte aligned and valid for reads and writes of `size`
    /// bytes for as long as any copy of the returned `Arena` is used, and no
    /// one else may access that memory concurrently with a call on the arena
    /// (the caller holds a lock). `size >= 4096`.
    pub unsafe fn from_raw(base: *mut u8, size: usize) -> Arena {
        assert!((base as usize).is_multiple_of(8), "arena base must be 8-byte aligned");
        assert!(size >= 4096, "arena too small");
        Arena { base, size: size & !7 }
    }

    fn heap_start(&self) -> u64 {
        HEADER_BYTES
    }

    /// Offset of the sentinel header.
    fn heap_end(&self) -> u64 {
        self.size as u64 - 8
    }

    fn rd(&self, off: u64) -> u64 {
        assert!(off.is_multiple_of(8) && off + 8 <= self.size as u64, "arena offset out of range");
        // SAFETY: from_raw's contract makes [base, base+size) valid and
        // exclusively ours during the call; the assert keeps the word inside
        // it and aligned (base is 8-aligned, off is a multiple of 8).
        unsafe { ptr::read(self.base.add(off as usize) as *const u64) }
    }

    fn wr(&self, off: u64, v: u64) {
        assert!(off.is_multiple_of(8) && off + 8 <= self.size as u64, "arena offset out of range");
        // SAFETY: as in `rd`.
        unsafe { ptr::write(self.base.add(off as usize) as *mut u64, v) }
    }

    fn hdr(&self, word: u64) -> u64 {
        self.rd(word * 8)
    }

    fn set_hdr(&self, word: u64, v: u64) {
        self.wr(word * 8, v)
    }

    /// Address of `off`; computing it is safe, dereferencing it is the caller's business.
    pub fn ptr(&self, off: Offset) -> *mut u8 {
        self.base.wrapping_add(off as usize)
    }

    /// Initialise the header and turn the whole heap into one free block.
    pub fn format(&self) {
        for w in 0..HEADER_BYTES / 8 {
            self.set_hdr(w, 0);
        }
        self.set_hdr(H_MAGIC, MAGIC);
        self.set_hdr(H_SIZE, self.size as u64);
        let start = self.heap_start();
        let len = self.heap_end() - start;
        self.wr(self.heap_end(), USED); // sentinel; PREV_USED set by push_free
        self.write_free(start, len, PREV_USED);
        self.set_hdr(H_FREE, len);
    }

    pub fn stats(&self) -> AllocStats {
        AllocStats {
            total_bytes: self.heap_end() - self.heap_start(),
            used_bytes: self.hdr(H_USED),
            free_bytes: self.hdr(H_FREE),
            allocations: self.hdr(H_ALLOCS),
        }
    }

    /// Payload bytes available at `off` (may exceed the requested size).
    pub fn usable_size(&self, off: Offset) -> usize {
        (self.rd(off - 8) & !FLAGS) as usize - 8
    }

    /// Allocate `size` bytes, 8-byte aligned, uninitialised. None if no free block fits.
    pub fn alloc(&self, size: usize) -> Option<Offset> {
        let need = (size as u64).checked_add(8 + 7)? & !7;
        let need = need.max(MIN_BLOCK);
        if need > self.heap_end() - self.heap_start() {
            return None;
        }
        let blk = self.find_fit(need)?;
        let h = self.rd(blk);
        let bsize = h & !FLAGS;
        self.unlink(blk, bsize);
        let taken = if bsize - need >= MIN_BLOCK {
            // The remainder stays free; its left neighbour (us) is now used.
            self.write_free(blk + need, bsize - need, PREV_USED);
            need
        } else {
            let next = blk + bsize;
            self.wr(next, self.rd(next) | PREV_USED);
            bsize
        };
        self.wr(blk, taken | USED | (h & PREV_USED));
        self.set_hdr(H_USED, self.hdr(H_USED) + taken);
        self.set_hdr(H_FREE, self.hdr(H_FREE) - taken);
        self.set_hdr(H_ALLOCS, self.hdr(H_ALLOCS) + 1);
        Some(blk + 8)
    }

    /// Return a block to the heap, merging it with free neighbours at once so
    /// that repeated load/drop cycles cannot fragment the arena into crumbs.
    pub fn free(&self, off: Offset) {
        assert!(off >= self.heap_start() + 8 && off < self.heap_end(), "free of foreign offset");
        let mut blk = off - 8;
        let h = self.rd(blk);
        assert!(h & USED != 0, "double free or corrupt offset {off}");
        let mut size = h & !FLAGS;
        self.set_hdr(H_USED, self.hdr(H_USED) - size);
        self.set_hdr(H_FREE, self.hdr(H_FREE) + size);
        self.set_hdr(H_ALLOCS, self.hdr(H_ALLOCS) - 1);
        let next = blk + size;
        let nh = self.rd(next);
        if nh & USED == 0 {
            let nsize = nh & !FLAGS;
            self.unlink(next, nsize);
            size += nsize;
        }
        let mut flags = h & PREV_USED;
        if flags == 0 {
            let psize = self.rd(blk - 8);
            blk -= psize;
            self.unlink(blk, psize);
            size += psize;
            flags = self.rd(blk) & PREV_USED;
        }
        self.write_free(blk, size, flags);
    }

    /// Write a free block's tags, push it on its bin, and tell the right
    /// neighbour that its left side is free.
    fn write_free(&self, blk: u64, size: u64, flags: u64) {
        self.wr(blk, size | flags);
        self.wr(blk + size - 8, size);
        let next = blk + size;
        self.wr(next, self.rd(next) & !PREV_USED);
        let bin = bin_of(size);
        let head = self.hdr(H_BINS + bin as u64);
        self.wr(blk + 8, head);
        self.wr(blk + 16, 0);
        if head != 0 {
            self.wr(head + 16, blk);
        }
        self.set_hdr(H_BINS + bin as u64, blk);
        self.set_hdr(H_BITMAP, self.hdr(H_BITMAP) | 1 << bin);
    }

    fn unlink(&self, blk: u64, size: u64) {
        let bin = bin_of(size);
        let next = self.rd(blk + 8);
        let prev = self.rd(blk + 16);
        if prev == 0 {
            self.set_hdr(H_BINS + bin as u64, next);
            if next == 0 {
                self.set_hdr(H_BITMAP, self.hdr(H_BITMAP) & !(1 << bin));
            }
        } else {
            self.wr(prev + 8, next);
        }
        if next != 0 {
            self.wr(next + 16, prev);
        }
    }

    /// First fit in the request's own bin (its blocks may be too small), then
    /// the head of the next non-empty bin (the bitmap makes that O(1)).
    fn find_fit(&self, need: u64) -> Option<u64> {
        let bin = bin_of(need);
        let mut b = self.hdr(H_BINS + bin as u64);
        while b != 0 {
            if self.rd(b) & !FLAGS >= need {
                return Some(b);
            }
            b = self.rd(b + 8);
        }
        if bin + 1 >= NBINS {
            return None;
        }
        let higher = self.hdr(H_BITMAP) & (!0u64 << (bin + 1));
        if higher == 0 {
            return None;
        }
        // Bins are ordered by size, so any block of a higher bin is big enough.
        Some(self.hdr(H_BINS + higher.trailing_zeros() as u64))
    }

    /// Walk the whole heap and all free lists and cross-check every invariant.
    pub fn check(&self) -> Result<(), String> {
        if self.hdr(H_MAGIC) != MAGIC {
            return Err("bad magic".into());
        }
        if self.hdr(H_SIZE) != self.size as u64 {
            return Err("size mismatch".into());
        }
        let end = self.heap_end();
        let (mut used, mut free, mut allocs, mut nfree) = (0u64, 0u64, 0u64, 0u64);
        let mut prev_used = true;
        let mut blk = self.heap_start();
        while blk < end {
            let h = self.rd(blk);
            let size = h & !FLAGS;
            if size < MIN_BLOCK || !size.is_multiple_of(8) || blk + size > end {
                return Err(format!("block {blk}: bad size {size}"));
            }
            if (h & PREV_USED != 0) != prev_used {
                return Err(format!("block {blk}: PREV_USED bit wrong"));
            }
            if h & USED != 0 {
                used += size;
                allocs += 1;
                prev_used = true;
            } else {
                if !prev_used {
                    return Err(format!("block {blk}: two adjacent free blocks"));
                }
                if self.rd(blk + size - 8) != size {
                    return Err(format!("block {blk}: footer mismatch"));
                }
                free += size;
                nfree += 1;
                prev_used = false;
            }
            blk += size;
        }
        if blk != end {
            return Err("heap walk overran the end".into());
        }
        let s = self.rd(end);
        if s & !FLAGS != 0 || s & USED == 0 || (s & PREV_USED != 0) != prev_used {
            return Err("bad sentinel".into());
        }
        let mut listed = 0u64;
        let bitmap = self.hdr(H_BITMAP);
        for bin in 0..NBINS {
            let mut b = self.hdr(H_BINS + bin as u64);
            if (b != 0) != (bitmap >> bin & 1 != 0) {
                return Err(format!("bin {bin}: bitmap mismatch"));
            }
            let mut prev = 0;
            while b != 0 {
                if b < self.heap_start() || b >= end || !b.is_multiple_of(8) {
                    return Err(format!("bin {bin}: link {b} out of heap"));
                }
                let h = self.rd(b);
                if h & USED != 0 || bin_of(h & !FLAGS) != bin {
                    return Err(format!("bin {bin}: block {b} used or misbinned"));
                }
                if self.rd(b + 16) != prev {
                    return Err(format!("bin {bin}: block {b} bad prev link"));
                }
                listed += 1;
                if listed > nfree {
                    return Err("free lists longer than free blocks (cycle?)".into());
                }
                prev = b;
                b = self.rd(b + 8);
            }
        }
        if listed != nfree {
            return Err(format!("{nfree} free blocks but {listed} listed"));
        }
        let st = self.stats();
        if st.used_bytes != used || st.free_bytes != free || st.allocations != allocs {
            return Err(format!("counters {st:?} but walk found used {used} free {free} allocs {allocs}"));
        }
        if used + free != st.total_bytes {
            return Err("used + free != total".into());
        }
        Ok(())
    }

    /// Largest request that `alloc` would satisfy right now (heap walk); None when no block is
    /// free at all (then not even `alloc(0)` succeeds).
    pub fn largest_free(&self) -> Option<usize> {
        let mut best = None;
        let mut blk = self.heap_start();
        while blk < self.heap_end() {
            let h = self.rd(blk);
            if h & USED == 0 {
                best = Some(best.unwrap_or(0).max((h & !FLAGS) - 8));
            }
            blk += h & !FLAGS;
        }
        best.map(|b| b as usize)
    }

    /// Number of free blocks (heap walk); lets tests assert full coalescing.
    pub fn free_block_count(&self) -> usize {
        let mut n = 0;
        let mut blk = self.heap_start();
        while blk < self.heap_end() {
            let h = self.rd(blk);
            n += (h & USED == 0) as usize;
            blk += h & !FLAGS;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(words: usize) -> (Vec<u64>, Arena) {
        let mut mem = vec![0u64; words];
        let a = unsafe { Arena::from_raw(mem.as_mut_ptr() as *mut u8, words * 8) };
        a.format();
        (mem, a)
    }

    #[test]
    fn fresh_arena_is_one_free_block() {
        let (_m, a) = arena(1024);
        a.check().unwrap();
        let s = a.stats();
        assert_eq!(s.used_bytes, 0);
        assert_eq!(s.free_bytes, s.total_bytes);
        assert_eq!(s.total_bytes, 8192 - HEADER_BYTES - 8);
        assert_eq!(a.free_block_count(), 1);
    }

    #[test]
    fn alloc_zero_and_free() {
        let (_m, a) = arena(1024);
        let start = a.stats();
        let o = a.alloc(0).unwrap();
        assert!(o != 0 && o % 8 == 0);
        assert!(a.usable_size(o) >= 8);
        a.check().unwrap();
        a.free(o);
        a.check().unwrap();
        assert_eq!(a.stats(), start);
    }

    #[test]
    fn too_big_is_none() {
        let (_m, a) = arena(1024);
        assert_eq!(a.alloc(8192), None);
        assert_eq!(a.alloc(usize::MAX), None);
        assert_eq!(a.alloc(usize::MAX - 7), None);
        let total = a.stats().total_bytes as usize;
        let o = a.alloc(total - 8).unwrap();
        assert_eq!(a.alloc(0), None);
        a.free(o);
        a.check().unwrap();
    }

    #[test]
    fn coalesces_both_sides() {
        let (_m, a) = arena(1024);
        let x: Vec<_> = (0..5).map(|_| a.alloc(40).unwrap()).collect();
        a.free(x[1]);
        a.free(x[3]);
        a.check().unwrap();
        a.free(x[2]); // merges with 1 and 3
        a.check().unwrap();
        assert_eq!(a.free_block_count(), 2);
        a.free(x[0]);
        a.free(x[4]);
        a.check().unwrap();
        assert_eq!(a.free_block_count(), 1);
    }

    #[test]
    fn fragmented_arena_satisfies_coalesced_request() {
        let (_m, a) = arena(64 * 1024);
        let blocks: Vec<_> = std::iter::from_fn(|| a.alloc(100)).collect();
        assert!(blocks.len() > 1000);
        // Free every other block: lots of free space, none contiguous.
        for b in blocks.iter().step_by(2) {
            a.free(*b);
        }
        a.check().unwrap();
        assert_eq!(a.alloc(1000), None);
        // Free a run of neighbours: their space coalesces into one block.
        for b in blocks[100..120].iter().skip(1).step_by(2) {
            a.free(*b);
        }
        a.check().unwrap();
        let big = a.alloc(19 * 112).expect("coalesced run must fit");
        a.check().unwrap();
        a.free(big);
        for (i, b) in blocks.iter().enumerate().skip(1).step_by(2) {
            if !(100..120).contains(&i) {
                a.free(*b);
            }
        }
        a.check().unwrap();
        assert_eq!(a.free_block_count(), 1);
    }

    #[test]
    fn large_allocation() {
        let words = (600usize << 20) / 8;
        let (_m, a) = arena(words);
        let o = a.alloc(500 << 20).unwrap();
        assert!(a.usable_size(o) >= 500 << 20);
        unsafe { ptr::write_bytes(a.ptr(o), 0xAB, 500 << 20) };
        let small = a.alloc(1000).unwrap();
        a.check().unwrap();
        a.free(o);
        a.free(small);
        a.check().unwrap();
        assert_eq!(a.free_block_count(), 1);
    }

    #[test]
    fn repeated_load_drop_does_not_grow() {
        let (_m, a) = arena(128 * 1024);
        let start = a.stats();
        for round in 0..2000 {
            let n = 20 + round % 37;
            let v: Vec<_> = (0..n).map(|i| a.alloc(i * 13 + round % 100).unwrap()).collect();
            for (i, o) in v.iter().enumerate() {
                if i % 2 == 0 {
                    a.free(*o);
                }
            }
            for (i, o) in v.iter().enumerate() {
                if i % 2 == 1 {
                    a.free(*o);
                }
            }
            assert_eq!(a.stats(), start);
        }
        a.check().unwrap();
        assert_eq!(a.free_block_count(), 1);
    }
}
