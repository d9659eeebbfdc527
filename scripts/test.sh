#!/usr/bin/env bash
# The whole tablecache test suite, fail-fast, with a summary.
#
#   scripts/test.sh                 every stage
#   scripts/test.sh regress sessions   only the named stages (the extension
#                                   must already be installed: see build.sh)
#   scripts/test.sh --keep-going    run every stage even after a failure
#   TABLECACHE_SESSIONS_PATTERN=test_upgrade.py scripts/test.sh sessions   some session tests
#
# Stages: setup, core (cargo test --release in core/), pgtest (#[pg_test]s via
# cargo pgrx test pg15, server run as postgres), build (debug install into the
# system PostgreSQL), regress (pg_regress over pg_test/regress against a
# private server), sessions (multi-connection Python tests in pg_test/sessions
# against a private server).
set -uo pipefail
# The whole script is one { ... } block, so bash parses it completely before
# running it: editing this file during a run cannot derail that run.
{

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG_REGRESS="$(dirname "$($PG_CONFIG --pgxs)")/../test/regress/pg_regress"
REGRESS_PORT=55434
SESSIONS_PORT=55435
OUT=/tmp/tablecache-test
LOGS="$OUT/logs"
ALL_STAGES=(setup core pgtest build regress sessions fuzz)

keep_going=0
stages=()
for a in "$@"; do
    case "$a" in
        --keep-going) keep_going=1 ;;
        setup|core|pgtest|build|regress|sessions|fuzz) stages+=("$a") ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $a" >&2; exit 2 ;;
    esac
