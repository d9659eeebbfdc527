#!/usr/bin/env bash
# The tablecache benchmark (BENCHMARK.md), end to end:
#
#   scripts/bench.sh [--smoke|--quick|--full] [--scale S] [--seconds N] [--rounds R]
#                    [--no-build] [--keep] [--out DIR]
#
#   --smoke   scale 0.005, 1 s per pgbench run: checks the command works (CI);
#             writes its report into the results dir only
#   --quick   scale 0.05, 2 s per run, 3 rounds (medians; default): ~5 minutes
#   --full    scale 1, 10 s per run, 3 rounds (medians): what the README quotes
#   --no-build  skip the release build+install (the report still records the
#             checksum of the library the server loaded)
#   --keep    leave the server 'bench' running afterwards
#   --only LIST  run only these parts (comma-separated: reads, w4, w5, w7, w10); the
#             data, cache, verification and W6 always run
#   --growth "S1 S2 S3"  scales of W10 (default "0.1 1 4" with --full, "0.01 0.05 0.2"
#             with --quick, none with --smoke; "" skips it)
#   --out DIR where BENCHMARKS.md and ratios.png go (default: the repo root and
#             bench/ for --quick/--full, the results dir for --smoke)
#
# Builds the release library and installs it into a private copy of PostgreSQL
# (/tmp/tablecache-pgroot-bench, scripts/pgroot.sh: the system installation and the
# servers that loaded it are left alone), (re)starts a private server
# 'bench' (port 55437, scripts/server.sh), generates the data
# (bench/data/generate.sql), loads the cache (bench/data/cache.sql), creates
# the matview (bench/sql/setup.sql), prewarms everything, checks that every
# contender returns the same rows (bench/sql/verify.sql), runs W1-W7 and W10
# (growth: W7 and a one-hour adjust at several scales) and writes
# the report (bench/report.py). Raw outputs: /tmp/tablecache-bench-results/<stamp>/.
set -euo pipefail
# One { ... } block: bash parses all of it before running, so editing this file during a run
# cannot derail that run.
{
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

mode=quick; scale=""; seconds=""; rounds=""; build=1; keep=0; out=""; growth="-"; only="reads,w4,w5,w7,w10"
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) mode=smoke ;; --quick) mode=quick ;; --full) mode=full ;;
        --scale) scale="$2"; shift ;; --seconds) seconds="$2"; shift ;;
        --rounds) rounds="$2"; shift ;; --out) out="$2"; shift ;;
        --no-build) build=0 ;; --keep) keep=1 ;; --growth) growth="$2"; shift ;; --only) only="$2"; shift ;;
        -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
case "$mode" in
    smoke) d_scale=0.005; d_sec=1;  d_rounds=1; w7_get=2000;   w7_range=200;   w5_runs=2; samples=20;  d_growth="" ;;
    quick) d_scale=0.05;  d_sec=2;  d_rounds=3; w7_get=20000;  w7_range=1000;  w5_runs=4; samples=200; d_growth="0.01 0.05 0.2" ;;
    full)  d_scale=1;     d_sec=10; d_rounds=3; w7_get=200000; w7_range=10000; w5_runs=6; samples=500; d_growth="0.1 1 4" ;;
esac
[ "$growth" = "-" ] && growth="$d_growth"
scale="${scale:-$d_scale}"; seconds="${seconds:-$d_sec}"; rounds="${rounds:-$d_rounds}"

