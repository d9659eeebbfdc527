#!/usr/bin/env bash
# Writes sql/tablecache--0.1.0--0.2.0.sql: the hand-written catalog part
# (src/sql/upgrade--0.1.0--0.2.0.head.sql) followed by every function, view and grant of the
# current version's install script (which `cargo pgrx schema` generates), its catalog tables
# left out and CREATE FUNCTION made CREATE OR REPLACE FUNCTION.
#
#   scripts/make-upgrade.sh [INSTALL_SQL]   (default: generate it with cargo pgrx schema)
#
# The upgrade test (pg_test/sessions/test_upgrade.py) checks that an upgraded database has the
# same functions and views as a fresh one: run this after changing the SQL surface.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
src="${1:-}"
if [ -z "$src" ]; then
    src=$(mktemp)
    cargo pgrx schema pg15 --out "$src" >/dev/null
fi
out=sql/tablecache--0.1.0--0.2.0.sql
python3 - "$src" src/sql/upgrade--0.1.0--0.2.0.head.sql "$out" <<'PY'
import re, sys
src, head, out = sys.argv[1:4]
s = open(src).read()
# the catalog block (bootstrap): from its sequence to the schema grant
a = s.index("CREATE SEQUENCE tablecache.def_version_seq;")
b = s.index("GRANT USAGE ON SCHEMA tablecache TO PUBLIC;", a) + len("GRANT USAGE ON SCHEMA tablecache TO PUBLIC;")
body = s[:a] + s[b:]
body = re.sub(r"CREATE\s+FUNCTION", "CREATE OR REPLACE FUNCTION", body)
body = re.sub(r"^\\echo.*$", "", body, flags=re.M)
open(out, "w").write(open(head).read() + "\n-- ---- the functions, views and grants of 0.2.0 (generated) ----\n" + body)
print("wrote", out)
PY
