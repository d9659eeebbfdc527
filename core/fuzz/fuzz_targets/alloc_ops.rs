//! Region allocator under arbitrary alloc/free sequences, against a model of
//! the live blocks: results aligned and inside the heap, blocks (header
//! included) never overlap, payload patterns survive other operations,
//! `check()` passes after every operation, the counters match the model,
//! `alloc` fails exactly when no free block is large enough, and freeing
//! everything leaves one free block and the starting counters.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tablecache_core::alloc::{Arena, Offset};

#[derive(Arbitrary, Debug)]
enum Op {
    /// 0..=255 bytes: the exact-size bins.
    Small(u8),
    /// Up to 64 KiB: the power-of-two bins.
    Medium(u16),
    /// Scaled to the arena: whole-arena requests, near misses.
    Large(u32),
    /// Absurd sizes: overflow paths.
    Huge(u64),
    /// Free the i-th live block (mod count).
    Free(u16),
    /// Free the newest live block (stack-like use coalesces to the left).
    FreeLast,
}

struct Live {
    off: Offset,
    usable: usize,
    fill: u8,
}

fn fill(a: &Arena, b: &Live) {
    // SAFETY: [off, off + usable) is the payload of a live block, which is
    // ours to write (the model asserts it lies inside the arena).
    unsafe { std::ptr::write_bytes(a.ptr(b.off), b.fill, b.usable) }
}

fn verify(a: &Arena, b: &Live) {
    // SAFETY: as in `fill`.
    let s = unsafe { std::slice::from_raw_parts(a.ptr(b.off), b.usable) };
    if let Some(i) = s.iter().position(|&c| c != b.fill) {
        panic!("block at {} (usable {}): byte {i} is {:#x}, wrote {:#x}", b.off, b.usable, s[i], b.fill);
    }
}

/// Sizes of the free stretches between live blocks (block = header word +
/// usable payload), in address order; asserts the blocks are disjoint.
fn gaps(live: &[Live], heap_start: u64, heap_end: u64) -> Vec<u64> {
    let mut blocks: Vec<(u64, u64)> = live.iter().map(|b| (b.off - 8, b.off + b.usable as u64)).collect();
    blocks.sort();
    let mut out = Vec::new();
    let mut cur = heap_start;
    for (lo, hi) in blocks {
        assert!(lo >= cur, "live blocks overlap at {lo}");
        if lo > cur {
            out.push(lo - cur);
        }
        cur = hi;
    }
    assert!(cur <= heap_end);
    if heap_end > cur {
        out.push(heap_end - cur);
    }
    out
}

