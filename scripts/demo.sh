#!/usr/bin/env bash
# tablecache demo: set up the machine, build and install the extension
# (release), start a private server "demo", load sample data, define and load
# the benchmark cache (bench/data/cache.sql: it maintains itself), and show the
# API at work (scripts/demo.sql). Leaves the server running.
#
#   bash scripts/demo.sh [--scale 0.02] [--debug] [--no-setup] [--pgroot DIR] [--port N]
#
#   --scale S     data size (bench/data/generate.sql; 1 = 1,000,000 orders)
#   --debug       debug build instead of release (faster to compile)
#   --no-setup    skip scripts/setup.sh (the machine is already set up)
#   --pgroot DIR  install into a private copy of PostgreSQL in DIR (scripts/pgroot.sh) and
#                 run the server from it, leaving the system installation (and the servers
#                 that loaded it) alone
#   --port N      the server's port (default 55433)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scale=0.02; build=--release; do_setup=1; pgroot=""; PORT=55433
usage() { echo "usage: $0 [--scale S] [--debug] [--no-setup] [--pgroot DIR] [--port N]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) [ $# -ge 2 ] || usage; scale="$2"; shift 2 ;;
        --debug) build=--debug; shift ;;
        --no-setup) do_setup=0; shift ;;
        --pgroot) [ $# -ge 2 ] || usage; pgroot="$2"; shift 2 ;;
        --port) [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || usage; PORT="$2"; shift 2 ;;
        *) usage ;;
    esac
done
build_args=("$build")
if [ -n "$pgroot" ]; then
    build_args+=(--pgroot "$pgroot")
    export TABLECACHE_PGROOT="$pgroot"   # scripts/server.sh runs that copy's PostgreSQL
fi
PSQL=(bash "$ROOT/scripts/server.sh" psql demo "$PORT" -X -v ON_ERROR_STOP=1)

[ "$do_setup" = 1 ] && bash scripts/setup.sh
bash scripts/build.sh "${build_args[@]}"

# restart so the server runs the library just installed, with an empty region
bash scripts/server.sh stop demo "$PORT" >/dev/null 2>&1 || true
bash scripts/server.sh start demo "$PORT"

echo "==> demo: database demo, extension, sample data at scale $scale"
"${PSQL[@]}" -q -c "DROP DATABASE IF EXISTS demo WITH (FORCE)" -c "CREATE DATABASE demo"
"${PSQL[@]}" -q -d demo -c "CREATE EXTENSION tablecache"
"${PSQL[@]}" -q -d demo -v scale="$scale" -f bench/data/generate.sql
echo "==> demo: defining and loading the cache recent_orders (bench/data/cache.sql)"
"${PSQL[@]}" -d demo -e -f bench/data/cache.sql

echo "==> demo: the API at work"
"${PSQL[@]}" -d demo -e -f scripts/demo.sql

env_prefix=""; [ -n "$pgroot" ] && env_prefix="TABLECACHE_PGROOT=$pgroot "
cat <<MSG

==> The demo server is still running.
    connect:  ${env_prefix}bash scripts/server.sh psql demo $PORT -d demo
              (or: psql -h /tmp/tablecache-demo -p $PORT -U postgres demo)
    stop:     ${env_prefix}bash scripts/server.sh stop demo $PORT
MSG
