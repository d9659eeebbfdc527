#!/usr/bin/env bash
# tablecache demo: set up the machine, build and install the extension
# (release), start a private server "demo", load sample data, define and load
# the benchmark cache, and show the API at work. Leaves the server running.
#
#   bash scripts/demo.sh [--scale 0.02] [--debug] [--no-setup]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scale=0.02; build=--release; do_setup=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale="$2"; shift 2 ;;
        --debug) build=--debug; shift ;;
        --no-setup) do_setup=0; shift ;;
        *) echo "usage: $0 [--scale S] [--debug] [--no-setup]" >&2; exit 2 ;;
    esac
done
PORT=55433
PSQL=(bash "$ROOT/scripts/server.sh" psql demo "$PORT" -X -v ON_ERROR_STOP=1)

[ "$do_setup" = 1 ] && bash scripts/setup.sh
bash scripts/build.sh "$build"

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

cat <<MSG

==> The demo server is still running.
    connect:  bash scripts/server.sh psql demo -d demo
              (or: psql -h /tmp/tablecache-demo -p $PORT -U postgres demo)
    stop:     bash scripts/server.sh stop demo
MSG
