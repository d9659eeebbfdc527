#!/usr/bin/env bash
# The tablecache benchmark (bench/SPEC.md), end to end:
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
#   --keep    leave the server 'bench' (and W9's standby, its slot) running afterwards
#   --only LIST  run only these parts (comma-separated: reads, w4, w5, w6, w7, w8, w10, w9);
#             the data, cache, verification and W6's figure of the cache itself always
#             run (w6 adds its version-1 twin)
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
# contender returns the same rows (bench/sql/verify.sql), runs W1-W8 and W10
# (growth: W7 and a one-hour adjust at several scales), then W9 (hot standby: the server
# is restarted with tablecache.wal_invalidations = on, a streaming standby of it is built
# with pg_basebackup, W1-W3 run there; W4 on the server with sending on / off, restarting
# between them) and writes the report (bench/report.py). Raw outputs:
# /tmp/tablecache-bench-results/<stamp>/.
# TABLECACHE_BENCH_NAME / TABLECACHE_BENCH_PORT name another server than 'bench' on 55437
# (two benchmarks at once on one machine); W9's standby is NAME-standby on PORT + 1
# (TABLECACHE_BENCH_STANDBY_NAME / TABLECACHE_BENCH_STANDBY_PORT).
set -euo pipefail
# One { ... } block: bash parses all of it before running, so editing this file during a run
# cannot derail that run.
{
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

mode=quick; scale=""; seconds=""; rounds=""; build=1; keep=0; out=""; growth="-"; only="reads,w4,w5,w6,w7,w8,w10,w9"
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) mode=smoke ;; --quick) mode=quick ;; --full) mode=full ;;
        --scale) scale="$2"; shift ;; --seconds) seconds="$2"; shift ;;
        --rounds) rounds="$2"; shift ;; --out) out="$2"; shift ;;
        --no-build) build=0 ;; --keep) keep=1 ;; --growth) growth="$2"; shift ;; --only) only="$2"; shift ;;
        -h|--help) sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

NAME=${TABLECACHE_BENCH_NAME:-bench}; PORT=${TABLECACHE_BENCH_PORT:-55437}; SOCK=/tmp/tablecache-$NAME; DB=bench; SEED=20261101
# W9's hot standby of the server, and the replication slot that keeps the WAL it needs
SNAME=${TABLECACHE_BENCH_STANDBY_NAME:-$NAME-standby}; SPORT=${TABLECACHE_BENCH_STANDBY_PORT:-$((PORT + 1))}
SSOCK=/tmp/tablecache-$SNAME; SLOT=bench_w9
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
bash scripts/server.sh stop "$SNAME" "$SPORT" >/dev/null 2>&1 || true   # a standby an earlier run kept
bash scripts/server.sh stop "$NAME" "$PORT" >/dev/null || true
if [ "$build" = 1 ]; then
    say "building and installing the release library"
    bash scripts/build.sh --release --pgroot "$TABLECACHE_PGROOT" >"$RES/build.log" 2>&1 || { tail -30 "$RES/build.log"; die "build"; }
    built_md5=$(md5sum target/release/libtablecache.so | cut -d' ' -f1)
