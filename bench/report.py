#!/usr/bin/python3
"""Writes BENCHMARKS.md and the ratio chart from a results.tsv of scripts/bench.sh.

    bench/report.py RESULTS.tsv OUT.md CHART.png

results.tsv lines: key<TAB>value; repeated measurements carry a .rN suffix
(rounds), the report uses their median."""
import os
import re
import statistics
import sys
from collections import defaultdict

res_path, md_path, png_path = sys.argv[1:4]
raw = {}
multi = defaultdict(list)
for line in open(res_path):
    line = line.rstrip("\n")
    if not line:
        continue
    k, _, v = line.partition("\t")
    raw[k] = v
    m = re.match(r"^(.*)\.r\d+$", k)
    if m:
        try:
            multi[m.group(1)].append(float(v))
        except ValueError:
            pass


def med(key):
    vals = multi.get(key)
    return statistics.median(vals) if vals else None


def f(key):
    try:
        return float(raw[key])
    except (KeyError, ValueError):
        return None


def meta_or(key):
    v = f(key)
    return "?" if v is None else fmt(v, 1)


def fmt(x, digits=None):
    if x is None:
        return "–"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if digits is not None:
        return f"{x:,.{digits}f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


meta = lambda k: raw.get("meta." + k, "?")
mode = meta("mode")

# Targets: (label, value, target, higher_is_better)
checks = []


def check(label, value, target, higher=True):
    ok = None if value is None else (value >= target if higher else value <= target)
    checks.append((label, value, target, higher, ok))
    mark = "–" if ok is None else ("✅ met" if ok else "❌ not met")
    op = "≥" if higher else "≤"
    # small ratios get a third digit, so that 0.018 and 0.024 do not both read 0.02
    shown = f"{value:.3f}" if value is not None and abs(value) < 0.1 else fmt(value)
    return f"{shown} | {op} {target:g} | {mark}"


out = []
w = out.append
w("# tablecache benchmark results")
w("")
if mode != "full":
    w(f"**This is a {mode.upper()} run** (scale {meta('scale')}, {meta('seconds')} s per pgbench run, "
      f"{meta('rounds')} round(s)): for tracking changes, not for quoting. "
      "`scripts/bench.sh --full` (scale 1) gives the figures to quote.")
    w("")
if meta("build_kind") != "release build":
    w(f"**Warning: the server loaded {meta('build_kind')} of tablecache, not this tree's release "
      "build (`--no-build` after a test run installs a debug build): these figures do not describe "
      "tablecache's speed. Run without `--no-build`.**")
    w("")
w("Produced by `scripts/bench.sh` (specification: `bench/SPEC.md`). Every figure is measured in one run on one "
  "server with the same data and client settings; ratios within a run are what counts "
  "(absolute numbers move with the machine's load).")
w("")
w("| | |")
w("|---|---|")
w(f"| date | {meta('date')} |")
w(f"| mode | {mode}: scale {meta('scale')} ({fmt(f('data.n_orders'))} orders, "
  f"{fmt(f('data.n_customers'))} customers; window {raw.get('data.window', '?')} = "
  f"{fmt(f('data.window_rows'))} rows), {meta('seconds')} s per pgbench run, "
  f"{meta('rounds')} round(s) (median), `--random-seed={meta('seed')}` |")
w(f"| machine | {meta('nproc')} CPUs, {meta('cpu')}, {meta('ram')} RAM; load average at start "
  f"{meta('loadavg_start')}, at end {meta('loadavg_end')} |")
w(f"| PostgreSQL | {meta('pg_version')} |")
w(f"| build | {meta('build_kind')}, `tablecache.so` md5 `{meta('lib_md5')}` ({fmt(f('meta.lib_size'))} bytes), "
  f"git {meta('git')}{'' if meta('built') == '1' else ' (not rebuilt: --no-build)'} |")
settings = ", ".join(f"{k[len('setting.'):]}={v}" for k, v in raw.items() if k.startswith("setting."))
w(f"| settings | {settings} |")
if raw.get("meta.lib_replaced_during_run"):
    w(f"| note | the installed library was replaced during the run; {raw['meta.lib_replaced_during_run']} |")
w("")
w("Clients: `pgbench -n -M prepared -c N -j N -T seconds`, keys uniformly random inside the cached "
  "window (`bench/pgbench/*.sql`). Before timing, `bench/sql/verify.sql` checks on sampled keys "
  "that join, matview and tablecache return identical rows in identical order (and that "
  "tablecache answers them from memory); every pgbench run must end with 0 failed transactions, "
  "and the W1–W3 runs must cause 0 tablecache misses "
  f"(hits {fmt(f('reads.hits'))}, misses {fmt(f('reads.misses'))}). "
  "fsync, synchronous_commit and full_page_writes are off for every contender: no disk flush hides "
  "the cost of the invalidation triggers in W4.")