NAME=bench; PORT=55437; SOCK=/tmp/tablecache-$NAME; DB=bench; SEED=20261101
export TABLECACHE_PGROOT=${TABLECACHE_PGROOT:-/tmp/tablecache-pgroot-bench}
bash scripts/pgroot.sh "$TABLECACHE_PGROOT" >/dev/null
LIB=$TABLECACHE_PGROOT/usr/lib/postgresql/15/lib/tablecache.so
# the chart needs matplotlib (Debian's package; the report is written without it)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || {
    echo "==> bench: installing python3-matplotlib for the chart"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null; } \
        || echo "==> bench: WARNING: could not install python3-matplotlib; the chart will be skipped" >&2
}
RES=/tmp/tablecache-bench-results/$(date -u +%Y%m%d-%H%M%S)-$mode
mkdir -p "$RES/pgbench"
chmod 0777 /tmp/tablecache-bench-results "$RES" "$RES/pgbench" 2>/dev/null || true
R="$RES/results.tsv"; : >"$R"
say() { echo "==> bench: $*"; }
die() {
    echo "==> bench: FAILED: $*" >&2
    if [ -n "${lib_md5:-}" ] && [ "$(md5sum "$LIB" | cut -d' ' -f1)" != "$lib_md5" ]; then
        echo "==> bench: note: $LIB was replaced while the server ran (another build installed over it);" \
             "an in-place overwrite of a loaded library crashes the server: run again when no build is installing" >&2
    fi
    grep -E 'terminated by signal|PANIC' "$SOCK/server.log" 2>/dev/null | tail -3 >&2 || true
    exit 1
}
rec() { printf '%s\t%s\n' "$1" "$2" >>"$R"; }   # key value
part() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
PSQL=(/usr/lib/postgresql/15/bin/psql -h "$SOCK" -p "$PORT" -U postgres -X -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -d "$DB" -Atq -c "$1"; }
say "mode $mode, scale $scale, $seconds s per run, $rounds round(s); results in $RES"
trap 'echo "==> bench: stopped; raw outputs in $RES" >&2' ERR

# ---- 1. build + server --------------------------------------------------------
bash scripts/server.sh stop "$NAME" "$PORT" >/dev/null || true
if [ "$build" = 1 ]; then
    say "building and installing the release library"
    bash scripts/build.sh --release --pgroot "$TABLECACHE_PGROOT" >"$RES/build.log" 2>&1 || { tail -30 "$RES/build.log"; die "build"; }
    built_md5=$(md5sum target/release/libtablecache.so | cut -d' ' -f1)
fi
TABLECACHE_MEMORY=1GB bash scripts/server.sh start "$NAME" "$PORT" >/dev/null
# Every contender runs on the same server and settings (postgresql.auto.conf
# overrides scripts/server.sh's tablecache.conf; shared_buffers needs a restart).
"${PSQL[@]}" -d postgres -q <<'SQL'
ALTER SYSTEM SET shared_buffers = '1GB';
ALTER SYSTEM SET jit = off;
-- the data set is in memory: random reads cost about what sequential ones do (this speeds the
-- join contender too; REFRESH is timed under both this and the default 4, the faster counts)
ALTER SYSTEM SET random_page_cost = 1.1;
ALTER SYSTEM SET max_connections = 20;
SQL
bash scripts/server.sh stop "$NAME" "$PORT" >/dev/null
TABLECACHE_MEMORY=1GB bash scripts/server.sh start "$NAME" "$PORT" >/dev/null
lib_md5=$(md5sum "$LIB" | cut -d' ' -f1)
lib_size=$(stat -c %s "$LIB")
if [ "$build" = 1 ] && [ "$lib_md5" != "$built_md5" ]; then
    die "$LIB ($lib_md5) is not the release build just made ($built_md5): another build was installed meanwhile; run again"
