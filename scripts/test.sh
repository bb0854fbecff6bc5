#!/usr/bin/env bash
# Run the test suite: scripts/test.sh [pytest args]
# Bootstraps first. PostgreSQL refuses to run as root, so as root the checkout is copied to a temp dir
# owned by the `postgres` OS user and the suite runs there as that user.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
export PYTHONDONTWRITEBYTECODE=1

if [[ $(id -u) -eq 0 ]]; then
    scripts/bootstrap.sh --system-only   # Debian packages (this also creates the postgres user)
    RUN_AS=${DWH_TEST_USER:-postgres}
    if ! id "$RUN_AS" >/dev/null 2>&1; then
        echo "test.sh: running as root needs an unprivileged OS user '$RUN_AS' to run PostgreSQL" >&2
        exit 1
    fi
    WORK=$(mktemp -d /tmp/dwh-test.XXXXXX)
    chmod 755 "$WORK"
    tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude='__pycache__' --exclude=.pytest_cache \
        -cf - . | tar -C "$WORK" -xf -
    chown -R "$RUN_AS": "$WORK"
    # The user cannot enter /root (pyenv's python lives there): a PATH without /root/*.
    CLEAN_PATH=$(tr ':' '\n' <<<"$PATH" | grep -v '^/root' | paste -sd: -)
    PY=python3
    if ! runuser -u "$RUN_AS" -- env PATH="$CLEAN_PATH" python3 -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
        echo "test.sh: $RUN_AS has no python3 >= 3.10 on PATH ($CLEAN_PATH)" >&2
        exit 1
    fi
    echo "test.sh: running as $RUN_AS in $WORK" >&2
    rc=0
    runuser -u "$RUN_AS" -- env -u XDG_DATA_HOME HOME="$WORK" PATH="$CLEAN_PATH" PYTHON="$PY" \
        PYTHONDONTWRITEBYTECODE=1 "$WORK/scripts/test.sh" "$@" || rc=$?
    if [[ $rc -eq 0 && -z "${DWH_KEEP_TEST_DIR:-}" ]]; then
        rm -rf "$WORK"
    else
        echo "test.sh: test copy kept in $WORK" >&2
    fi
    exit $rc
fi

scripts/bootstrap.sh
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "test.sh: pytest collected no tests: failing" >&2
    exit 1
fi
exit $rc