w("")

# ---------------- W1-W3
floor = {c: med(f"tps.floor.c{c}") for c in (1, 2)}
rowfloor = {c: med(f"tps.rowfloor.c{c}") for c in (1, 2)}
rowfloor100 = {c: med(f"tps.rowfloor100.c{c}") for c in (1, 2)}
w("## W1–W3 reads (TPS)")
w("")
w(f"floor: `SELECT 1`. row floor (`bench/pgbench/row_floor.sql`): one constant row of the cached "
  f"query's shape, no lookup — {fmt(rowfloor[1])} / {fmt(rowfloor[2])} TPS at 1 / 2 clients, "
  f"{fmt(rowfloor[1] / floor[1] if rowfloor[1] and floor[1] else None)} / "
  f"{fmt(rowfloor[2] / floor[2] if rowfloor[2] and floor[2] else None)} of the floor: what forming and "
  "sending a row costs any contender. row floor 100 (`bench/pgbench/row_floor_100.sql`): 100 such "
  f"rows from a function scan — {fmt(rowfloor100[1])} / {fmt(rowfloor100[2])} TPS: the ceiling of any "
  "100-row range (W2).")
w("")
w("| workload | clients | floor | join (default) | join (memoize off) | matview | tablecache |")
w("|---|---|---|---|---|---|---|")
reads = {}
for wl in (1, 2, 3):
    for c in (1, 2):
        j = med(f"tps.W{wl}.join.c{c}")
        jn = med(f"tps.W{wl}.join_nomemoize.c{c}")
        m = med(f"tps.W{wl}.matview.c{c}")
        t = med(f"tps.W{wl}.tablecache.c{c}")
        reads[(wl, c)] = (max(x for x in (j, jn) if x is not None) if (j or jn) else None, m, t)
        w(f"| W{wl} | {c} | {fmt(floor[c])} | {fmt(j)} | {fmt(jn)} | {fmt(m)} | {fmt(t)} |")
w("")
avg = {k[len("verify."):-len(".avg_rows")]: raw[k] for k in raw if k.startswith("verify.") and k.endswith(".avg_rows")}
w(f"Rows per call (verify sample): W1 {avg.get('W1', '?')}, W2 {avg.get('W2', '?')}, W3 {avg.get('W3', '?')}. "
  "join = the faster of default settings and `enable_memoize = off`.")
w("")
w("Targets (bench/SPEC.md): a read cannot beat a statement that returns the same rows without "
  "looking anything up, so tablecache must reach 0.95 of the row floor (W1, W3) and of the 100-row "
  "floor (W2), at 1 and 2 clients; the ratios against join, matview and `SELECT 1` are reported too.")
w("")
w("| workload | clients | / join | / matview | / `SELECT 1` | / row floor | target | |")
w("|---|---|---|---|---|---|---|---|")
above_floor = []
for wl in (1, 2, 3):
    for c in (1, 2):
        j, m, t = reads[(wl, c)]
        ref = rowfloor100[c] if wl == 2 else rowfloor[c]
        r = lambda x: fmt(t / x if t and x else None)
        w(f"| W{wl} | {c} | {r(j)} | {r(m)} | {r(floor[c])} | "
          f"{check(f'W{wl} tc/row floor c{c}', t / ref if t and ref else None, 0.95)} |")
w("")

# ---------------- W4
w("## W4 writes (TPS)")
w("")
auto_tables = raw.get("W4.auto_tables", "")
w("One random row per transaction: `UPDATE orders SET amount = amount + 0.01` (an order of the cached "
  "window), `UPDATE customers SET name = ...`, `UPDATE products SET title = ...`, `UPDATE regions SET name = ...` "
  "(`bench/pgbench/w4_*.sql`). Three variants, measured in the same run in alternating order, each with the "
  "cache `recent_orders` loaded (re-created with the same query, indexes and window when the maintain mode "
  "changes: tablecache refuses to disable a self-maintained cache's triggers): "
  "**plain**, a version-1 cache (`maintain => 'manual'`) and no tablecache trigger at all (the foreign keys' "
  "internal triggers stay); **manual**, the same with version 1's hand-written `tablecache.invalidate_trigger` "
  "row triggers (orders: `primary_key`/`id`; customers: `by_customer`/`id`); **auto**, the self-maintained "
  f"cache (`maintain => 'auto'`) with the triggers it installed on every table of its query ({auto_tables or '?'}), "
  "nothing hand-written. Before each variant `pg_trigger` is checked: exactly its "
  "triggers are enabled (cache's own / hand-written / all: "
  + ", ".join(f"{v} {raw.get('triggers.' + v, '?')}" for v in ("plain", "manual", "auto")) + ").")