fi
TABLECACHE_MEMORY=1GB bash scripts/server.sh start "$NAME" "$PORT" >/dev/null
# Every contender runs on the same server and settings (postgresql.auto.conf
# overrides scripts/server.sh's tablecache.conf; shared_buffers needs a restart).
"${PSQL[@]}" -d postgres -q >/dev/null <<'SQL'
ALTER SYSTEM SET shared_buffers = '1GB';
ALTER SYSTEM SET jit = off;
-- the data set is in memory: random reads cost about what sequential ones do (this speeds the
-- join contender too; REFRESH is timed under both this and the default 4, the faster counts)
ALTER SYSTEM SET random_page_cost = 1.1;
ALTER SYSTEM SET max_connections = 20;
-- W1-W8 and W10 run without sending invalidations in the WAL (the default); W9 restarts the
-- server with it on, and drops the slot of its standby at the end (or an earlier run's here)
ALTER SYSTEM RESET tablecache.wal_invalidations;
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'bench_w9' AND NOT active;
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
# (the server's own settings: the database 'bench' does not exist yet on a new server)
qpg() { "${PSQL[@]}" -d postgres -Atq -c "$1"; }
rec meta.pg_version "$(qpg 'SHOW server_version')"
for s in shared_buffers tablecache.memory work_mem jit fsync synchronous_commit full_page_writes \
         max_connections autovacuum plan_cache_mode random_page_cost tablecache.wal_invalidations; do
    rec "setting.$s" "$(qpg "SHOW $s" 2>/dev/null || echo '?')"
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
# The cache of bench/data/cache.sql maintains itself (maintain => 'auto', the default): its
# bytes include whatever self-maintenance keeps per row (hidden lineage columns, internal
# indexes). Part w6 also loads its version-1 twin (the same query, indexes and window,
# maintain => 'manual') and measures it.
IFS='|' read -r c_rows c_bytes used mv_row mv_total c_maintain < <(q "
    SELECT c.rows, c.bytes, m.used_bytes,
           (SELECT avg(pg_column_size(v.*)) FROM bench_mv v),
           pg_total_relation_size('bench_mv'), c.maintain
      FROM tablecache.caches c, tablecache.memory m WHERE c.name = 'recent_orders'")
rec W6.cache_rows "$c_rows"; rec W6.cache_bytes "$c_bytes"; rec W6.used_bytes "$used"
rec W6.mv_row_bytes "$mv_row"; rec W6.mv_total_bytes "$mv_total"; rec W6.cache_maintain "$c_maintain"
# the cache's definition, for W4 and W8 to create it again with another maintain mode
q "CREATE TABLE bench_cache_def AS SELECT query, primary_key, window_index, window_ge, window_lt
     FROM tablecache.caches WHERE name = 'recent_orders';
   CREATE TABLE bench_cache_idx AS SELECT name, columns, position
     FROM tablecache.index_def WHERE cache = 'recent_orders' AND NOT hidden"
# what self-maintenance keeps: internal indexes, and how each base table is followed
rec W6.hidden_indexes "$(q "SELECT count(*) FROM tablecache.index_def WHERE cache = 'recent_orders' AND hidden")"
rec W6.lineage "$(q "SELECT string_agg(l.base_table::text || ':' || l.how, ' ' ORDER BY l.instance)
                       FROM tablecache.lineage_def l JOIN tablecache.cache_def d ON d.id = l.cache_id
                      WHERE d.name = 'recent_orders'")"
if part w6; then
    say "W6 memory: the version-1 twin of the cache (maintain => 'manual')"
    twin=$("${PSQL[@]}" -d "$DB" -Atq <<SQL
SET client_min_messages = warning;
SELECT used_bytes AS before FROM tablecache.memory \gset
\o /dev/null
SELECT tablecache.create_cache('bench_w6_manual', query, primary_key, maintain => 'manual') FROM bench_cache_def;
SELECT format('SELECT tablecache.create_index(%L, %L, %L)', 'bench_w6_manual', name, columns)
  FROM bench_cache_idx ORDER BY position \gexec
SELECT tablecache.load('bench_w6_manual', window_index, window_ge::timestamptz, window_lt::timestamptz)
  FROM bench_cache_def;
\o
SELECT c.rows || '|' || c.bytes || '|' || (m.used_bytes - :before)
  FROM tablecache.caches c, tablecache.memory m WHERE c.name = 'bench_w6_manual';
\o /dev/null
SELECT tablecache.drop_cache('bench_w6_manual');
SQL
    ) || die "W6: the version-1 twin"
    IFS='|' read -r m_rows m_bytes m_delta <<<"$twin"
    [ "$m_rows" = "$c_rows" ] || die "W6: the version-1 twin holds $m_rows rows, the cache $c_rows"
    rec W6.manual_rows "$m_rows"; rec W6.manual_bytes "$m_bytes"; rec W6.manual_used_delta "$m_delta"
fi

timed() {  # sql -> ms (psql \timing), in a new session
    "${PSQL[@]}" -d "$DB" -q -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
timed_session() {  # statement... -> one ms figure per statement, in one new session
    local args=(-c '\timing on') st
    for st in "$@"; do args+=(-c "$st"); done
    "${PSQL[@]}" -d "$DB" -q "${args[@]}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}

# ---- W1-W3 reads ----------------------------------------------------------------
run() {  # key clients script [PGOPTIONS] -> records tps.key.cN.rR
    local key=$1 c=$2 script=$3 opts=${4:-} r=$5
    local o="$RES/pgbench/$key.c$c.r$r.txt"
    # RUN_SOCK / RUN_PORT: another server than the benchmark's (W9's standby)
    if ! PGOPTIONS="$opts" pgbench -n -M prepared -h "${RUN_SOCK:-$SOCK}" -p "${RUN_PORT:-$PORT}" -U postgres -c "$c" -j "$c" \
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
# ---- W4/W8 variants: which invalidation triggers the base tables run ---------------------------
# The cache of bench/data/cache.sql maintains itself: create_cache installed its own row triggers
# (tablecache_<id>, AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW, and tablecache_<id>_truncate) on
# every table of its query. They cannot be disabled (tablecache refuses ALTER TABLE ... DISABLE
# TRIGGER on them), so a variant re-creates the cache 'recent_orders' (the same query, indexes and
# window, bench_cache_def) with the maintain mode it needs and loads it:
#   plain   a version-1 cache (maintain => 'manual') and no tablecache trigger at all (the foreign
#           keys' internal triggers stay)
#   manual  the same with version 1's hand-written tablecache.invalidate_trigger on orders and
#           customers
#   auto    the self-maintained cache (maintain => 'auto'): its own triggers, nothing hand-written
#   none    no cache at all (W8)
# and checks in pg_trigger that exactly its triggers fire. A cache re-created from the database
# is exact: the auto cache only ever sees writes with its own triggers.
set_variant() {  # plain | manual | auto | none
    local v=$1 mode=manual cur got want n
    case $v in auto) mode=auto ;; none) mode=none ;; esac
    cur=$(q "SELECT coalesce((SELECT maintain FROM tablecache.caches WHERE name = 'recent_orders'), 'none')")
    q "SET client_min_messages = warning; DROP TRIGGER IF EXISTS bench_inval ON orders; DROP TRIGGER IF EXISTS bench_inval ON customers"
    if [ "$cur" != "$mode" ]; then
        "${PSQL[@]}" -d "$DB" -q >"$RES/variant.txt" 2>&1 <<SQL || { cat "$RES/variant.txt"; die "could not make the cache for variant $v"; }
SET client_min_messages = warning;
\o /dev/null
SELECT tablecache.drop_cache('recent_orders') FROM tablecache.caches WHERE name = 'recent_orders';
SELECT '$mode' <> 'none' AS make \gset
\if :make
SELECT tablecache.create_cache('recent_orders', query, primary_key, maintain => '$mode') FROM bench_cache_def;
SELECT format('SELECT tablecache.create_index(%L, %L, %L)', 'recent_orders', name, columns)
  FROM bench_cache_idx ORDER BY position \gexec
SELECT tablecache.load('recent_orders', window_index, window_ge::timestamptz, window_lt::timestamptz)
  FROM bench_cache_def;
\endif
SQL
    fi
    [ "$v" = manual ] && q "
        CREATE TRIGGER bench_inval AFTER INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW
            EXECUTE FUNCTION tablecache.invalidate_trigger('recent_orders', 'primary_key', 'id');
        CREATE TRIGGER bench_inval AFTER INSERT OR UPDATE OR DELETE ON customers FOR EACH ROW
            EXECUTE FUNCTION tablecache.invalidate_trigger('recent_orders', 'by_customer', 'id')"
    # the triggers that fire on the benchmark's tables (enabled; user-defined or calling tablecache):
    # the cache's own, hand-written ones, all of them
    got=$(q "SELECT count(*) FILTER (WHERE t.tgfoid = 'tablecache.maintain_trigger'::regproc) || ' ' ||
                    count(*) FILTER (WHERE t.tgfoid = 'tablecache.invalidate_trigger'::regproc) || ' ' || count(*)
               FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
              WHERE t.tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
                AND t.tgenabled IN ('O', 'A') AND (NOT t.tgisinternal OR f.pronamespace = 'tablecache'::regnamespace)")
    n=$(q "SELECT count(DISTINCT l.base_table) FROM tablecache.lineage_def l JOIN tablecache.cache_def d ON d.id = l.cache_id
            WHERE d.name = 'recent_orders'")
    case $v in plain|none) want="0 0 0" ;; manual) want="0 2 2" ;; auto) want="$((2 * n)) 0 $((2 * n))" ;; esac
    [ "$v" != auto ] || [ "$n" -gt 0 ] || die "variant auto: the cache has no lineage (not self-maintained)"
    [ "$got" = "$want" ] || die "variant $v: triggers firing (cache's own, hand-written, all) are $got, expected $want"
    rec "triggers.$v" "$got"
}
full_verify() {  # output-file what [psql args...]: tablecache equals the join (sampled keys and the whole window)
    local o=$1 what=$2; shift 2
    "${PSQL[@]}" -d "$DB" -q -v samples="$samples" -v check_matview=0 "$@" -f bench/sql/verify.sql >"$o" 2>&1 \
        || { cat "$o"; die "tablecache differs from the join $what"; }
}
refresh_timed() {  # -> "rows|ms" of tablecache.refresh, in a new session
    "${PSQL[@]}" -d "$DB" -Atq -c '\timing on' -c "SELECT tablecache.refresh('recent_orders')" \
        | awk '/^Time: / { ms = $2 } /^[0-9]+$/ { rows = $1 } END { if (ms != "") print rows "|" ms }'
}
if part w4 || part w8; then
    rec W4.auto_tables "$(q "SELECT string_agg(DISTINCT l.base_table::text, ' ') FROM tablecache.lineage_def l
                               JOIN tablecache.cache_def d ON d.id = l.cache_id WHERE d.name = 'recent_orders'")"
fi

# ---- W4 writes ------------------------------------------------------------------------------
if part w4; then
# Writes are the noisiest figures here (WAL, pruning, autovacuum): at least 5 rounds.
w4_rounds=$rounds; [ "$mode" != smoke ] && [ "$rounds" -lt 5 ] && w4_rounds=5
say "W4 writes: no trigger / hand-written invalidate_trigger (v1) / the cache's own triggers ($w4_rounds rounds)"
w4_tables() { [ "$1" = manual ] && echo "orders customers" || echo "orders customers products regions"; }
for r in $(seq 1 "$w4_rounds"); do
    for c in 1 2; do
        # Alternate the variants' order (the machine's load drifts).
        for v in $( [ $((r % 2)) = 1 ] && echo "plain manual auto" || echo "auto manual plain"); do
            set_variant "$v"
            for t in $(w4_tables "$v"); do
                run "W4.$t.$v" "$c" "w4_$t" "" "$r"
                # What the writes left for the readers: the next refresh (each run starts with
                # nothing pending: a cache already marked for a whole re-read makes triggers free).
                if [ "$v" != plain ]; then
                    IFS='|' read -r rows ms < <(refresh_timed) || true
                    [ -n "${ms:-}" ] || die "W4: refresh after $t ($v) failed"
                    rec "W4.refresh_ms.$v.$t.c$c.r$r" "$ms"; rec "W4.refresh_rows.$v.$t.c$c.r$r" "$rows"
                fi
            done
        done
    done
done
# The check: the self-maintained cache alone keeps up with writes to every table of its query
# (the timed ones, mixed, and inserts, deletes and moved keys: bench/sql/w4_check.sql).
say "W4 check: writes to every table with only the cache's own triggers, then tablecache = the join"
set_variant auto
full_verify "$RES/verify_before_check.txt" "after the timed W4 writes"
o="$RES/pgbench/W4.check.txt"
pgbench -n -M prepared -h "$SOCK" -p "$PORT" -U postgres -c 2 -j 2 -T "$seconds" --random-seed="$SEED" "${DVARS[@]}" \
    -f bench/pgbench/w4_orders.sql -f bench/pgbench/w4_customers.sql -f bench/pgbench/w4_products.sql \
    -f bench/pgbench/w4_regions.sql "$DB" >"$o" 2>&1 || { cat "$o" >&2; die "W4 check: pgbench failed"; }
grep -q '^number of failed transactions: 0 ' "$o" || { cat "$o" >&2; die "W4 check: failed transactions"; }
rec W4.check_tps "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$o")"
"${PSQL[@]}" -d "$DB" -q -f bench/sql/w4_check.sql >"$RES/w4_check.txt" 2>&1 || { cat "$RES/w4_check.txt"; die "W4 check: bench/sql/w4_check.sql"; }
# before any refresh: reads of invalidated rows refresh them, or fall through to the database
full_verify "$RES/verify_after_writes_pending.txt" "after the W4 writes (pending invalidations)" -v allow_misses=1
q "SELECT tablecache.refresh('recent_orders')" >/dev/null
full_verify "$RES/verify_after_writes.txt" "after the W4 writes (refreshed)"
fi
# ---- W8 bulk write ----------------------------------------------------------------------------
if part w8; then
w8_rounds=$rounds; [ "$mode" != smoke ] && [ "$rounds" -lt 5 ] && w8_rounds=5
say "W8 bulk write: UPDATE customers SET name = name || '.' ($n_customers customers), the self-maintained cache loaded vs no cache ($w8_rounds rounds)"
# The first rewrite of every customer extends the heap; after it (and VACUUM before each
# statement) every statement finds the same free space, whichever variant runs it.
q "UPDATE customers SET name = name" >/dev/null
for r in $(seq 1 "$w8_rounds"); do
    # alternate the order; the last round ends with the cache, which is then checked
    if [ $(( (w8_rounds - r) % 2 )) = 0 ]; then order="none auto"; else order="auto none"; fi
    for v in $order; do
        set_variant "$v"
        # one session: VACUUM, a warm-up (the trigger's plan, no change), the statement
        ms=$(timed_session "VACUUM customers" "UPDATE customers SET name = name WHERE id = 1" \
                           "UPDATE customers SET name = name || '.'" | tail -1) || ms=""
        [ -n "$ms" ] || die "W8: the update ($v) failed"
        rec "W8.${v}_ms.r$r" "$ms"
        printf '    %-22s %10.1f ms\n' "W8.$v" "$ms"
        if [ "$v" = auto ]; then
            # past 2000 keys the whole cache is invalidated: the next refresh re-reads its window
            IFS='|' read -r rows ms < <(refresh_timed) || true
            [ -n "${ms:-}" ] || die "W8: refresh failed"
            rec "W8.refresh_ms.r$r" "$ms"; rec "W8.refresh_rows.r$r" "$rows"
            [ "$r" = "$w8_rounds" ] && full_verify "$RES/verify_after_w8.txt" "after the W8 bulk update"
        fi
    done
done
fi
{ part w4 || part w8; } && set_variant auto
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

# ---- W9 hot standby ----------------------------------------------------------------------------
# Last, because it restarts the server: everything before ran with tablecache.wal_invalidations
# off (the default). The server is restarted with it on (a postmaster setting), a streaming
# standby of it is built with pg_basebackup -R (its own physical slot, so that the WAL it needs
# is kept while it is stopped; hot_standby_feedback on, so that replay never cancels its
# readers), and once the standby trusts its caches (tablecache.standby_note() IS NULL) and has
# its copy of the cache (autowarm loads the window the server recorded), W1-W3 run there, against
# the join and the matview (the matview replicates) on the standby. Then W4's order and customer
# updates on the server, with sending on / off, restarting between variants (the standby stopped:
# the figure is the server's own cost; its slot keeps the WAL), and the WAL each invalidated key
# adds. Finally writes to every table with the standby running, and, once its replay has caught
# up, the standby's cache must equal the join there and its reads be hits.
if part w9; then
w9_rounds=$rounds; [ "$mode" != smoke ] && [ "$rounds" -lt 3 ] && w9_rounds=3
case $mode in smoke) w9_n=200 ;; quick) w9_n=1000 ;; *) w9_n=5000 ;; esac
SPSQL=(/usr/lib/postgresql/15/bin/psql -h "$SSOCK" -p "$SPORT" -U postgres -X -v ON_ERROR_STOP=1)
sq() { "${SPSQL[@]}" -d "$DB" -Atq -c "$1"; }
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"
    elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
    else sudo -u postgres -- "$@"; fi
}
w9_die() {
    echo "==> bench: the standby's log ($SSOCK/server.log), last lines:" >&2
    tail -n 15 "$SSOCK/server.log" >&2 2>/dev/null || true
    die "W9: $*"
}
wait_sql() {  # q|sq sql seconds: polls a boolean until true; 1 on timeout
    local who=$1 sql=$2 limit=$3 i=0
    while [ "$($who "$sql" 2>/dev/null)" != t ]; do
        i=$((i + 1)); [ "$i" -gt $((limit * 10)) ] && return 1
        sleep 0.1
    done
}
w9_restart() {  # on|off: restart the server with sending on / off; wait until autowarm loaded the cache
    local v=$1
    if [ "$v" = on ]; then q "ALTER SYSTEM SET tablecache.wal_invalidations = on"
    else q "ALTER SYSTEM RESET tablecache.wal_invalidations"; fi
    bash scripts/server.sh stop "$NAME" "$PORT" >/dev/null
    [ "$(md5sum "$LIB" | cut -d' ' -f1)" = "$lib_md5" ] || die "W9: $LIB changed during the run: a restart would load another library"
    TABLECACHE_MEMORY=1GB bash scripts/server.sh start "$NAME" "$PORT" >/dev/null || die "W9: the server did not restart ($v)"
    [ "$(q 'SHOW tablecache.wal_invalidations')" = "$v" ] || die "W9: tablecache.wal_invalidations is not $v after the restart"
    wait_sql q "SELECT loaded FROM tablecache.caches WHERE name = 'recent_orders'" 900 \
        || die "W9: autowarm did not load the cache after the restart ($v)"
    "${PSQL[@]}" -d "$DB" -q -f bench/sql/warm.sql >/dev/null
}
w9_caught_up() {  # [seconds]: the standby has replayed everything the server has written so far
    local lsn; lsn=$(q "SELECT pg_current_wal_insert_lsn()")
    wait_sql sq "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" "${1:-600}" \
        || w9_die "the standby did not replay up to $lsn (at $(sq 'SELECT pg_last_wal_replay_lsn()' 2>/dev/null || echo '?'))"
}
w9_standby_ready() {  # start the standby; wait for trust, its cache, and replay -> w9_loaded_by
    TABLECACHE_MEMORY=1GB bash scripts/server.sh start "$SNAME" "$SPORT" >/dev/null || w9_die "the standby did not start"
    wait_sql sq "SELECT tablecache.standby_note() IS NULL" 120 \
        || w9_die "the standby does not trust its caches: $(sq 'SELECT tablecache.standby_note()' 2>/dev/null)"
    w9_caught_up
    if ! wait_sql sq "SELECT loaded FROM tablecache.caches WHERE name = 'recent_orders'" 120; then
        # autowarm did not load it (yet): load the same window there
        sq "SELECT tablecache.load('recent_orders', window_index, window_ge::timestamptz, window_lt::timestamptz)
              FROM bench_cache_def" >/dev/null 2>"$RES/w9_load.txt" \
            || wait_sql sq "SELECT loaded FROM tablecache.caches WHERE name = 'recent_orders'" 600 \
            || { cat "$RES/w9_load.txt" >&2; w9_die "the cache is not loaded on the standby"; }
        w9_loaded_by=load
    else
        w9_loaded_by=autowarm
    fi
}
w9_sides() {  # the server's and the standby's view of the standby, for the record
    echo "server: $(q "SELECT coalesce(string_agg(state || ' ' || sync_state, ','), 'no walsender') FROM pg_stat_replication")," \
         "standby: replay $(sq 'SELECT pg_last_wal_replay_lsn()' 2>/dev/null || echo '?'), note $(sq 'SELECT coalesce(tablecache.standby_note(), $$trusted$$)' 2>/dev/null || echo '?')"
}

