//! What a writer pass allocates before it is published: its arena blocks (given back if the
//! pass fails, or if its transaction aborts before publishing), the owner's share they count
//! against, and the staged contents themselves.

use super::inval::Collected;
use super::{publish, window::Mode, Contents};
use crate::bound::Bound;
use crate::catalog::CacheDef;
use crate::shmem::{self, slot::KeyRef, SlotState};
use crate::fail_detail;
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use tablecache_core::alloc::Offset;

thread_local! {
    /// Arena blocks this backend allocated for a pass that is not finished yet.
    static STAGED: RefCell<Vec<Offset>> = const { RefCell::new(Vec::new()) };
}

/// Frees whatever a failed or interrupted pass left staged (also called at backend exit).
pub fn free_staged() {
    let blocks: Vec<Offset> = STAGED.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if !blocks.is_empty() {
        shmem::free_many(blocks);
    }
}

pub struct StagingGuard;
impl Drop for StagingGuard {
    fn drop(&mut self) {
        free_staged();
    }
}

/// Allocations of one pass, within the owner's share of the region.
pub struct Alloc<'a> {
    pub def: &'a CacheDef,
    /// bytes the pass may allocate, None: unbounded
    pub budget: Option<u64>,
    pub used: u64,
}

impl Alloc<'_> {
    pub fn alloc(&mut self, size: usize) -> Offset {
        if let Some(b) = self.budget {
            if self.used + size as u64 > b {
                fail_detail!(
                    ERRCODE_OUT_OF_MEMORY,
                    format!("tablecache.owner_share is {}%: the caches of role {} may hold {} bytes together", crate::guc::OWNER_SHARE.get(), crate::keys::role_name(self.def.owner), b),
                    "cache \"{}\" would take more than its owner's share of tablecache memory",
                    self.def.name
                );
            }
        }
        match shmem::alloc(size) {
            Some(off) => {
                STAGED.with(|s| s.borrow_mut().push(off));
                self.used += shmem::arena().usable_size(off) as u64;
                off
            }
            None => {
                let st = shmem::memory_stats();
                fail_detail!(
                    ERRCODE_OUT_OF_MEMORY,
                    format!("{} of {} bytes in use, {} requested; raise tablecache.memory or load a smaller window", st.used_bytes, st.total_bytes, size),
                    "tablecache memory is full while loading cache \"{}\"",
                    self.def.name
                )
            }
        }
    }

    pub fn write_bound(&mut self, b: &Bound) -> KeyRef {
        let buf = b.to_bytes();
        let off = self.alloc(buf.len());
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), shmem::ptr(off), buf.len()) };
        KeyRef { off, len: b.key.len() as u32, present: 1 }
    }
}

/// Non-failing variant of `write_bound` (PRE_COMMIT): None when the arena is full.
pub fn try_write_bound(b: &Bound) -> Option<KeyRef> {
    let buf = b.to_bytes();
    let off = shmem::alloc(buf.len())?;
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), shmem::ptr(off), buf.len()) };
    Some(KeyRef { off, len: b.key.len() as u32, present: 1 })
}

pub fn read_bound(k: &KeyRef) -> Option<Bound> {
    (k.present != 0).then(|| unsafe { Bound::from_raw(shmem::ptr(k.off), k.len as usize) })
}

/// The current window of slot `i` as (index name, ge, lt); None when unloaded. Callers hold
/// the slot lock or the writer lock.
pub fn window_spec(i: usize) -> Option<(String, Option<Bound>, Option<Bound>)> {
    let s = shmem::slot(i);
    if s.state != SlotState::Loaded || s.window_index < 0 {
        return None;
    }
    Some((s.window_name_str().to_string(), read_bound(&s.window_ge), read_bound(&s.window_lt)))
}

/// The current window of slot `i` as (index position, ge, lt), if it is loaded for `def`.
pub fn current_window(def: &CacheDef, i: usize) -> Option<(usize, Option<Bound>, Option<Bound>)> {
    let s = shmem::slot(i);
    if s.state != SlotState::Loaded || s.window_index < 0 || s.def_version != def.fingerprint {
        return None;
    }
    let p = def.indexes.iter().position(|ix| ix.name == s.window_name_str())?;
    Some((p, read_bound(&s.window_ge), read_bound(&s.window_lt)))
}


/// New contents of a slot, ready to publish. Dropped unpublished (its transaction aborted, or an
/// error came first), it gives its blocks back.
pub struct Staged {
    pub slot: usize,
    pub contents: Option<Contents>,
    pub expired: Vec<Offset>,
    pub collected: Collected,
    /// every block allocated for it: freed if it is never published
    pub blocks: Vec<Offset>,
    pub mode: Mode,
    /// rows that entered the window
    pub entered: u64,
    /// bytes counted in the slot's `staged_bytes` while it waits
    pub charged: u64,
}

impl Staged {
    /// Counts the staged bytes against the slot's owner until published or dropped.
    pub fn charge(mut self, bytes: u64) -> Staged {
        shmem::slot(self.slot).staged_bytes.fetch_add(bytes, Ordering::AcqRel);
        self.charged = bytes;
        self
    }
}

impl Staged {
    /// Swaps the contents in (cannot fail) and frees what they replace.
    pub fn publish(mut self) {
        let Some(contents) = self.contents.take() else { return };
        self.blocks.clear(); // they are the cache's now
        let garbage = publish(self.slot, contents, &self.expired, &self.collected);
        shmem::free_many(garbage);
        let c = &shmem::slot(self.slot).counters;
        match self.mode {
            Mode::Load | Mode::Reload => c.loads.fetch_add(1, Ordering::Relaxed),
            Mode::Adjust => c.adjustments.fetch_add(1, Ordering::Relaxed),
            Mode::Refresh => c.refreshes.fetch_add(1, Ordering::Relaxed),
        };
        if self.mode != Mode::Refresh && !self.collected.is_empty() {
            c.refreshes.fetch_add(1, Ordering::Relaxed);
        }
        c.rows_loaded.fetch_add(self.entered, Ordering::Relaxed);
        c.rows_expired.fetch_add(self.expired.len() as u64, Ordering::Relaxed);
    }

    /// The window it holds: (index name, ge, lt).
    pub fn window(&self) -> Option<(String, Option<Bound>, Option<Bound>)> {
        let c = self.contents.as_ref()?;
        Some((c.window_name.clone(), read_bound(&c.window_ge), read_bound(&c.window_lt)))
    }

    pub fn rows(&self) -> u64 {
        self.contents.as_ref().map_or(0, |c| c.rows)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.charged != 0 {
            shmem::slot(self.slot).staged_bytes.fetch_sub(self.charged, Ordering::AcqRel);
        }
        if !self.blocks.is_empty() {
            shmem::free_many(std::mem::take(&mut self.blocks));
        }
    }
}


/// The blocks staged so far by this backend's pass, taken over by the contents they make up.
pub fn take_staged() -> Vec<Offset> {
    STAGED.with(|st| std::mem::take(&mut *st.borrow_mut()))
}