fi
say "server $NAME on port $PORT loaded $LIB md5 $lib_md5 ($lib_size bytes)"
kind="unknown build (matches neither target/release nor target/debug)"
[ -f target/debug/libtablecache.so ] && [ "$(md5sum target/debug/libtablecache.so | cut -d' ' -f1)" = "$lib_md5" ] && kind="DEBUG build"
[ -f target/release/libtablecache.so ] && [ "$(md5sum target/release/libtablecache.so | cut -d' ' -f1)" = "$lib_md5" ] && kind="release build"
say "that is the $kind"
[ "$kind" = "release build" ] || echo "==> bench: WARNING: not this tree's release build: the figures will not describe tablecache's speed (run without --no-build)" >&2
rec meta.build_kind "$kind"; rec meta.lib_md5 "$lib_md5"; rec meta.lib_size "$lib_size"; rec meta.built "$build"
rec meta.mode "$mode"; rec meta.scale "$scale"; rec meta.seconds "$seconds"; rec meta.rounds "$rounds"
rec meta.seed "$SEED"; rec meta.date "$(date -u '+%Y-%m-%d %H:%M UTC')"
rec meta.nproc "$(nproc)"
rec meta.cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
rec meta.ram "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
rec meta.loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
rec meta.git "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo '+dirty src')"
rec meta.pg_version "$(q 'SHOW server_version')"
for s in shared_buffers tablecache.memory work_mem jit fsync synchronous_commit full_page_writes \
         max_connections autovacuum plan_cache_mode random_page_cost; do
    rec "setting.$s" "$(q "SHOW $s" 2>/dev/null || echo '?')"
done

# ---- 2. data, cache, matview ----------------------------------------------------
say "generating data (scale $scale)"
"${PSQL[@]}" -d postgres -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -q -c 'CREATE EXTENSION tablecache' -c 'CREATE EXTENSION pg_prewarm'
"${PSQL[@]}" -d "$DB" -q -v scale="$scale" -f bench/data/generate.sql >"$RES/generate.txt"
say "loading the cache (bench/data/cache.sql)"
t0=$(date +%s.%N)
"${PSQL[@]}" -d "$DB" -q -f bench/data/cache.sql >"$RES/cache.txt"
rec load.seconds "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')"
say "creating the matview; prewarming"
"${PSQL[@]}" -d "$DB" -q -f bench/sql/setup.sql >"$RES/setup.txt" 2>&1
"${PSQL[@]}" -d "$DB" -q -f bench/sql/w7.sql
"${PSQL[@]}" -d "$DB" -q -f bench/sql/warm.sql >"$RES/warm.txt"
IFS='|' read -r ge lt id_lo id_hi n_rows ge_s lt_s span_s < <(q "SELECT ge, lt, id_lo, id_hi, n_rows, ge_s, lt_s, span_s FROM bench_window")
n_customers=$(q "SELECT n_customers FROM bench_meta")
rec data.n_orders "$(q 'SELECT n_orders FROM bench_meta')"; rec data.n_customers "$n_customers"
rec data.window_rows "$n_rows"; rec data.window "[$ge, $lt)"; rec data.span_s "$span_s"
DVARS=(-D "id_lo=$id_lo" -D "id_hi=$id_hi" -D "ge_s=$ge_s" -D "lt_s=$lt_s" -D "span_s=$span_s"
       -D "n_customers=$n_customers" -D "ge=$ge" -D "lt=$lt")

say "verifying that join, matview and tablecache return the same rows"
"${PSQL[@]}" -d "$DB" -q -v samples="$samples" -f bench/sql/verify.sql >"$RES/verify.txt" 2>&1 \
    || { cat "$RES/verify.txt"; die "contenders disagree (verify.sql)"; }
grep -E '^ W[0-9]' "$RES/verify.txt" | while read -r line; do
    set -- $(echo "$line" | tr -d '|'); rec "verify.$1.avg_rows" "${@: -1}"; done