say "W9 hot standby: the server restarted with tablecache.wal_invalidations = on; a standby $SNAME on port $SPORT"
# the contenders equal again (W4 and W8 changed the tables): the matview refreshed, the cache too
q "REFRESH MATERIALIZED VIEW bench_mv" >/dev/null
q "SELECT tablecache.refresh('recent_orders')" >/dev/null
q "CREATE EXTENSION IF NOT EXISTS pg_walinspect" >/dev/null
w9_restart on
bash scripts/server.sh stop "$SNAME" "$SPORT" >/dev/null 2>&1 || true
q "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
rm -rf "$SSOCK"; mkdir -p "$SSOCK"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$SSOCK"
t0=$(date +%s.%N)
as_postgres "$TABLECACHE_PGROOT/usr/lib/postgresql/15/bin/pg_basebackup" -D "$SSOCK/data" -R -X stream -c fast \
    -C -S "$SLOT" -h "$SOCK" -p "$PORT" -U postgres >"$RES/w9_basebackup.txt" 2>&1 \
    || { cat "$RES/w9_basebackup.txt" >&2; die "W9: pg_basebackup"; }
rec W9.basebackup_s "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
echo "hot_standby_feedback = on" | as_postgres tee -a "$SSOCK/data/postgresql.auto.conf" >/dev/null
t0=$(date +%s.%N)
w9_standby_ready; rec W9.standby_loaded_by "$w9_loaded_by"
rec W9.standby_ready_s "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
rec W9.standby_rows "$(sq "SELECT rows FROM tablecache.caches WHERE name = 'recent_orders'")"
rec W9.standby_settings "$(sq "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
    WHERE name IN ('shared_buffers', 'tablecache.memory', 'max_connections', 'random_page_cost', 'jit', 'hot_standby_feedback')")"