w("")
w("| statement | clients | plain | manual (v1) | auto (v2) |")
w("|---|---|---|---|---|")
W4_TABLES = (("orders", 0.85), ("customers", 0.7), ("products", 0.7), ("regions", 0.5))
tps4 = {}
for tbl, _ in W4_TABLES:
    for c in (1, 2):
        p = med(f"tps.W4.{tbl}.plain.c{c}")
        mn = med(f"tps.W4.{tbl}.manual.c{c}") or med(f"tps.W4.{tbl}.trigger.c{c}")
        au = med(f"tps.W4.{tbl}.auto.c{c}")
        tps4[(tbl, c)] = (p, mn, au)
        w(f"| {tbl} | {c} | {fmt(p)} | {fmt(mn)} | {fmt(au)} |")
w("")
w("Targets (bench/SPEC.md): an order update ≥ 0.85× plain, a customer update (fanning out to about 2 "
  "cached rows) ≥ 0.7×, for version 1's triggers and the cache's own; with self-maintenance also a product "
  "update ≥ 0.7× and a region rename (fanning out to about 230 cached rows at scale 1) ≥ 0.5×.")
w("")
w("| statement | clients | manual / plain | target | | auto / plain | target | |")
w("|---|---|---|---|---|---|---|---|")
for tbl, target in W4_TABLES:
    for c in (1, 2):
        p, mn, au = tps4[(tbl, c)]
        manual_cell = (check(f"W4 manual {tbl} c{c}", mn / p if mn and p else None, target)
                       if tbl in ("orders", "customers") else "| | ")
        w(f"| {tbl} | {c} | {manual_cell} | {check(f'W4 auto {tbl} c{c}', au / p if au and p else None, target)} |")
w("")
w("What the writes left for the readers: after each manual and auto run, `tablecache.refresh` applied the "
  "pending invalidations (ms, median; rows re-read in brackets). Each run starts with nothing pending.")
w("")
w("| statement | clients | after manual | after auto |")
w("|---|---|---|---|")
for tbl, _ in W4_TABLES:
    for c in (1, 2):
        cells = []
        for v in ("manual", "auto"):
            ms, rows_ = med(f"W4.refresh_ms.{v}.{tbl}.c{c}"), med(f"W4.refresh_rows.{v}.{tbl}.c{c}")
            cells.append("" if ms is None else f"{fmt(ms)} ({fmt(rows_)})")
        w(f"| {tbl} | {c} | {cells[0]} | {cells[1]} |")
w("")
if f("W4.check_refresh_ms") is not None:
    w("Check: after the timed runs the self-maintained cache (which had seen every write since it was created, "
      "with its own triggers only) matched the join; then 2 clients ran the four scripts mixed for "
      f"{meta('seconds')} s ({fmt(f('W4.check_tps'))} TPS) and `bench/sql/w4_check.sql` ran "
      "(new, deleted and moved orders, customers and products moving to another region or category, a renamed "
      "category, several tables in one transaction). `bench/sql/verify.sql` then found tablecache equal to the "
      "join on sampled keys and over the whole window, first with the invalidations pending (the reads refresh "
      "what they need, or read the database), then again after `tablecache.refresh`: no hand-written "
      "invalidation helped.")
    w("")