# ---- W6 memory ----------------------------------------------------------------
IFS='|' read -r c_rows c_bytes used mv_row mv_total < <(q "
    SELECT c.rows, c.bytes, m.used_bytes,
           (SELECT avg(pg_column_size(v.*)) FROM bench_mv v),
           pg_total_relation_size('bench_mv')
      FROM tablecache.caches c, tablecache.memory m WHERE c.name = 'recent_orders'")
rec W6.cache_rows "$c_rows"; rec W6.cache_bytes "$c_bytes"; rec W6.used_bytes "$used"
rec W6.mv_row_bytes "$mv_row"; rec W6.mv_total_bytes "$mv_total"

# ---- W1-W3 reads ----------------------------------------------------------------
run() {  # key clients script [PGOPTIONS] -> records tps.key.cN.rR
    local key=$1 c=$2 script=$3 opts=${4:-} r=$5
    local o="$RES/pgbench/$key.c$c.r$r.txt"
    if ! PGOPTIONS="$opts" pgbench -n -M prepared -h "$SOCK" -p "$PORT" -U postgres -c "$c" -j "$c" \
            -T "$seconds" --random-seed="$SEED" "${DVARS[@]}" -f "bench/pgbench/$script.sql" "$DB" >"$o" 2>&1; then
        cat "$o" >&2; die "pgbench $script ($c clients) failed"
    fi
    local tps failed n
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$o")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$o")
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$o")
    if [ -z "$tps" ] || [ "${failed:-0}" != 0 ] || [ "${n:-0}" = 0 ] || grep -qi 'error' "$o"; then
        cat "$o" >&2; die "pgbench $script ($c clients): errors or failed transactions"
    fi
    rec "tps.$key.c$c.r$r" "$tps"
    printf '    %-22s %d client(s): %10.1f TPS\n' "$key" "$c" "$tps"
}
if part reads; then
q "SELECT tablecache.reset_stats()" >/dev/null
for r in $(seq 1 "$rounds"); do
    say "W1-W3 reads, round $r/$rounds"
    for c in 1 2; do
        run floor "$c" floor "" "$r"
        run rowfloor "$c" row_floor "" "$r"
        run rowfloor100 "$c" row_floor_100 "" "$r"
        for w in 1 2 3; do
            run "W$w.join" "$c" "w${w}_join" "" "$r"
            run "W$w.join_nomemoize" "$c" "w${w}_join" "-c enable_memoize=off" "$r"
            run "W$w.matview" "$c" "w${w}_matview" "" "$r"
            run "W$w.tablecache" "$c" "w${w}_tablecache" "" "$r"
        done
    done
done
IFS='|' read -r hits misses < <(q "SELECT hits, misses FROM tablecache.stats WHERE cache = 'recent_orders'")
rec reads.hits "$hits"; rec reads.misses "$misses"
[ "$misses" = 0 ] || die "tablecache answered $misses reads from the database during W1-W3 (all keys are in the window)"

fi
# ---- W7 in-backend loops ------------------------------------------------------------
if part w7; then
say "W7 in-backend loops ($w7_get gets, $w7_range ranges per call, median of 3)"
for kind in loop_sql get_sql range_sql customer_sql loop_plpgsql get_expr get_tc_spi get_mv_spi get_join_spi \
            range_tc_spi range_mv_spi range_join_spi; do
    n=$w7_get; case $kind in range_join_spi) n=$(( (w7_range + 9) / 10 )) ;; range*) n=$w7_range ;; get_join_spi) n=$(( (w7_get + 4) / 5 )) ;; esac
    for i in 1 2 3; do
        rec "W7.$kind.r$i" "$(q "SELECT bench_w7('$kind', $n)")"
    done
done
# The join through SPI also with memoize off (the faster one is the baseline).
for kind in get_join_spi range_join_spi; do
    n=$(( (w7_get + 4) / 5 )); [ "$kind" = range_join_spi ] && n=$(( (w7_range + 9) / 10 ))
    for i in 1 2 3; do
        rec "W7.${kind}_nomemoize.r$i" "$(PGOPTIONS='-c enable_memoize=off' q "SELECT bench_w7('$kind', $n)")"
    done
done