# trust began: every cache re-reads everything once (a refresh does it now), then prewarm
sq "SELECT tablecache.refresh('recent_orders')" >/dev/null
"${SPSQL[@]}" -d "$DB" -q -f bench/sql/warm.sql >/dev/null
say "W9: verifying on the standby that join, matview and tablecache return the same rows"
"${SPSQL[@]}" -d "$DB" -q -v samples="$samples" -f bench/sql/verify.sql >"$RES/w9_verify_standby.txt" 2>&1 \
    || { cat "$RES/w9_verify_standby.txt"; w9_die "contenders disagree on the standby (verify.sql)"; }

# W1-W3 on the standby, the same scripts and settings as on the server
sq "SELECT tablecache.reset_stats()" >/dev/null
RUN_SOCK=$SSOCK; RUN_PORT=$SPORT
for r in $(seq 1 "$rounds"); do
    say "W9: W1-W3 reads on the standby, round $r/$rounds"
    for c in 1 2; do
        run W9s.floor "$c" floor "" "$r"
        run W9s.rowfloor "$c" row_floor "" "$r"
        run W9s.rowfloor100 "$c" row_floor_100 "" "$r"
        for w in 1 2 3; do
            run "W9s.W$w.join" "$c" "w${w}_join" "" "$r"
            run "W9s.W$w.join_nomemoize" "$c" "w${w}_join" "-c enable_memoize=off" "$r"
            run "W9s.W$w.matview" "$c" "w${w}_matview" "" "$r"
            run "W9s.W$w.tablecache" "$c" "w${w}_tablecache" "" "$r"
        done
    done