fn run(u: &mut Unstructured) -> Result<()> {
    // 4 KiB .. 4 MiB, not always a multiple of 8 (from_raw rounds down).
    let size = 4096 + u.int_in_range(0usize..=(4 << 20) - 4096)?;
    let size = if u.ratio(1u8, 2)? { size.min(64 << 10) } else { size };
    let junk: u64 = u.arbitrary()?;
    let mut mem = vec![junk; size.div_ceil(8)];
    // SAFETY: a Vec<u64> is 8-aligned and valid for size bytes; it outlives
    // every use of the arena below, and nothing else touches it meanwhile.
    let a = unsafe { Arena::from_raw(mem.as_mut_ptr() as *mut u8, size) };
    a.format();
    a.check().unwrap();
    let start = a.stats();
    let asize = (size & !7) as u64;
    assert_eq!(start.used_bytes, 0);
    assert_eq!(start.free_bytes, start.total_bytes);
    assert_eq!(start.allocations, 0);
    assert!(start.total_bytes < asize);
    assert_eq!(a.free_block_count(), 1);
    assert_eq!(a.largest_free().map(|l| l as u64), Some(start.total_bytes - 8));
    // The heap is [heap_start, heap_end); the sentinel word follows it.
    let heap_end = asize - 8;
    let heap_start = heap_end - start.total_bytes;

    let mut live: Vec<Live> = Vec::new();
    let mut counter = 0u8;
    let nops = u.int_in_range(0usize..=400)?;
    for _ in 0..nops {
        if u.is_empty() {
            break;
        }
        let op: Op = u.arbitrary()?;
        let req: Option<usize> = match op {
            Op::Small(n) => Some(n as usize),
            Op::Medium(n) => Some(n as usize),
            Op::Large(n) => Some((n as u64 % (asize + asize / 8 + 1)) as usize),
            Op::Huge(n) => Some(usize::MAX - (n % 4096) as usize),
            Op::Free(i) if !live.is_empty() => {
                let b = live.swap_remove(i as usize % live.len());
                verify(&a, &b);
                a.free(b.off);
                None
            }
            Op::FreeLast if !live.is_empty() => {
                let b = live.pop().unwrap();
                verify(&a, &b);
                a.free(b.off);
                None
            }
            _ => None,
        };
        if let Some(req) = req {
            let gaps = gaps(&live, heap_start, heap_end);
            let maxgap = gaps.iter().copied().max().unwrap_or(0);
            // Block size alloc needs: payload + header, 8-aligned, >= 32.
            let need = (req as u64).checked_add(15).map(|n| (n & !7).max(32));
            let should_fit = need.is_some_and(|n| n <= maxgap);
            let largest = a.largest_free();
            let got = a.alloc(req);
            assert_eq!(got.is_some(), should_fit, "alloc({req}) with free gaps {gaps:?}: got {got:?}");
            // largest_free(): "Largest request that alloc would satisfy right now".
            if maxgap > 0 {
                assert_eq!(largest.map(|l| l as u64), Some(maxgap - 8), "largest_free with free gaps {gaps:?}");
            } else {
                assert_eq!(largest, None, "largest_free on a full heap");
            }
            assert!(got.is_some() || largest.is_none_or(|l| req > l), "alloc({req}) failed but largest_free() = {largest:?} (free gaps {gaps:?})");
            if let Some(off) = got {
                let usable = a.usable_size(off);
                assert!(usable >= req && usable >= 8, "usable {usable} for request {req}");
                assert!(off % 8 == 0 && off >= heap_start + 8, "offset {off}");
                assert!(off + usable as u64 <= heap_end, "block {off}+{usable} runs into the sentinel of a {asize}-byte arena");
                // Header word at off-8 through the payload end must not
                // touch any other live block's header or payload.
                let (lo, hi) = (off - 8, off + usable as u64);
                for b in &live {
                    let (blo, bhi) = (b.off - 8, b.off + b.usable as u64);
                    assert!(hi <= blo || bhi <= lo, "new block [{lo},{hi}) overlaps live [{blo},{bhi})");
                }
                counter = counter.wrapping_add(1);
                let b = Live { off, usable, fill: counter | 1 };
                fill(&a, &b);
                live.push(b);
            }
        }
        if let Err(e) = a.check() {
            panic!("check failed after {op:?}: {e}");
        }
        let st = a.stats();
        assert_eq!(st.total_bytes, start.total_bytes);
        assert_eq!(st.allocations, live.len() as u64);
        assert_eq!(st.used_bytes, live.iter().map(|b| b.usable as u64 + 8).sum::<u64>());
        assert_eq!(st.used_bytes + st.free_bytes, st.total_bytes);
        // Full coalescing: the free blocks are exactly the gaps between live
        // blocks.
        let gaps = gaps(&live, heap_start, heap_end);
        assert_eq!(a.free_block_count(), gaps.len(), "free blocks vs gaps {gaps:?}");
        assert_eq!(st.free_bytes, gaps.iter().sum::<u64>());
    }

    for b in &live {
        verify(&a, b);
    }
    // Free the rest in an input-chosen order.
    while !live.is_empty() {
        let i = u.arbitrary::<u16>().unwrap_or(0) as usize % live.len();
        let b = live.swap_remove(i);
        verify(&a, &b);
        a.free(b.off);
    }
    a.check().unwrap();
    assert_eq!(a.stats(), start);
    assert_eq!(a.free_block_count(), 1);
    assert_eq!(a.largest_free().map(|l| l as u64), Some(start.total_bytes - 8));
    drop(mem);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
