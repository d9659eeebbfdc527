#!/usr/bin/env bash
# Idempotent machine set-up for tablecache (Debian 12, run as root).
# Installs PostgreSQL 15 + dev headers + clang, generates the locales used by
# the collation tests, installs cargo-pgrx 0.18.0 and points it at the system
# PostgreSQL. Each step is skipped when already done.
set -euo pipefail

PGRX_VERSION=0.18.0
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export DEBIAN_FRONTEND=noninteractive

say() { printf '\n==> setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh must run as root (it installs Debian packages)" >&2
    exit 1
fi

# ---- Debian packages -------------------------------------------------------
PKGS=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang
      sudo locales python3-psycopg2 build-essential pkg-config libssl-dev ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    # Never let the package create/start the Debian 'main' cluster: we don't use it.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/tablecache.conf
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "Debian packages already installed"
fi

# Stop any Debian-managed cluster the package may have auto-started (we use
# private servers on private ports and socket dirs; see scripts/server.sh).
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name port status _rest; do
        if [ "$status" = online ]; then
            say "stopping Debian cluster $ver/$name (not used)"
            pg_ctlcluster "$ver" "$name" stop || true
        fi
    done
fi

# ---- locales ---------------------------------------------------------------
# PostgreSQL imports libc collations at initdb time, so these must exist before
# any test server is created.
need_gen=0
for loc in en_US.UTF-8 de_DE.UTF-8; do
    norm=$(echo "$loc" | sed 's/UTF-8/utf8/')
    if ! locale -a 2>/dev/null | grep -qx "$norm"; then need_gen=1; fi
    if ! grep -qE "^${loc//./\\.} UTF-8" /etc/locale.gen 2>/dev/null; then
        sed -i "s/^# *${loc//./\\.} UTF-8/${loc} UTF-8/" /etc/locale.gen 2>/dev/null || true
        grep -qE "^${loc//./\\.} UTF-8" /etc/locale.gen 2>/dev/null || echo "${loc} UTF-8" >> /etc/locale.gen
    fi
done
if [ "$need_gen" = 1 ]; then
    say "generating locales en_US.UTF-8 de_DE.UTF-8"
    locale-gen
else
    say "locales already generated"
fi

# ---- Rust / cargo-pgrx -----------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found (the machine's rustup toolchain is expected in ~/.cargo/bin)" >&2
    exit 1
fi
if cargo pgrx --version 2>/dev/null | grep -q "cargo-pgrx ${PGRX_VERSION}\b"; then
    say "cargo-pgrx ${PGRX_VERSION} already installed"
else
    say "installing cargo-pgrx ${PGRX_VERSION} (takes ~15 minutes on 2 cores)"
    cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked
fi

if grep -qs "^pg15 *= *\"${PG_CONFIG}\"" "$HOME/.pgrx/config.toml"; then
    say "cargo pgrx already initialised for pg15"
else
    say "cargo pgrx init --pg15 ${PG_CONFIG}"
    cargo pgrx init --pg15 "${PG_CONFIG}"
fi

say "done"
