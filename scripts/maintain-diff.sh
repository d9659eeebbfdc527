#!/usr/bin/env bash
# The long run of the differential self-maintenance test
# (pg_test/sessions/test_maintain_diff.py), on a private server of its own.
#
#   scripts/maintain-diff.sh [--txns N] [--seed S] [--port P] [--keep]
#
#   --txns N   transactions to run (default 20000; the CI run of the sessions stage does 2000)
#   --seed S   the seed (default: a new random one, printed); a failure prints the seed
#              to rerun it with, the failing transaction, and writes a replay script
#   --port P   port of the private server (default 55447); its directory is
#              /tmp/tablecache-maintain-diff-P (socket, data, server.log)
#   --keep     leave the server running and keep the test's database afterwards
#
# The extension must be built and installed first: scripts/build.sh [--debug], or with
# TABLECACHE_PGROOT=DIR into a private PostgreSQL copy (scripts/build.sh --pgroot DIR), which
# this script then runs. Environment passed on: TABLECACHE_DIFF_VERBOSE=1 (progress every
# 100 rounds), TABLECACHE_DIFF_DIR (where the replay script goes, default /tmp).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

txns=20000
seed=""
port=55447
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --txns) txns="${2:?--txns needs a value}"; shift ;;
        --txns=*) txns="${1#*=}" ;;
        --seed) seed="${2:?--seed needs a value}"; shift ;;
        --seed=*) seed="${1#*=}" ;;
        --port) port="${2:?--port needs a value}"; shift ;;
        --port=*) port="${1#*=}" ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$txns" =~ ^[0-9]+$ ]] || { echo "--txns must be a number" >&2; exit 2; }
[[ "$port" =~ ^[0-9]+$ ]] || { echo "--port must be a number" >&2; exit 2; }
if [ -z "$seed" ]; then
    seed=$(( (RANDOM << 15 | RANDOM) ))
fi
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "--seed must be a number" >&2; exit 2; }

name="maintain-diff-$port"
stop_server() {
    if [ "$keep" = 0 ]; then
        bash "$ROOT/scripts/server.sh" stop "$name" "$port" >/dev/null 2>&1 || true
    fi
}
trap stop_server EXIT
bash "$ROOT/scripts/server.sh" start "$name" "$port"
log="/tmp/tablecache-$name/server.log"
log_from=$(( $(stat -c %s "$log" 2>/dev/null || echo 0) + 1 ))

echo "==> maintain-diff: TABLECACHE_DIFF_SEED=$seed TABLECACHE_DIFF_TXNS=$txns (server /tmp/tablecache-$name)"
start=$(date +%s)
rc=0
TABLECACHE_PGHOST="/tmp/tablecache-$name" TABLECACHE_PGPORT="$port" \
    TABLECACHE_DIFF_SEED="$seed" TABLECACHE_DIFF_TXNS="$txns" \
    TABLECACHE_DIFF_KEEP="$keep" \
    /usr/bin/python3 "$ROOT/pg_test/sessions/run.py" test_maintain_diff.py || rc=$?
echo "==> maintain-diff: seed $seed, $txns transactions: $([ $rc = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start ))s"
crashes=$(tail -c "+$log_from" "$log" 2>/dev/null | grep -a "terminated by signal" || true)
if [ -n "$crashes" ]; then
    echo "==> maintain-diff: a backend crashed during the run ($log):" >&2
    echo "$crashes" >&2
    rc=1
fi
exit $rc