# ---------------- W5
w("## W5 slide the window by one hour")
w("")
a = med("W5.adjust_ms"); rf_s = med("W5.refresh_ms"); rf_4 = med("W5.refresh_rpc4_ms")
rfm = min(x for x in (rf_s, rf_4) if x is not None) if (rf_s or rf_4) else None
ratio = a / rfm if a and rfm else None
w("| `tablecache.adjust` (ms) | `REFRESH MATERIALIZED VIEW` (ms): server setting / random_page_cost=4 | adjust / faster refresh | target | |")
w("|---|---|---|---|---|")
w(f"| {fmt(a)} | {fmt(rf_s)} / {fmt(rf_4)} | {check('W5 adjust/refresh', ratio, 0.02, higher=False)} |")
w("")
ac, rc, r4c = f("W5.adjust_cold_ms"), f("W5.refresh_cold_ms"), f("W5.refresh_rpc4_cold_ms")
w(f"Each contender runs in one session (as the sliding-window worker, or a job that keeps its "
  f"connection, does): medians of the {len(multi.get('W5.adjust_ms', []))} calls after the first "
  f"(slides alternately one hour back and forward: each loads ~{fmt(f('W5.rows_per_hour'))} rows "
  f"and expires as many). The first call of a session also loads catalog entries and plans: "
  f"adjust {fmt(ac)} ms, REFRESH {fmt(rc)} / {fmt(r4c)} ms "
  f"({fmt(ac / min(x for x in (rc, r4c) if x) if ac and (rc or r4c) else None)} of the faster). "
  "An adjust runs the cache's query for the hour that enters, so its plan matters: with the "
  "default random_page_cost = 4 PostgreSQL joins that hour by hashing the whole customers table.")
w("")
if f("load.seconds"):
    w(f"The first load of the whole window (`bench/data/cache.sql`: define the cache and its indexes, "
      f"load {fmt(f('data.window_rows'))} rows) took {fmt(f('load.seconds'), 2)} s, in a new session.")
    w("")

# ---------------- W6
w("## W6 memory")
w("")
rows = f("W6.cache_rows"); cb = f("W6.cache_bytes"); ub = f("W6.used_bytes")
mvr = f("W6.mv_row_bytes"); mvt = f("W6.mv_total_bytes")
per = cb / rows if cb and rows else None
c_maint = raw.get("W6.cache_maintain", "manual")
mrows, mb, md = f("W6.manual_rows"), f("W6.manual_bytes"), f("W6.manual_used_delta")
mper = mb / mrows if mb and mrows else None
w("| cache | cached rows | `caches.bytes` per row | `memory.used_bytes` per row | matview `pg_column_size` per row | "
  "matview heap + 3 indexes per row | ratio | target | |")
w("|---|---|---|---|---|---|---|---|---|")
mv_cells = f"{fmt(mvr)} | {fmt(mvt / rows if mvt and rows else None)}"
if c_maint == "auto":
    if mper is not None:
        w(f"| version 1 (`maintain => 'manual'`, the same query, indexes and window) | {fmt(mrows)} | {fmt(mper)} | "
          f"{fmt(md / mrows if md and mrows else None)} (its load's growth) | {mv_cells} | "
          f"{check('W6 v1 bytes/row', mper / mvr if mvr else None, 1.5, higher=False)} |")
    w(f"| self-maintained (`maintain => 'auto'`, bench/data/cache.sql) | {fmt(rows)} | {fmt(per)} | "
      f"{fmt(ub / rows if ub and rows else None)} | {mv_cells} | "
      f"{check('W6 auto bytes/row', per / mvr if per and mvr else None, 1.6, higher=False)} |")
else:
    w(f"| `maintain => '{c_maint}'` | {fmt(rows)} | {fmt(per)} | {fmt(ub / rows if ub and rows else None)} | {mv_cells} | "
      f"{check('W6 bytes/row', per / mvr if per and mvr else None, 1.5, higher=False)} |")
w("")
w("ratio = `tablecache.caches.bytes` / rows ÷ average `pg_column_size` of the matview row. Targets (bench/SPEC.md): "
  "≤ 1.5× the row's own size; ≤ 1.6× with whatever self-maintenance keeps per row.")
if c_maint == "auto":
    hows = {"reread": "re-read through a foreign key (nothing kept)", "index": "found through a cache index",
            "hidden": "its key kept with every row (hidden column, internal index)"}
    lin = [x.partition(":") for x in raw.get("W6.lineage", "").split()]
    w(f"What the self-maintained cache keeps for it: {fmt(f('W6.hidden_indexes'))} internal index(es); per base "
      "table (`tablecache.dependencies`): " + "; ".join(f"{t} {hows.get(h, h)}" for t, _, h in lin) + "."
      + ("" if mper is not None else " (The version-1 twin was not measured: part `w6` did not run.)"))
w("")

# ---------------- W7
w("## W7 in-backend cost (µs per call)")
w("")
k = lambda n: med(f"W7.{n}")
w("| lookup | PL/pgSQL loop, SPI | statement loop, no SPI | target | |")
w("|---|---|---|---|---|")
w(f"| loop alone | {fmt(k('loop_plpgsql'))} | {fmt(k('loop_sql'))} | | |")
w(f"| tablecache `get` (PL/pgSQL expression `r := get(...)`, no SPI: {fmt(k('get_expr'))}) | {fmt(k('get_tc_spi'))} | "
  f"{check('W7 get µs', k('get_sql'), 0.7, higher=False)} |")