fi
# ---- W5 slide the window by one hour ---------------------------------------------------
if part w5; then
say "W5 adjust (slide by one hour, back and forth) vs REFRESH MATERIALIZED VIEW ($w5_runs each)"
# Each contender runs its statements in one session, as a sliding-window worker or a cron job
# that keeps its connection does: the first call of a session also pays for loading catalog
# entries and planning, so it is recorded apart (cold) and the next ones are the figure.
timed() {  # sql -> ms (psql \timing), in a new session
    "${PSQL[@]}" -d "$DB" -q -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
timed_session() {  # statement... -> one ms figure per statement, in one new session
    local args=(-c '\timing on') st
    for st in "$@"; do args+=(-c "$st"); done
    "${PSQL[@]}" -d "$DB" -q "${args[@]}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
record_session() {  # key statement... -> key_cold_ms, key_ms.rN
    local key=$1 i=0 ms; shift
    while read -r ms; do
        if [ "$i" = 0 ]; then rec "W5.${key}_cold_ms" "$ms"; else rec "W5.${key}_ms.r$i" "$ms"; fi
        i=$((i + 1))
    done < <(timed_session "$@")
    [ "$i" = $# ] || die "W5: $key timed $i of $# statements"
}
slides=(); refreshes=()
for i in $(seq 0 "$w5_runs"); do
    if [ $((i % 2)) = 0 ]; then
        lo="'$ge'::timestamptz - interval '1 hour'"; hi="'$lt'::timestamptz - interval '1 hour'"
    else
        lo="'$ge'::timestamptz"; hi="'$lt'::timestamptz"
    fi
    slides+=("SELECT tablecache.adjust('recent_orders', 'by_time', $lo, $hi)")
    refreshes+=("REFRESH MATERIALIZED VIEW bench_mv")
done
record_session adjust "${slides[@]}"
q "SELECT tablecache.adjust('recent_orders', 'by_time', '$ge'::timestamptz, '$lt'::timestamptz)" >/dev/null
record_session refresh "${refreshes[@]}"
PGOPTIONS='-c random_page_cost=4' record_session refresh_rpc4 "${refreshes[@]}"
rec W5.rows_per_hour "$(q "SELECT count(*) FROM orders WHERE created_at >= '$lt'::timestamptz - interval '1 hour' AND created_at < '$lt'")"

fi
# ---- W4 writes ------------------------------------------------------------------------------
if part w4; then
# Writes are the noisiest figures here (WAL, pruning, autovacuum): at least 5 rounds.
w4_rounds=$rounds; [ "$mode" != smoke ] && [ "$rounds" -lt 5 ] && w4_rounds=5
say "W4 writes: with the invalidation triggers vs without any trigger ($w4_rounds rounds)"
triggers() {
    q "SET client_min_messages = warning; DROP TRIGGER IF EXISTS bench_inval ON orders; DROP TRIGGER IF EXISTS bench_inval ON customers"
    if [ "$1" = on ]; then
        q "CREATE TRIGGER bench_inval AFTER INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW
             EXECUTE FUNCTION tablecache.invalidate_trigger('recent_orders', 'primary_key', 'id');
           CREATE TRIGGER bench_inval AFTER INSERT OR UPDATE OR DELETE ON customers FOR EACH ROW
             EXECUTE FUNCTION tablecache.invalidate_trigger('recent_orders', 'by_customer', 'id')"
    fi
}
for r in $(seq 1 "$w4_rounds"); do
    for c in 1 2; do
        # Alternate which variant runs first (the machine's load drifts).
        for v in $( [ $((r % 2)) = 1 ] && echo "plain trigger" || echo "trigger plain"); do
            if [ "$v" = plain ]; then triggers off; else triggers on; fi
            run "W4.orders.$v" "$c" w4_orders "" "$r"
            run "W4.customers.$v" "$c" w4_customers "" "$r"
        done
        triggers on
        # What the writes left for the readers: the next refresh.
        rec "W4.refresh_ms.c$c.r$r" "$(timed "SELECT tablecache.refresh('recent_orders')")"
    done
done
triggers off
fi
say "verifying tablecache against the join after the writes"
"${PSQL[@]}" -d "$DB" -q -v samples="$samples" -v check_matview=0 -f bench/sql/verify.sql >"$RES/verify_after_writes.txt" 2>&1 \
    || { cat "$RES/verify_after_writes.txt"; die "tablecache differs from the join after the W4 writes"; }
# ---- W10 growth: W7's get and 100-row range, and a one-hour adjust, at several scales ---------
# Each scale in a database of its own (dropped afterwards), with only the cache and its window
# facts (no matview): lookups must cost about the same at 4x and 40x the rows, and a slide the
# difference, not the window.
gi=0
part w10 || growth=""
for gs in $growth; do
    gi=$((gi + 1)); gdb="bench_w10_$gi"
    say "W10 growth: scale $gs (database $gdb)"
    "${PSQL[@]}" -d postgres -q -c "DROP DATABASE IF EXISTS $gdb" -c "CREATE DATABASE $gdb"
    "${PSQL[@]}" -d "$gdb" -q -c 'CREATE EXTENSION tablecache'
    "${PSQL[@]}" -d "$gdb" -q -v scale="$gs" -f bench/data/generate.sql >"$RES/w10_generate_$gi.txt"
    "${PSQL[@]}" -d "$gdb" -q -f bench/data/cache.sql >"$RES/w10_cache_$gi.txt"
    "${PSQL[@]}" -d "$gdb" -q -f bench/sql/window.sql >/dev/null
    "${PSQL[@]}" -d "$gdb" -q -f bench/sql/w7.sql
    rec "W10.s$gi.scale" "$gs"
    rec "W10.s$gi.rows" "$("${PSQL[@]}" -d "$gdb" -Atq -c "SELECT rows FROM tablecache.caches WHERE name = 'recent_orders'")"
    for i in 1 2 3; do
        rec "W10.s$gi.get.r$i" "$("${PSQL[@]}" -d "$gdb" -Atq -c "SELECT bench_w7('get_sql', $w7_get)")"
        rec "W10.s$gi.range.r$i" "$("${PSQL[@]}" -d "$gdb" -Atq -c "SELECT bench_w7('range_sql', $w7_range)")"
    done
    IFS='|' read -r gge glt < <("${PSQL[@]}" -d "$gdb" -Atq -c "SELECT ge, lt FROM bench_window")
    gslides=(-c '\timing on')
    for i in $(seq 0 "$w5_runs"); do
        if [ $((i % 2)) = 0 ]; then
            gslides+=(-c "SELECT tablecache.adjust('recent_orders', 'by_time', '$gge'::timestamptz - interval '1 hour', '$glt'::timestamptz - interval '1 hour')")
        else
            gslides+=(-c "SELECT tablecache.adjust('recent_orders', 'by_time', '$gge'::timestamptz, '$glt'::timestamptz)")
        fi
    done
    i=0
    while read -r ms; do
        [ "$i" -gt 0 ] && rec "W10.s$gi.adjust_ms.r$i" "$ms"
        i=$((i + 1))
    done < <("${PSQL[@]}" -d "$gdb" -q "${gslides[@]}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
    "${PSQL[@]}" -d postgres -q -c "DROP DATABASE $gdb"
done
rec W10.n "$gi"

rec meta.loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$(md5sum "$LIB" | cut -d' ' -f1)" = "$lib_md5" ] || rec meta.lib_replaced_during_run "yes (the server kept the library it loaded at start)"

# ---- report ----------------------------------------------------------------------------------
if [ -z "$out" ]; then [ "$mode" = smoke ] && out="$RES" || out="$ROOT"; fi
chart="$out/bench/ratios.png"; [ "$out" = "$RES" ] && chart="$RES/ratios.png"
mkdir -p "$(dirname "$chart")"
/usr/bin/python3 bench/report.py "$R" "$out/BENCHMARKS.md" "$chart"
cp "$out/BENCHMARKS.md" "$RES/" 2>/dev/null || true
[ "$keep" = 1 ] || bash scripts/server.sh stop "$NAME" "$PORT" >/dev/null
say "done: $out/BENCHMARKS.md, $chart; raw outputs in $RES"
exit 0
}