done
RUN_SOCK=""; RUN_PORT=""
IFS='|' read -r hits misses < <(sq "SELECT hits, misses FROM tablecache.stats WHERE cache = 'recent_orders'")
rec W9.reads.hits "$hits"; rec W9.reads.misses "$misses"
[ "$misses" = 0 ] || w9_die "tablecache answered $misses reads on the standby from its tables during W1-W3 ($(w9_sides))"

# W4 on the server: sending on / off, a restart between variants, alternating order
say "W9: W4 writes on the server, invalidations sent in the WAL / not ($w9_rounds rounds each, restarts between; the standby stopped)"
bash scripts/server.sh stop "$SNAME" "$SPORT" >/dev/null
last=""
for r in $(seq 1 "$w9_rounds"); do
    for v in $( [ $((r % 2)) = 1 ] && echo "on off" || echo "off on"); do
        w9_restart "$v"; last=$v
        # the WAL added per invalidated key: w9_n one-order updates (each its own transaction,
        # the same keys in both variants), then one transaction updating 100 orders; after a
        # VACUUM (whether an update is HOT, and so how much WAL it writes, depends on the free
        # space earlier writes left)
        q "VACUUM orders" >/dev/null
        l0=$(q "SELECT pg_current_wal_insert_lsn()")
        o="$RES/pgbench/W9.wal.$v.r$r.txt"
        pgbench -n -M prepared -h "$SOCK" -p "$PORT" -U postgres -c 1 -t "$w9_n" --random-seed="$SEED" "${DVARS[@]}" \
            -f bench/pgbench/w4_orders.sql "$DB" >"$o" 2>&1 || { cat "$o" >&2; die "W9: the WAL measurement's updates ($v)"; }
        l1=$(q "SELECT pg_current_wal_insert_lsn()")
        q "UPDATE orders SET amount = amount + 0.01 WHERE id BETWEEN $id_lo AND $id_lo + 99" >/dev/null
        l2=$(q "SELECT pg_current_wal_insert_lsn()")
        rec "W9.wal_per_update.$v.r$r" "$(q "SELECT round(('$l1'::pg_lsn - '$l0'::pg_lsn) / $w9_n, 1)")"
        rec "W9.wal_100.$v.r$r" "$(q "SELECT '$l2'::pg_lsn - '$l1'::pg_lsn")"
        if [ "$v" = on ]; then
            # tablecache's own records in those ranges (pg_walinspect: the server knows its rmgr)
            wait_sql q "SELECT pg_current_wal_flush_lsn() >= '$l2'::pg_lsn" 60 || die "W9: the WAL was not flushed"
            # (space: a record takes its length rounded up to 8 bytes in the WAL)
            IFS='|' read -r n_rec rec_bytes rec_space rec_data desc1 < <(q "
                SELECT count(*), sum(record_length), sum((record_length + 7) / 8 * 8), sum(main_data_length), min(description)
                  FROM pg_get_wal_records_info('$l0', '$l1') WHERE resource_manager = 'tablecache' AND description LIKE 'db %'")
            rec "W9.tc_records.r$r" "$n_rec"; rec "W9.tc_record_bytes.r$r" "$rec_bytes"
            rec "W9.tc_record_space.r$r" "$rec_space"; rec "W9.tc_record_data.r$r" "$rec_data"
            IFS='|' read -r rec100 space100 desc100 < <(q "
                SELECT sum(record_length), sum((record_length + 7) / 8 * 8), min(description)
                  FROM pg_get_wal_records_info('$l1', '$l2') WHERE resource_manager = 'tablecache' AND description LIKE 'db %'")
            rec "W9.tc_record_bytes_100.r$r" "${rec100:-0}"; rec "W9.tc_record_space_100.r$r" "${space100:-0}"
            if [ "$r" = 1 ]; then
                rec W9.tc_desc_1 "$desc1"; rec W9.tc_desc_100 "$desc100"
                rec W9.walinspect_sample "$(q "SELECT resource_manager || ' ' || record_type || ' len ' || record_length || ': ' || description
                    FROM pg_get_wal_records_info('$l1', '$l2') WHERE resource_manager = 'tablecache' LIMIT 1")"
                # pg_waldump cannot load the extension: it shows the record by its id, without a description
                rec W9.waldump_sample "$(as_postgres "$TABLECACHE_PGROOT/usr/lib/postgresql/15/bin/pg_waldump" \
                    -p "$SOCK/data/pg_wal" -s "$l1" -e "$l2" 2>&1 | grep -iE 'custom|tablecache' | head -1 | sed 's/  */ /g')"
            fi
        fi
        q "SELECT tablecache.refresh('recent_orders')" >/dev/null
        for t in orders customers; do
            for c in 1 2; do
                run "W9.w4.$t.$v" "$c" "w4_$t" "" "$r"
                q "SELECT tablecache.refresh('recent_orders')" >/dev/null
            done
        done
    done
done
[ "$last" = on ] || w9_restart on

# The check: writes to every table with the standby running (and a reader there), then, once its
# replay has caught up, the standby's cache equals the join there
say "W9 check: writes on the server with the standby running; after replay, the standby's cache = the join there"
w9_standby_ready
sq "SELECT tablecache.refresh('recent_orders')" >/dev/null
o="$RES/pgbench/W9.check.txt"; or="$RES/pgbench/W9.check_reader.txt"
pgbench -n -M prepared -h "$SSOCK" -p "$SPORT" -U postgres -c 1 -j 1 -T "$seconds" --random-seed="$SEED" "${DVARS[@]}" \
    -f bench/pgbench/w1_tablecache.sql -f bench/pgbench/w2_tablecache.sql -f bench/pgbench/w3_tablecache.sql "$DB" >"$or" 2>&1 &
reader=$!
pgbench -n -M prepared -h "$SOCK" -p "$PORT" -U postgres -c 2 -j 2 -T "$seconds" --random-seed="$SEED" "${DVARS[@]}" \
    -f bench/pgbench/w4_orders.sql -f bench/pgbench/w4_customers.sql -f bench/pgbench/w4_products.sql \
    -f bench/pgbench/w4_regions.sql "$DB" >"$o" 2>&1 || { cat "$o" >&2; die "W9 check: pgbench failed"; }
grep -q '^number of failed transactions: 0 ' "$o" || { cat "$o" >&2; die "W9 check: failed transactions"; }
wait "$reader" || { cat "$or" >&2; w9_die "W9 check: the reader on the standby failed"; }
grep -q '^number of failed transactions: 0 ' "$or" || { cat "$or" >&2; w9_die "W9 check: the reader on the standby had failed transactions"; }
rec W9.check_tps "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$o")"
rec W9.check_reader_tps "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$or")"
"${PSQL[@]}" -d "$DB" -q -f bench/sql/w4_check.sql >"$RES/w9_w4_check.txt" 2>&1 || { cat "$RES/w9_w4_check.txt"; die "W9 check: bench/sql/w4_check.sql"; }
t0=$(date +%s.%N)
w9_caught_up
rec W9.check_catchup_s "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
rec W9.check_sides "$(w9_sides)"
[ "$(sq 'SELECT tablecache.standby_note() IS NULL')" = t ] || w9_die "the standby stopped trusting its caches: $(sq 'SELECT tablecache.standby_note()')"
# the standby's counters since it started (the reader, and what replay invalidated)
rec W9.check_stats "$(sq "SELECT format('hits %s, misses %s, refreshes %s (rows re-read %s), loads %s', hits, misses, refreshes, rows_loaded, loads)
                            FROM tablecache.stats WHERE cache = 'recent_orders'")"
