#!/usr/bin/env bash
# Build tablecache and install it (tablecache.so, control file, SQL) into the
# system PostgreSQL 15. Default: release build. --debug: debug build (faster to
# compile; used by the test suite).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"

profile=(--release)
for a in "$@"; do
    case "$a" in
        --debug) profile=() ;;
        --release) profile=(--release) ;;
        *) echo "usage: $0 [--debug|--release]" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
# Running servers map the installed library; pgrx rewrites the file in place, which would change
# the code under them. Unlinking it first gives the new build a new inode instead.
rm -f "$($PG_CONFIG --pkglibdir)/tablecache.so"
echo "==> build: cargo pgrx install ${profile[*]:-(debug)} --pg-config $PG_CONFIG"
cargo pgrx install "${profile[@]}" --pg-config "$PG_CONFIG"
echo "==> build: installed $(ls "$($PG_CONFIG --pkglibdir)/tablecache.so")"
