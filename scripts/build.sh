#!/usr/bin/env bash
# Build tablecache and install it (tablecache.so, control file, SQL) into the
# system PostgreSQL 15, or with --pgroot DIR into a private copy of it
# (scripts/pgroot.sh; servers started with TABLECACHE_PGROOT=DIR use it).
# Default: release build. --debug: debug build (faster to compile; used by the
# test suite).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"

profile=(--release)
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=() ;;
        --release) profile=(--release) ;;
        --pgroot) PG_CONFIG=$(bash "$ROOT/scripts/pgroot.sh" "$2"); shift ;;
        *) echo "usage: $0 [--debug|--release] [--pgroot DIR]" >&2; exit 2 ;;
    esac
    shift
done

cd "$ROOT"
# Running servers map the installed library; pgrx rewrites the file in place, which would change
# the code under them. Unlinking it first gives the new build a new inode instead.
rm -f "$($PG_CONFIG --pkglibdir)/tablecache.so"
echo "==> build: cargo pgrx install ${profile[*]:-(debug)} --pg-config $PG_CONFIG"
cargo pgrx install "${profile[@]}" --pg-config "$PG_CONFIG"
echo "==> build: installed $(ls "$($PG_CONFIG --pkglibdir)/tablecache.so")"
