"""Le cœur de tarification compilé (`opsn coeur compiler`) comparé au même cœur en Python.

Compile le cœur dans un dossier de cache temporaire (`OPSN_CACHE`, par le mécanisme du
produit : `opsn.core.native`), puis lance `tarification.py` deux fois sur les mêmes
adhérents (même graine) : cœur compilé, puis Python pur (`OPSN_COEUR_NATIF=0`) ; vérifie que
les deux donnent les mêmes lignes et le même total.

Usage (il faut un compilateur C et les en-têtes de Python ; mypy et setuptools sont dans le
groupe de dépendances `natif`, compris dans celui des tests) :
    python3 -m uv run python benchmarks/coeur_compile.py [--membres 100000]

Dernière ligne :
`compiled_members_per_s=… python_members_per_s=… lines=… total_ht=… identical=yes|no`
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str], allowed: tuple[int, ...] = (0,)) -> str:
    out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode not in allowed:
        raise SystemExit(f"{' '.join(args[1:3])} a échoué :\n{(out.stdout + out.stderr)[-2000:]}")
    return out.stdout


def measure(members: int, env: dict[str, str]) -> dict[str, str]:
    # code 1 : cible non atteinte, le banc l'a dit
    text = run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "tarification.py"),
            "--membres",
            str(members),
            "--sans-passe-memoire",
        ],
        env,
        allowed=(0, 1),
    )
    found = {}
    for key, pattern in (
        ("core", r"cœur : (.+)"),
        ("rate", r"adhérents/s\s+(\d+)"),
        ("lines", r"lignes\s+(\d+)"),
        ("total", r"total HT\s+([\d.]+)"),
    ):
        match = re.search(pattern, text)
        if match is None:
            raise SystemExit(f"sortie de tarification.py inattendue :\n{text[-2000:]}")
        found[key] = match.group(1)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--membres", type=int, default=100_000, help="nombre d'adhérents")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opsn-cache-") as cache:
        env = {**os.environ, "OPSN_CACHE": cache}
        env.pop("OPSN_COEUR_NATIF", None)
        print("Compilation du cœur (opsn coeur compiler)…", flush=True)
        run([sys.executable, "-m", "opsn", "coeur", "compiler"], env)
        compiled = measure(args.membres, env)
        python = measure(args.membres, {**env, "OPSN_COEUR_NATIF": "0"})
    if not compiled["core"].startswith("compilé") or python["core"] != "Python pur":
        raise SystemExit(f"cœurs inattendus : {compiled['core']} / {python['core']}")
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
