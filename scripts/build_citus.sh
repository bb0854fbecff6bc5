#!/usr/bin/env bash
# Build and install Citus from its public source for the system's PostgreSQL 15 (Debian 12), for the
# Citus tests and scripts/citus_cluster.sh. Idempotent: does nothing when citus.so is installed already
# (--force rebuilds). Needs root (apt-get, make install into /usr/lib/postgresql/15).
#
# A user who wants Citus on a server installs Citus's own packages instead (docs/SCALE.md):
#     curl https://install.citusdata.com/community/deb.sh | sudo bash
#     sudo apt-get install postgresql-15-citus-13.1      # or the newest postgresql-15-citus-13.x listed
#
# Source: github.com/citusdata/citus at $CITUS_REF (default v13.2.2, the 13.2 series supports PG 15-17).
#   CITUS_SRC=DIR   use a checkout/unpacked tree there instead of cloning
#   CITUS_GIT=DIR   a bare git directory to take the tag from (git archive), e.g. a local mirror
# Measured here: configure + make -j2 about 4 minutes on 2 CPUs.
set -euo pipefail

CITUS_REF=${CITUS_REF:-v13.2.2}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SRC=${CITUS_SRC:-/tmp/citus-src}
JOBS=${JOBS:-2}

PKGLIB=$("$PG_CONFIG" --pkglibdir)
if [[ "${1:-}" != "--force" && -f "$PKGLIB/citus.so" ]]; then
    echo "build_citus: $PKGLIB/citus.so is installed already (--force rebuilds)" >&2
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "build_citus: run as root (apt-get and make install into $PKGLIB)" >&2
    exit 1
fi

# Build dependencies, all from Debian's archive (configure asks for curl, lz4, zstd; PGXS for the rest).
DEPS=(postgresql-server-dev-15 build-essential autoconf flex bison git ca-certificates
      libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev
      libpam0g-dev libreadline-dev zlib1g-dev libicu-dev)
missing=()
for pkg in "${DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "build_citus: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >&2
fi

if [[ ! -f "$SRC/configure" ]]; then
    rm -rf "$SRC"
    mkdir -p "$SRC"
    if [[ -n "${CITUS_GIT:-}" ]]; then
        git --git-dir="$CITUS_GIT" archive "$CITUS_REF" | tar -x -C "$SRC"
    else
        git clone --quiet --depth 1 --branch "$CITUS_REF" https://github.com/citusdata/citus.git "$SRC"
    fi
fi
cd "$SRC"

# PostgreSQL 15.20 (Debian 15.20-0+deb12u1) exports have_createdb_privilege() from
# commands/dbcommands.h; Citus 13.2 still defines its own static copy for PG 15, which no longer
# compiles ("static declaration of 'have_createdb_privilege' follows non-static declaration").
# Drop Citus's copy when the server header declares the function.
SERVER_INC=$("$PG_CONFIG" --includedir-server)
if grep -q "have_createdb_privilege" "$SERVER_INC/commands/dbcommands.h" \
   && ! grep -q "dwh build_citus.sh" src/include/pg_version_compat.h; then
    perl -0pi -e 's/\nstatic inline bool\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n/\n#if 0 \/* dwh build_citus.sh: the server exports have_createdb_privilege() itself *\/\n$&#endif\n/s' \
        src/include/pg_version_compat.h
    echo "build_citus: patched pg_version_compat.h (server exports have_createdb_privilege)" >&2
fi

./configure PG_CONFIG="$PG_CONFIG" > configure.log 2>&1 || { tail -30 configure.log >&2; exit 1; }
make -j"$JOBS" > make.log 2>&1 || { grep -n -A3 "error:" make.log | head -40 >&2; exit 1; }
make install > install.log 2>&1 || { tail -30 install.log >&2; exit 1; }
echo "build_citus: installed Citus $CITUS_REF into $PKGLIB" >&2
