"""Essai : le cœur de tarification compilé par mypyc, comparé au même cœur en Python.

Mesure de quoi décider (issue 12 : 50 000 adhérents par seconde sur un cœur) : le produit
reste en Python pur ; ce banc compile, dans un dossier temporaire, une copie de
`opsn.core.pricing`, `opsn.core.money` et `opsn.core.members` avec mypyc (le compilateur
de mypy, qui produit des modules C à partir du code typé), puis lance `tarification.py`
sur cette copie et sur le code du dépôt, avec les mêmes adhérents (même graine), et
vérifie que les deux donnent les mêmes lignes et le même total.

Usage (mypy et setuptools ne sont pas des dépendances du projet ; il faut aussi gcc et les
en-têtes de Python) :
    python3 -m uv run --with mypy --with setuptools python benchmarks/coeur_compile.py \
        [--membres 100000]

Dernière ligne :
`compiled_members_per_s=… python_members_per_s=… lines=… total_ht=… identical=yes|no`
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("opsn/core/pricing.py", "opsn/core/money.py", "opsn/core/members.py")


def compile_copy(folder: Path) -> None:
    shutil.copytree(ROOT / "src" / "opsn", folder / "opsn")
    result = subprocess.run(
        [sys.executable, "-m", "mypyc", "--ignore-missing-imports", *MODULES],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not list((folder / "opsn" / "core").glob("pricing.*.so")):
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise SystemExit(
            "La compilation par mypyc a échoué (il faut mypy, setuptools, gcc et les en-têtes "
            "de Python) :\n" + tail
        )


def measure(members: int, pythonpath: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "tarification.py"),
            "--membres",
            str(members),
            "--sans-passe-memoire",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode not in (0, 1):  # 1 : cible non atteinte, le banc l'a dit
        raise SystemExit(f"tarification.py a échoué :\n{out.stderr[-2000:]}")
    found = {}
    for key, pattern in (
        ("rate", r"adhérents/s\s+(\d+)"),
        ("lines", r"lignes\s+(\d+)"),
        ("total", r"total HT\s+([\d.]+)"),
    ):
        match = re.search(pattern, out.stdout)
        if match is None:
            raise SystemExit(f"sortie de tarification.py inattendue :\n{out.stdout[-2000:]}")
        found[key] = match.group(1)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--membres", type=int, default=100_000, help="nombre d'adhérents")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opsn-mypyc-") as tmp:
        folder = Path(tmp)
        print(f"Compilation par mypyc de {', '.join(MODULES)}…", flush=True)
        compile_copy(folder)
        compiled = measure(args.membres, str(folder))
        python = measure(args.membres, None)
    identical = compiled["lines"] == python["lines"] and compiled["total"] == python["total"]
    print(f"  compilé (mypyc)  : {compiled['rate']} adhérents/s")
    print(f"  Python pur       : {python['rate']} adhérents/s")
    print(
        f"  mêmes lignes et même total : {'oui' if identical else 'NON'} "
        f"({compiled['lines']} lignes, {compiled['total']} € HT)"
    )
    print(
        f"compiled_members_per_s={compiled['rate']} python_members_per_s={python['rate']} "
        f"lines={compiled['lines']} total_ht={compiled['total']} "
        f"identical={'yes' if identical else 'no'}"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
