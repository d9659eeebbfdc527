#!/usr/bin/env bash
# A private, relocated copy of the system PostgreSQL 15 (binaries, libraries, share dir), so
# that a build can be installed and a server run without touching the system installation
# (which other servers on the machine have loaded: replacing a loaded library under them
# crashes them).
#
#   scripts/pgroot.sh DIR     make DIR a copy of /usr/lib/postgresql/15 and
#                             /usr/share/postgresql/15 (again when the system's changed);
#                             prints DIR's pg_config
#
# PostgreSQL finds its library and share directories relative to its own binary, so the
# copy works in place: DIR/usr/lib/postgresql/15/bin/postgres.
set -euo pipefail
dir="${1:?usage: pgroot.sh DIR}"
sys_bin=/usr/lib/postgresql/15/bin
stamp="$( "$sys_bin/postgres" --version ) $(stat -c %Y "$sys_bin/postgres")"
if [ ! -f "$dir/.stamp" ] || [ "$(cat "$dir/.stamp")" != "$stamp" ]; then
    rm -rf "$dir"
    mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
    cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
    cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
    chmod 0755 "$dir" "$dir/usr" "$dir/usr/lib" "$dir/usr/share"
    echo "$stamp" > "$dir/.stamp"
fi
echo "$dir/usr/lib/postgresql/15/bin/pg_config"