done
[ ${#stages[@]} -eq 0 ] && stages=("${ALL_STAGES[@]}")

# One run at a time on a machine: runs share the log dir and the private
# regress/sessions servers.
exec 9>/tmp/tablecache-test.lock
if ! flock -n 9; then
    echo "==> another scripts/test.sh run holds /tmp/tablecache-test.lock; waiting for it to finish"
    flock 9
fi
rm -rf "$LOGS"; mkdir -p "$LOGS"

cleanup() {
    bash "$ROOT/scripts/server.sh" stop regress "$REGRESS_PORT" >/dev/null 2>&1 || true
    bash "$ROOT/scripts/server.sh" stop sessions "$SESSIONS_PORT" >/dev/null 2>&1 || true
}
trap cleanup EXIT

declare -A S_PASS S_FAIL S_STATUS S_TIME
total_pass=0; total_fail=0; failed_any=0

banner() { printf '\n\033[1m======== %s ========\033[0m\n' "$*"; }

# record STAGE RC PASSED FAILED
record() {
    local st=$1 rc=$2 p=${3:-0} f=${4:-0}
    [ -z "$p" ] && p=0; [ -z "$f" ] && f=0
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # a stage that broke without counting
    if [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then rc=1; fi
    S_PASS[$st]=$p; S_FAIL[$st]=$f
    S_STATUS[$st]=$([ "$rc" -eq 0 ] && echo ok || echo FAILED)
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$rc" -ne 0 ] && failed_any=1
    return 0
}

# Sum "test result: ... N passed; M failed" lines of a cargo test log.
cargo_counts() {
    local log=$1
    local p f
    p=$(grep -aoE 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
    f=$(grep -aoE '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
    echo "$p $f"
}

stage_setup() {
    bash scripts/setup.sh
}

stage_core() {
    # the architecture: layers, no import cycles, no oversized file (counts as one test)
    /usr/bin/python3 scripts/layers.py || return 1
    (cd core && cargo test --release)
}

stage_pgtest() {
    local pgdata=/tmp/tablecache-pgrx-test
    mkdir -p "$pgdata"; chown postgres:postgres "$pgdata"
    # the test framework runs `sudo -u postgres mkdir` inside it and writes
    # the server's socket there; the target dir must be readable by postgres.
    chmod o+rx "$ROOT" "$ROOT/target" 2>/dev/null || true
    CARGO_PGRX_TEST_RUNAS=postgres CARGO_PGRX_TEST_PGDATA="$pgdata" \
        cargo pgrx test pg15
}

stage_build() {
    bash scripts/build.sh --debug ${TABLECACHE_PGROOT:+--pgroot "$TABLECACHE_PGROOT"}
}

stage_regress() {
    local out="$OUT/regress" in="$OUT/regress-input" t
    rm -rf "$out" "$in"; mkdir -p "$out" "$in/expected"
    # pg_regress aborts on a test without expected output: give such a test an
    # empty expected file so it runs and fails; review results/<test>.out by
    # hand before copying it to pg_test/regress/expected/.
    ln -s "$ROOT/pg_test/regress/sql" "$in/sql"
    cp "$ROOT"/pg_test/regress/expected/*.out "$in/expected/" 2>/dev/null || true
    for t in $(awk '$1 == "test:" { for (i = 2; i <= NF; i++) print $i }' "$ROOT/pg_test/regress/schedule"); do
        if [ ! -f "$in/expected/$t.out" ]; then
            echo "WARNING: pg_test/regress/expected/$t.out is missing: $t will fail (output in $out/results/$t.out)"
            : > "$in/expected/$t.out"
        fi
    done
    bash scripts/server.sh stop regress "$REGRESS_PORT" >/dev/null 2>&1 || true
    rm -rf /tmp/tablecache-regress
    bash scripts/server.sh start regress "$REGRESS_PORT" || return 1
    local rc=0
    "$PG_REGRESS" \
        --host=/tmp/tablecache-regress --port="$REGRESS_PORT" --user=postgres \
        --bindir="${TABLECACHE_PGROOT:-}/usr/lib/postgresql/15/bin" \
        --inputdir="$in" --outputdir="$out" \
        --dbname=regress_tablecache --load-extension=tablecache \
        --schedule="$ROOT/pg_test/regress/schedule" || rc=$?
    if grep -q FAILED "$out/regression.out" 2>/dev/null; then rc=1; fi
    if [ "$rc" -ne 0 ] && [ -s "$out/regression.diffs" ]; then
        echo "---------------- $out/regression.diffs ----------------"
        cat "$out/regression.diffs"
        echo "--------------------------------------------------------"
    fi
    return $rc
}

stage_sessions() {
    bash scripts/server.sh stop sessions "$SESSIONS_PORT" >/dev/null 2>&1 || true
    rm -rf /tmp/tablecache-sessions
    bash scripts/server.sh start sessions "$SESSIONS_PORT" || return 1
    TABLECACHE_PGHOST=/tmp/tablecache-sessions TABLECACHE_PGPORT="$SESSIONS_PORT" \
        /usr/bin/python3 "$ROOT/pg_test/sessions/run.py" ${TABLECACHE_SESSIONS_PATTERN:+"$TABLECACHE_SESSIONS_PATTERN"}
}

# A short fuzzing run of the pure core (replays the committed crash inputs first).
stage_fuzz() {
    bash "$ROOT/scripts/fuzz.sh" --ci
}

run_stage() {
    local st=$1 log="$LOGS/$1.log" rc start p f crashes="" lf born line
    banner "stage $st (log: $log)"
    start=$(date +%s)
    "stage_$st" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    S_TIME[$st]=$(( $(date +%s) - start ))
    # A crashed backend fails the stage even when every test passed. Logs looked at: the
    # regress/sessions server and every private server /tmp/tablecache-*/ whose log was
    # created (birth time; mtime where the file system keeps none) during the stage;
    # test_reliability SIGKILLs backends of its private server on purpose ("signal 9: Killed"
    # there is no crash). `cargo pgrx test` writes no server log file (pg_ctl -l is a pipe
    # read by the test runner, which prints the postmaster's lines for failing tests): its
    # crashes are looked for in the stage output.
    case "$st" in
        regress|sessions)
            for lf in /tmp/tablecache-*/server.log; do
                [ -f "$lf" ] || continue
                born=$(stat -c %W "$lf" 2>/dev/null)
                [ "${born:-0}" -gt 0 ] 2>/dev/null || born=$(stat -c %Y "$lf")
                [ "$born" -ge "$start" ] || continue
                case "$lf" in
                    /tmp/tablecache-regress/*|/tmp/tablecache-sessions/*) line=$(grep -aH "terminated by signal" "$lf") ;;
                    *) line=$(grep -aH "terminated by signal" "$lf" | grep -av "terminated by signal 9: Killed") ;;
                esac
                [ -n "$line" ] && crashes+="$line"$'\n'
            done ;;
        pgtest) crashes=$(grep -a "terminated by signal" "$log") ;;
    esac
    if [ -n "$crashes" ]; then
        printf '==> stage %s: a server process was terminated by a signal:\n%s\n' "$st" "${crashes%$'\n'}" | tee -a "$log"
        rc=1
    fi
    case "$st" in
        core|pgtest) read -r p f < <(cargo_counts "$log")
            [ "$st" = core ] && grep -q "^layers: .* 0 problems" "$log" && p=$((p + 1)) ;;
        regress)
            p=$(grep -aEc '^(test +)?[ ]*[A-Za-z0-9_]+ +\.\.\. ok' "$log")
            f=$(grep -aEc '^(test +)?[ ]*[A-Za-z0-9_]+ +\.\.\. FAILED' "$log") ;;
        fuzz)
            p=$(grep -aoE '^fuzz: [0-9]+ passed' "$log" | tail -1 | awk '{print $2}')
            f=$(grep -aoE '^fuzz: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $4}') ;;
        sessions)
            p=$(grep -aoE '^SESSIONS: [0-9]+ passed' "$log" | awk '{print $2}')
            f=$(grep -aoE '^SESSIONS: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{print $4}') ;;
        *) if [ "$rc" -eq 0 ]; then p=1; f=0; else p=0; f=1; fi ;;
    esac
    record "$st" "$rc" "${p:-0}" "${f:-0}"
    echo "==> stage $st: ${S_STATUS[$st]} (${S_PASS[$st]} passed, ${S_FAIL[$st]} failed, ${S_TIME[$st]}s)"
}

for st in "${stages[@]}"; do
    if [ "$failed_any" -ne 0 ] && [ "$keep_going" -eq 0 ]; then
        S_STATUS[$st]=skipped
        continue
    fi
    run_stage "$st"
done

banner "summary"
for st in "${stages[@]}"; do
    if [ "${S_STATUS[$st]}" = skipped ]; then
        printf '  %-9s %-8s\n' "$st" skipped
    else
        printf '  %-9s %-8s %4s passed %4s failed  %5ss\n' "$st" "${S_STATUS[$st]}" "${S_PASS[$st]}" "${S_FAIL[$st]}" "${S_TIME[$st]}"
    fi
done
echo "logs: $LOGS"
echo "$total_pass passed, $total_fail failed"
[ "$failed_any" -eq 0 ]
exit $?
}