w(f"| matview by id | {fmt(k('get_mv_spi'))} | | | |")
jg = [x for x in (k('get_join_spi'), k('get_join_spi_nomemoize')) if x is not None]
jr = [x for x in (k('range_join_spi'), k('range_join_spi_nomemoize')) if x is not None]
w(f"| join by id (faster of memoize on/off) | {fmt(min(jg) if jg else None)} | | | |")
w(f"| tablecache 100-row `range` | {fmt(k('range_tc_spi'))} | "
  f"{check('W7 range µs', k('range_sql'), 7, higher=False)} |")
if k('customer_sql') is not None:
    w(f"| tablecache one customer's orders in the window (W3 shape, `by_customer`) | | "
      f"{check('W7 customer µs', k('customer_sql'), 1.5, higher=False)} |")
w(f"| matview 100-row range | {fmt(k('range_mv_spi'))} | | | |")
w(f"| join 100-row range (faster of memoize on/off) | {fmt(min(jr) if jr else None)} | | | |")
w("")
w("`bench/sql/w7.sql`: `bench_w7(kind, n)` times n lookups inside the backend (median of 3). "
  "'statement loop' = one `SELECT` over `generate_series` calling the function per row; "
  "'SPI' = a PL/pgSQL `FOR` loop running the query as static SQL (`SELECT ... INTO`). "
  "The targets apply to the statement-loop figures, loop cost included.")
w("")

# ---------------- W8
if med("W8.auto_ms") is not None or med("W8.none_ms") is not None:
    w("## W8 bulk write")
    w("")
    pa, au = med("W8.none_ms"), med("W8.auto_ms")
    w(f"`UPDATE customers SET name = name || '.'` over all {fmt(f('data.n_customers'))} customers, in a new session "
      "after `VACUUM customers` and a one-row warm-up, with the self-maintained cache loaded (auto) / with no "
      "cache at all (dropped: no tablecache trigger fires): "
      f"{len(multi.get('W8.auto_ms', []))} rounds in alternating order, medians.")
    w("")
    w("| no cache (ms) | self-maintained cache (ms) | ratio | target | |")
    w("|---|---|---|---|---|")
    w(f"| {fmt(pa)} | {fmt(au)} | {check('W8 bulk update', au / pa if au and pa else None, 3, higher=False)} |")
    w("")
    rr, wr = med("W8.refresh_rows"), f("data.window_rows")
    bulk = (f("data.n_customers") or 0) > 2000
    w(("Past 2000 keys in one transaction the whole cache is invalidated (the bulk rule): the" if bulk else
       "(At this scale the statement changes fewer than 2000 customers: the bulk rule does not apply, every "
       "customer is invalidated.) The") +
      f" refresh that follows each auto statement took {fmt(med('W8.refresh_ms'))} ms and re-read "
      f"{fmt(rr)} rows{' (the whole window)' if rr and wr and rr >= wr else ''}, reported apart from the "
      "statement. After the last round's refresh `bench/sql/verify.sql` found tablecache equal to the join "
      "(sampled keys and the whole window).")
    w("")

