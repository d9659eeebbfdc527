//! The pure core of tablecache: everything that can be written and tested
//! without a PostgreSQL server.
//!
//! * [`alloc`]: a region allocator over a raw shared-memory segment, addressed
//!   by offsets because every backend maps the segment at its own address.
//! * [`keys`]: memcomparable key encoding, so ordered indexes compare rows
//!   with `memcmp` in PostgreSQL's btree order.
//! * [`index`]: sorted arrays of row offsets (search, range, merge).
//! * [`interval`]: coverage sets of half-open key intervals (what is loaded).
//! * [`walrec`]: the WAL records that carry invalidations to hot standbys.
//!
//! It deliberately has no PostgreSQL dependency: the shared-memory store and
//! the key encoding are the parts where a bug corrupts data silently, so they
//! are unit tested, property tested and fuzzed here, fast and without a server.

pub mod alloc;
pub mod keys;
pub mod index;
pub mod interval;
pub mod walrec;
