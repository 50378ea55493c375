"""Le cœur de calcul est pur : pas de Django, pas d'horloge (toutes les dates sont passées)."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import opsn.core

CORE_DIR = Path(opsn.core.__file__).resolve().parent
CORE_FILES = sorted(CORE_DIR.rglob("*.py"))
MODULES = sorted(f"opsn.core.{info.name}" for info in pkgutil.iter_modules([str(CORE_DIR)]))


def test_core_modules_are_found() -> None:
    assert "opsn.core.pricing" in MODULES
    assert "opsn.core.catalogue" in MODULES
    assert len(CORE_FILES) >= len(MODULES)


def test_importing_every_core_module_does_not_load_django() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print('DJANGO:' + ','.join(loaded))\n"
        "print('MODULES:' + ','.join(sorted(m for m in sys.modules if m.startswith('opsn.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert lines["DJANGO"] == ""
    imported = set(lines["MODULES"].split(","))
    assert set(MODULES) <= imported


IMPORT_DJANGO = re.compile(r"^\s*(import\s+django\b|from\s+django\b)", re.MULTILINE)
CLOCK = re.compile(
    r"\bdate\.today\(|\bdatetime\.now\(|\bdatetime\.utcnow\(|\btime\.time\(|\btime\.monotonic\("
)


def test_no_core_file_imports_django() -> None:
    offenders = [str(p) for p in CORE_FILES if IMPORT_DJANGO.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_core_file_reads_the_clock() -> None:
    offenders = [
        f"{p.name}: {match.group(0)}"
        for p in CORE_FILES
        for match in CLOCK.finditer(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_patterns_would_catch_an_offender() -> None:
    # garde-fou : les motifs reconnaissent bien ce qu'ils doivent interdire
    assert IMPORT_DJANGO.search("from django.db import models")
    assert IMPORT_DJANGO.search("    import django")
    assert not IMPORT_DJANGO.search("# pas de django ici")
    for call in ("dt.date.today()", "datetime.now()", "time.time()", "date.today()"):
        assert CLOCK.search(call), call