# ---------------- W9
if med("tps.W9s.W1.tablecache.c1") is not None or med("tps.W9.w4.orders.on.c1") is not None:
    w("## W9 hot standby")
    w("")
    w("W1–W8 and W10 run with `tablecache.wal_invalidations` off (the default; the settings above). W9 runs last: "
      "the server is restarted with it on, a streaming standby is made of it (`pg_basebackup -R -X stream` with "
      "a physical slot, "
      f"{meta_or('W9.basebackup_s')} s; tablecache preloaded, `hot_standby_feedback = on`; "
      f"{raw.get('W9.standby_settings', '?')}), and once the standby trusts its caches "
      "(`tablecache.standby_note() IS NULL`) and has its copy of the cache "
      f"({raw.get('W9.standby_loaded_by', '?')}: {fmt(f('W9.standby_rows'))} rows; ready "
      f"{meta_or('W9.standby_ready_s')} s after its start), `bench/sql/verify.sql` checks on the standby that "
      "join, matview and tablecache return the same rows, from memory.")
    w("")
    sfloor = {c: med(f"tps.W9s.floor.c{c}") for c in (1, 2)}
    srow = {c: med(f"tps.W9s.rowfloor.c{c}") for c in (1, 2)}
    srow100 = {c: med(f"tps.W9s.rowfloor100.c{c}") for c in (1, 2)}
    w("### W1–W3 on the standby (TPS)")
    w("")
    w(f"The same pgbench scripts and clients as on the server, against the standby; row floor {fmt(srow[1])} / "
      f"{fmt(srow[2])}, row floor 100 {fmt(srow100[1])} / {fmt(srow100[2])} TPS at 1 / 2 clients. tablecache hits "
      f"{fmt(f('W9.reads.hits'))}, misses {fmt(f('W9.reads.misses'))} (must be 0).")
    w("")
    w("| workload | clients | floor | join (default) | join (memoize off) | matview | tablecache |")
    w("|---|---|---|---|---|---|---|")
    sreads = {}
    for wl in (1, 2, 3):
        for c in (1, 2):
            j = med(f"tps.W9s.W{wl}.join.c{c}")
            jn = med(f"tps.W9s.W{wl}.join_nomemoize.c{c}")
            m = med(f"tps.W9s.W{wl}.matview.c{c}")
            t = med(f"tps.W9s.W{wl}.tablecache.c{c}")
            sreads[(wl, c)] = (max(x for x in (j, jn) if x is not None) if (j or jn) else None, m, t)
            w(f"| W{wl} | {c} | {fmt(sfloor[c])} | {fmt(j)} | {fmt(jn)} | {fmt(m)} | {fmt(t)} |")
    w("")
    w("Targets (bench/SPEC.md): the same as on the server — tablecache ≥ 0.95 of the row floor (W1, W3) and "
      "of the 100-row floor (W2), on the standby, at 1 and 2 clients.")
    w("")
    w("| workload | clients | / join | / matview | / `SELECT 1` | on the server: / row floor | / row floor | target | |")
    w("|---|---|---|---|---|---|---|---|---|")
    for wl in (1, 2, 3):
        for c in (1, 2):
            j, m, t = sreads[(wl, c)]
            ref = srow100[c] if wl == 2 else srow[c]
            r = lambda x: fmt(t / x if t and x else None)
            pt, pref = reads[(wl, c)][2], (rowfloor100[c] if wl == 2 else rowfloor[c])
            w(f"| W{wl} | {c} | {r(j)} | {r(m)} | {r(sfloor[c])} | {fmt(pt / pref if pt and pref else None)} | "
              f"{check(f'W9 standby W{wl} tc/row floor c{c}', t / ref if t and ref else None, 0.95)} |")
    w("")
    w("### W4 on the server: invalidations sent in the WAL / not")
    w("")
    n_on = len(multi.get("tps.W9.w4.orders.on.c1", []))
    n_off = len(multi.get("tps.W9.w4.orders.off.c1", []))
    w("`tablecache.wal_invalidations` is a postmaster setting: the server is restarted for every variant, "
      f"alternating ({n_on} rounds on, {n_off} off; medians), waits until autowarm has loaded the self-maintained "
      "cache, prewarms, then runs `bench/pgbench/w4_orders.sql` and `w4_customers.sql` (the cache's own triggers "
      "fire in both variants; each run starts with nothing pending). The standby is stopped meanwhile (its slot "
      "keeps the WAL): the figure is the server's own cost, not a second server's on the same CPUs.")
    w("")
    w("| statement | clients | off (TPS) | on (TPS) | on / off | target | |")
    w("|---|---|---|---|---|---|---|")
    for tbl in ("orders", "customers"):
        for c in (1, 2):
            off, on = med(f"tps.W9.w4.{tbl}.off.c{c}"), med(f"tps.W9.w4.{tbl}.on.c{c}")
            w(f"| {tbl} | {c} | {fmt(off)} | {fmt(on)} | "
              f"{check(f'W9 sending {tbl} c{c}', on / off if on and off else None, 0.95)} |")
    w("")
    pu_on, pu_off = med("W9.wal_per_update.on"), med("W9.wal_per_update.off")
    h_on, h_off = med("W9.wal_100.on"), med("W9.wal_100.off")
    nrec, rb, rd = med("W9.tc_records"), med("W9.tc_record_bytes"), med("W9.tc_record_data")
    rs = med("W9.tc_record_space") or rb
    rb100 = med("W9.tc_record_bytes_100")
    rs100 = med("W9.tc_record_space_100") or rb100
    diff = lambda a, b: a - b if a is not None and b is not None else None
    w("WAL added per invalidated key: in each variant, after a `VACUUM orders`, one client's "
      f"{fmt(nrec)} one-order updates (`w4_orders.sql` with `-t`, each its own transaction, the same keys in "
      "both variants), then one transaction updating 100 orders of the window: the WAL they wrote "
      "(`pg_current_wal_insert_lsn()` differences, medians) and, with sending on, tablecache's own records among "
      "them, read with `pg_walinspect` (resource manager `tablecache`, id 197; WAL space = the record's length "
      "rounded up to 8 bytes). The records are exactly what sending adds (besides a heartbeat every 5 s); the "
      "insert-position differences also move with the rest of the WAL (an update is HOT or not).")
    w("")
    w("| | WAL, off | WAL, on | on − off | tablecache's records: WAL space | per invalidated key |")
    w("|---|---|---|---|---|---|")
    w(f"| one-order update transaction | {fmt(pu_off)} | {fmt(pu_on)} | {fmt(diff(pu_on, pu_off))} | "
      f"{fmt(rs / nrec if rs and nrec else None)} (length {fmt(rb / nrec if rb and nrec else None)}, data "
      f"{fmt(rd / nrec if rd and nrec else None)}) | {fmt(rs / nrec if rs and nrec else None)} |")
    w(f"| one 100-order transaction | {fmt(h_off)} | {fmt(h_on)} | {fmt(diff(h_on, h_off))} | {fmt(rs100)} | "
      f"{fmt(rs100 / 100 if rs100 else None)} |")
    w("")
    if raw.get("W9.walinspect_sample"):
        w(f"The 100-key record, as `pg_get_wal_records_info` shows it: `{raw['W9.walinspect_sample']}`; "
          f"as `pg_waldump` does (it cannot load the extension's description): `{raw.get('W9.waldump_sample', '?')}`. "
          f"A one-key record: `{raw.get('W9.tc_desc_1', '?')}`.")
        w("")
    w("### Check: the standby after the writes")
    w("")
    if raw.get("W9.check_ok") == "1":
        ph, pm = (raw.get("W9.check_pending", "|").split("|") + [""])[:2]
        ah, am = (raw.get("W9.check_after", "|").split("|") + [""])[:2]
        w("With the server sending again (restarted) and the standby running, trusted and caught up, 2 clients "
          f"updated orders, customers, products and regions for {meta('seconds')} s ({fmt(f('W9.check_tps'))} TPS) "
          f"while a client on the standby read the cache (W1–W3 mixed, {fmt(f('W9.check_reader_tps'))} TPS, no "
          "failed transaction; not a figure: a read of a key whose invalidation was replayed re-reads what is "
          "pending, and under thousands of random writes a second the pending list overflows into merged "
          "ranges, on a server as on a standby), and `bench/sql/w4_check.sql` ran (inserts, deletes, moved keys, every table). "
          f"Replay caught up {meta_or('W9.check_catchup_s')} s after the last write "
          f"(`pg_last_wal_replay_lsn()` ≥ the server's `pg_current_wal_insert_lsn()`; {raw.get('W9.check_sides', '?')}); "
          f"the standby's counters since its start: {raw.get('W9.check_stats', '?')}. "
          "`bench/sql/verify.sql` on the standby then found tablecache equal to the join there, on sampled keys and "
          f"over the whole window: with the replayed invalidations pending, hits {ph}, misses {pm}; after "
          f"`tablecache.refresh` on the standby, hits {ah}, misses {am} (must be 0).")
    else:
        w("The check did not run.")
    w("")


