"""schemas/ must be exactly what scripts/dump_schemas.py makes of a database built by the migrations."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def read_dir(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.glob("*.sql"))}


def test_schemas_folder_matches_what_the_migrations_build(dsn, tmp_path):
    out = tmp_path / "schemas"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "dump_schemas.py"), "--dsn", dsn, "--out", str(out)],
                   check=True, capture_output=True, text=True)
    built, committed = read_dir(out), read_dir(ROOT / "schemas")
    diff = []
    for name in sorted(set(built) | set(committed)):
        diff += difflib.unified_diff(committed.get(name, "").splitlines(keepends=True),
                                     built.get(name, "").splitlines(keepends=True),
                                     fromfile=f"schemas/{name} (committed)", tofile=f"schemas/{name} (built)")
    if diff:
        pytest.fail(
        "schemas/ differs from what the migrations build:\n" + "".join(diff)
        + "\nhint: build a database with `dwh migrate`, then run "
          "python scripts/dump_schemas.py --dsn \"$(dwh db url)\" and commit schemas/",
            pytrace=False)
