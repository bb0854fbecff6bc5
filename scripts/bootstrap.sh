#!/usr/bin/env bash
# Install what dwh needs, idempotently (fast when everything is present):
#   Debian packages: PostgreSQL 15 server + pg_cron + plpgsql_check + client, python3-venv, chromium (the
#   docs site's test renders it headless)
#   .venv/ in the checkout with `pip install -e '.[test]'` (skipped while pyproject.toml is unchanged)
# Works as root and as a normal user (apt through `sudo -n` when available).
# --system-only: only the Debian packages.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

PACKAGES=(postgresql-15 postgresql-15-cron postgresql-15-plpgsql-check postgresql-client-15 python3-venv chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
        echo "bootstrap: run as root, then re-run this script:" >&2
        echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi

if [[ "${1:-}" == "--system-only" ]]; then
    exit 0  # scripts/test.sh as root: the venv is made by the unprivileged user in its own copy
fi

# Python: whichever python3 is on PATH (here a pyenv 3.11); needs 3.10+.
PYTHON=${PYTHON:-python3}
VENV="$ROOT/.venv"
STAMP="$VENV/.dwh-installed"
HASH=$(sha256sum pyproject.toml | cut -d' ' -f1)

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "bootstrap: creating $VENV with $(command -v "$PYTHON")" >&2
    "$PYTHON" -m venv "$VENV"
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$HASH" ]] || ! "$VENV/bin/python" -c "import dwh_cli.cli" 2>/dev/null; then
    echo "bootstrap: pip install -e '.[test]'" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]" >&2
    echo "$HASH" > "$STAMP"
fi
# the CLI's own modules compiled ahead (an editable install leaves them to the first import, which does not
# keep them under PYTHONDONTWRITEBYTECODE or in a read-only checkout: ~25 ms of every dwh command compiled
# again); up-to-date files are skipped
"$VENV/bin/python" -m compileall -q dwh_cli >/dev/null 2>&1 || true
echo "bootstrap: ok ($VENV/bin/dwh)" >&2