# ---------------- W10
n10 = int(f("W10.n") or 0)
if n10:
    w("## W10 growth")
    w("")
    w("| scale | cached rows | `get` µs | 100-row `range` µs | one-hour `adjust` ms |")
    w("|---|---|---|---|---|")
    for i in range(1, n10 + 1):
        w(f"| {raw.get(f'W10.s{i}.scale', '?')} | {fmt(f(f'W10.s{i}.rows'))} | {fmt(med(f'W10.s{i}.get'))} | "
          f"{fmt(med(f'W10.s{i}.range'))} | {fmt(med(f'W10.s{i}.adjust_ms'))} |")
    w("")
    g1, gn = med("W10.s1.get"), med(f"W10.s{n10}.get")
    r1, rn = med("W10.s1.range"), med(f"W10.s{n10}.range")
    w("| figure | ratio | target | |")
    w("|---|---|---|---|")
    w(f"| `get`, largest / smallest scale | {check('W10 get growth', gn / g1 if g1 and gn else None, 1.5, higher=False)} |")
    w(f"| `range`, largest / smallest scale | {check('W10 range growth', rn / r1 if r1 and rn else None, 1.5, higher=False)} |")
    if n10 >= 2:
        a_mid, a_big = med(f"W10.s{n10 - 1}.adjust_ms"), med(f"W10.s{n10}.adjust_ms")
        w(f"| `adjust` by one hour, largest / middle scale | "
          f"{check('W10 adjust growth', a_big / a_mid if a_mid and a_big else None, 1.5, higher=False)} |")
    w("")
    w("Each scale in its own database with only the cache (bench/data/cache.sql) and `bench_window`; "
      "`get` and `range` are W7's statement loops (median of 3), `adjust` slides the window one hour "
      "back and forth in one session (medians after the first call). The rows of an hour grow with "
      "the scale, so the adjust ratio also counts 4× the entering and leaving rows.")
    w("")

