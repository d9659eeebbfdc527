#!/usr/bin/env bash
# Private PostgreSQL 15 servers for tablecache, run as the 'postgres' user.
#
#   scripts/server.sh start NAME [PORT]   initdb (first time) + start, wait until ready
#   scripts/server.sh stop  NAME [PORT]   fast shutdown (no error if not running)
#   scripts/server.sh psql  NAME [PORT] [psql args...]   psql as postgres on its socket
#   scripts/server.sh status NAME [PORT]
#
# Data dir /tmp/tablecache-NAME/data, socket dir /tmp/tablecache-NAME, log
# /tmp/tablecache-NAME/server.log, unix socket only (listen_addresses='').
# Default ports: demo 55433, regress 55434, sessions 55435, other 55436.
# Environment:
#   TABLECACHE_NO_PRELOAD=1   start without shared_preload_libraries (to test
#                             this script before the extension is installed)
#   TABLECACHE_MEMORY=256MB   size of tablecache.memory
#   TABLECACHE_PGROOT=DIR     run the PostgreSQL of a private copy (scripts/pgroot.sh DIR),
#                             with the build installed there, instead of the system one
set -euo pipefail

BIN="${TABLECACHE_PGROOT:-}/usr/lib/postgresql/15/bin"
cmd="${1:-}"; name="${2:-}"
if [ -z "$cmd" ] || [ -z "$name" ]; then
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
shift 2
case "$name" in
    demo) port=55433 ;; regress) port=55434 ;; sessions) port=55435 ;; *) port=55436 ;;
esac
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then port="$1"; shift; fi

base="/tmp/tablecache-$name"
data="$base/data"
log="$base/server.log"

as_pg() {
    if [ "$(id -un)" = postgres ]; then "$@"
    elif command -v runuser >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
    else sudo -u postgres -- "$@"
    fi
}

is_running() { [ -f "$data/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "$cmd" in
start)
    mkdir -p "$base"
    chown postgres:postgres "$base"
    chmod 0755 "$base"
    if is_running; then
        echo "==> server $name already running (port $port, socket $base)"
        exit 0
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        echo "==> server $name: initdb $data"
        if ! as_pg "$BIN/initdb" -D "$data" -U postgres --auth=trust \
                --locale=C.UTF-8 --encoding=UTF8 >"$base/initdb.log" 2>&1; then
            cat "$base/initdb.log" >&2
            exit 1
        fi
        echo "include_if_exists = 'tablecache.conf'" | as_pg tee -a "$data/postgresql.conf" >/dev/null
    fi
    preload="tablecache"
    [ "${TABLECACHE_NO_PRELOAD:-0}" = 1 ] && preload=""
    # Settings are rewritten at every start so that a flag change takes effect.
    as_pg tee "$data/tablecache.conf" >/dev/null <<CONF
# written by scripts/server.sh at every start
listen_addresses = ''
port = $port
unix_socket_directories = '$base'
shared_preload_libraries = '$preload'
tablecache.memory = '${TABLECACHE_MEMORY:-256MB}'
tablecache.max_caches = 64
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = '128MB'
log_line_prefix = '%m [%p] %q%a '
log_min_messages = warning
lc_messages = 'C'
CONF
    echo "==> server $name: starting on port $port, socket $base (preload='$preload')"
    # pgrx appends a Rust backtrace to every error's DETAIL when RUST_BACKTRACE is set
    if ! RUST_BACKTRACE=0 as_pg env RUST_BACKTRACE=0 "$BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null; then
        echo "==> server $name FAILED to start; log $log:" >&2
        tail -n 50 "$log" >&2 || true
        exit 1
    fi
    echo "==> server $name ready: psql -h $base -p $port -U postgres"
    ;;
stop)
    if is_running; then
        as_pg "$BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
        echo "==> server $name stopped"
    else
        echo "==> server $name not running"
    fi
    ;;
status)
    if is_running; then echo "server $name running (port $port, socket $base)"; else echo "server $name not running"; exit 3; fi
    ;;
psql)
    exec "$BIN/psql" -h "$base" -p "$port" -U postgres "$@"
    ;;
*)
    echo "unknown command $cmd (start|stop|status|psql)" >&2; exit 2 ;;
esac