# first with the invalidations pending (reads re-read what they need), then refreshed: all hits
"${SPSQL[@]}" -d "$DB" -q -v samples="$samples" -v check_matview=0 -v allow_misses=1 -f bench/sql/verify.sql \
    >"$RES/w9_verify_pending.txt" 2>&1 || { cat "$RES/w9_verify_pending.txt"; w9_die "the standby's cache differs from the join there (invalidations pending)"; }
rec W9.check_pending "$(sed -n 's/^tablecache hits \([0-9]*\) misses \([0-9]*\)$/\1|\2/p' "$RES/w9_verify_pending.txt")"
sq "SELECT tablecache.refresh('recent_orders')" >/dev/null
"${SPSQL[@]}" -d "$DB" -q -v samples="$samples" -v check_matview=0 -f bench/sql/verify.sql \
    >"$RES/w9_verify_after.txt" 2>&1 || { cat "$RES/w9_verify_after.txt"; w9_die "the standby's cache differs from the join there (refreshed), or misses"; }
rec W9.check_after "$(sed -n 's/^tablecache hits \([0-9]*\) misses \([0-9]*\)$/\1|\2/p' "$RES/w9_verify_after.txt")"
rec W9.check_ok 1
if [ "$keep" != 1 ]; then
    bash scripts/server.sh stop "$SNAME" "$SPORT" >/dev/null
    q "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null
    q "ALTER SYSTEM RESET tablecache.wal_invalidations"   # at the next start
fi
fi

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