# ---------------- noise
spread = []
for key, vals in multi.items():
    if key.startswith("tps.") and len(vals) > 1 and min(vals) > 0:
        spread.append((max(vals) / min(vals), key))
spread.sort(reverse=True)
implausible = [lab for lab, v, t, hi, ok in checks
               if v is not None and ((lab.startswith("W1 tc/floor") and v > 1.0) or (lab.startswith(("W4", "W9 sending")) and v > 1.05)
                                    or (lab.startswith("W8") and v < 0.95))]
if spread or implausible:
    w("## Noise")
    w("")
    if spread:
        w(f"Largest max/min spread of one figure across rounds: {spread[0][0]:.2f}× ({spread[0][1]}); "
          f"median spread {statistics.median(s for s, _ in spread):.2f}×.")
    if implausible:
        w("Implausible ratios (faster than `SELECT 1`, or writes faster with triggers, or with sending, than without) show "
          "that the machine's load moved during the run: " + ", ".join(implausible) +
          ". Trust only differences well beyond the spread; rerun with more `--rounds`.")
    w("")

# ---------------- summary
met = sum(1 for c in checks if c[4]); total = sum(1 for c in checks if c[4] is not None)
w("## Summary")
w("")
w(f"{met} of {total} targets met. Not met: " +
  (", ".join(f"{lab} ({fmt(v)} vs {'≥' if hi else '≤'} {t:g})" for lab, v, t, hi, ok in checks if ok is False) or "none") + ".")

w("")
w("Chart: `bench/ratios.png` (each ratio divided by its target, so that 1 is the target line; "
  "for lower-is-better figures the inverse).")
# figures kept from earlier runs (written by hand: bench/HISTORY.md)
history = os.path.join(os.path.dirname(os.path.abspath(__file__)), "HISTORY.md")
if os.path.exists(history):
    w("")
    w(open(history).read().rstrip())
open(md_path, "w").write("\n".join(out) + "\n")

# ---------------- chart
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except Exception as e:  # noqa: BLE001
    print(f"report: no matplotlib ({e}); chart skipped", file=sys.stderr)
    sys.exit(0)
items = [(lab, v, t, hi, ok) for lab, v, t, hi, ok in checks if v is not None and v > 0]
labels = [lab for lab, *_ in items]
norm = [(v / t) if hi else (t / v) for _, v, t, hi, _ in items]
# a target that asks for more than the floor (no statement can meet it) is drawn grey
colors = ["#2a9d3f" if ok else ("#9a9a9a" if lab in above_floor else "#d1495b") for lab, *_, ok in items]
fig, ax = plt.subplots(figsize=(9, 0.38 * len(items) + 1.6))
y = range(len(items))
ax.barh(list(y), norm, color=colors)
ax.axvline(1.0, color="black", linestyle="--", linewidth=1, label="target")
ax.set_xscale("log")
ax.set_yticks(list(y))
ax.set_yticklabels(labels, fontsize=8)
ax.invert_yaxis()
for i, (lab, v, t, hi, ok) in enumerate(items):
    shown = f"{v:.3f}" if abs(v) < 0.1 else fmt(v)
    note = "; target above a floor" if lab in above_floor and not ok else ""
    ax.text(norm[i], i, f"  {shown} ({'≥' if hi else '≤'} {t:g}{note})", va="center", fontsize=7)
ax.set_xlabel("measured / target (higher is better; 1 = target)")
ax.set_title(f"tablecache vs targets — {mode} run, scale {meta('scale')}, {meta('date')}", fontsize=10)
lo, hi_ = min(norm + [1]), max(norm + [1])
ax.set_xlim(lo / 1.5, hi_ * 4)
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(png_path, dpi=110)
print(f"report: wrote {md_path} and {png_path}")
