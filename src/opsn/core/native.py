"""Cœur de tarification compilé (mypyc), facultatif : mêmes sources, même résultat, plus vite.

`opsn coeur compiler` compile `pricing`, `money` et `members` par mypyc (le compilateur
de mypy : il traduit le code Python typé en modules C) dans un dossier de cache propre à
ces sources exactes : la clé est l'empreinte des trois fichiers et de l'interpréteur. À
l'import de `opsn.core`, `activate` place ce dossier en tête du chemin du paquet s'il
existe pour les sources présentes ; sinon rien ne change et le cœur reste en Python pur.
Une source modifiée change la clé : un module compilé plus ancien que sa source n'est
jamais chargé. `OPSN_COEUR_NATIF=0` l'écarte (processus par processus).

Mesure : `benchmarks/coeur_compile.py` (≈ 54 000 adhérents/s contre ≈ 39 000 en Python pur
sur la machine de référence). Compiler demande mypy, setuptools, un compilateur C et les
en-têtes de Python ; sans eux, le produit fonctionne de même, en Python pur.

Par défaut, là où la machine le peut (`ensure`) : `opsn demo` le compile pendant qu'il
prépare la base (≈ 10 s, une fois par version des sources), la suite de tests avant de
lancer ses processus (elle passe donc sur le cœur que le produit utilise, et repasse les
tests du cœur en Python pur). Ailleurs, Python pur, et la raison est dite.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import warnings
from pathlib import Path

from opsn.core.errors import OpsnError

COMPILED = ("pricing", "money", "members")
CORE_DIR = Path(__file__).resolve().parent
_EXT = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
_DONE = "COMPLET"


def source_key(core_dir: Path = CORE_DIR) -> str:
    """Empreinte des sources compilées et de l'interpréteur qui chargera les modules."""
    digest = hashlib.sha256()
    digest.update(f"{sys.implementation.cache_tag}{_EXT}".encode())
    for name in COMPILED:
        digest.update(name.encode())
        digest.update((core_dir / f"{name}.py").read_bytes())
    return digest.hexdigest()[:24]


def cache_root() -> Path:
    """`OPSN_CACHE`, sinon `$XDG_CACHE_HOME/opsn`, sinon `~/.cache/opsn`."""
    explicit = os.environ.get("OPSN_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "opsn"


def build_dir(core_dir: Path = CORE_DIR) -> Path:
    return cache_root() / "coeur-natif" / source_key(core_dir)


def activate(package_path: list[str], core_dir: Path = CORE_DIR) -> Path | None:
    """Met le cœur compilé de ces sources en tête de `package_path` (le `__path__` de
    `opsn.core`) s'il existe ; renvoie son dossier, ou None (Python pur)."""
    if os.environ.get("OPSN_COEUR_NATIF", "") == "0":
        return None
    try:
        folder = build_dir(core_dir)
    except OSError:  # sources illisibles : rien à activer
        return None
    if not (folder / _DONE).is_file():
        return None
    package_path.insert(0, str(folder / "core"))
    shared_added = str(folder) not in sys.path
    if shared_added:
        sys.path.append(str(folder))  # bibliothèque commune des modules compilés
    try:  # chargés tout de suite : un module compilé illisible ne casse rien
        for name in COMPILED:
            importlib.import_module(f"opsn.core.{name}")
    except ImportError as exc:
        package_path.remove(str(folder / "core"))
        if shared_added:
            sys.path.remove(str(folder))
        for name in COMPILED:
            sys.modules.pop(f"opsn.core.{name}", None)
        warnings.warn(
            f"Cœur compilé illisible ({folder}) : {exc}. Calcul en Python pur ; relancez "
            "« opsn coeur compiler » après avoir supprimé ce dossier.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return folder


def active() -> bool:
    """Le module `opsn.core.pricing` chargé est-il le module compilé ?"""
    from opsn.core import pricing

    return not str(pricing.__file__).endswith(".py")


def compile_core() -> Path:
    """Compile les modules de `COMPILED` dans leur dossier de cache ; tout ou rien (le
    dossier n'apparaît, complet, qu'à la fin) et sans effet si c'est déjà fait. Lève
    `OpsnError` avec la raison si la compilation est impossible."""
    final = build_dir()
    if (final / _DONE).is_file():
        return final
    try:  # le dossier de cache doit pouvoir s'écrire : on le sait avant de compiler
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise OpsnError(
            f"Dossier de cache inutilisable ({final.parent}) : impossible de le créer ou d'y "
            "écrire. Choisissez-en un autre avec OPSN_CACHE."
        ) from None
    try:
        import mypyc  # noqa: F401
    except ImportError:
        raise OpsnError(
            "mypyc (paquet mypy) n'est pas installé : lancez « python3 -m uv run --group natif "
            "opsn coeur compiler »."
        ) from None
    with tempfile.TemporaryDirectory(prefix="opsn-natif-") as tmp:
        work = Path(tmp)
        (work / "opsn" / "core").mkdir(parents=True)
        (work / "opsn" / "__init__.py").write_text("", encoding="utf-8")
        for source in CORE_DIR.glob("*.py"):
            shutil.copy2(source, work / "opsn" / "core" / source.name)
        files = [f"opsn/core/{name}.py" for name in COMPILED]
        result = subprocess.run(
            [sys.executable, "-m", "mypyc", "--ignore-missing-imports", *files],
            cwd=work,
            capture_output=True,
            text=True,
            env={**os.environ, "OPSN_COEUR_NATIF": "0"},
            check=False,
        )
        shims = [work / "opsn" / "core" / f"{name}{_EXT}" for name in COMPILED]
        shared = sorted(work.glob(f"*__mypyc{_EXT}"))
        if result.returncode != 0 or not all(p.is_file() for p in shims):
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-12:])
            raise OpsnError(
                "La compilation du cœur a échoué (il faut un compilateur C, par exemple gcc, et "
                f"les en-têtes de Python) ; le cœur reste en Python pur.\n{tail}"
            )
        staging = final.with_name(f"{final.name}.{os.getpid()}.partiel")
        try:
            shutil.rmtree(staging, ignore_errors=True)
            (staging / "core").mkdir(parents=True)
            for path in shims:
                shutil.copy2(path, staging / "core" / path.name)
            for path in shared:
                shutil.copy2(path, staging / path.name)
            (staging / _DONE).write_text(
                f"modules : {', '.join(COMPILED)}\npython : {sys.version.split()[0]}\n",
                encoding="utf-8",
            )
            os.replace(staging, final)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if (final / _DONE).is_file():  # compilé au même moment par un autre processus
                return final
            raise OpsnError(
                f"Impossible d'écrire le cœur compilé dans {final.parent} (place, droits) ; "
                "le cœur reste en Python pur."
            ) from None
    return final


def unavailable_reason() -> str | None:
    """None si cette machine peut compiler le cœur ; sinon pourquoi elle ne le peut pas."""
    if os.environ.get("OPSN_COEUR_NATIF", "") == "0":
        return "OPSN_COEUR_NATIF=0"
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypyc (paquet mypy, groupe « natif ») n'est pas installé"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"pas de compilateur C ({compiler})"
    include = sysconfig.get_paths().get("include") or ""
    if not (Path(include) / "Python.h").is_file():
        return f"en-têtes de Python absents ({include or '?'})"
    return None


def ensure() -> tuple[Path | None, str]:
    """Le cœur compilé pour les sources présentes, compilé ici si besoin et si la machine
    le peut (compilateur C, en-têtes de Python, mypyc) ; sinon Python pur, avec la raison.
    Ne lève jamais : sans compilateur, le produit fonctionne de même, en Python pur.
    Renvoie le dossier compilé (ou None) et une phrase à afficher."""
    try:
        folder = build_dir()
    except OSError as exc:
        return None, f"Cœur de tarification en Python pur (sources illisibles : {exc})."
    if os.environ.get("OPSN_COEUR_NATIF", "") != "0" and (folder / _DONE).is_file():
        return folder, f"Cœur de tarification compilé ({folder})."
    reason = unavailable_reason()
    if reason is not None:
        return None, f"Cœur de tarification en Python pur : {reason}."
    try:
        folder = compile_core()
    except OpsnError as exc:
        return None, f"Cœur de tarification en Python pur : {str(exc).splitlines()[0]}"
    except (OSError, subprocess.SubprocessError) as exc:  # lancement du compilateur
        return None, f"Cœur de tarification en Python pur : compilation impossible ({exc})."
    return folder, f"Cœur de tarification compilé ({folder})."


class BackgroundBuild:
    """`ensure` dans un fil à part, lancé tout de suite : la compilation attend surtout le
    compilateur C (un autre processus) pendant que l'appelant prépare autre chose
    (`opsn demo` sa base, la suite de tests les paquets système). Le fil n'est pas un
    démon : un arrêt pendant la compilation l'attend, le cache reste cohérent."""

    def __init__(self) -> None:
        self._message = ""
        self._thread = threading.Thread(target=self._run, name="opsn-coeur")
        self._thread.start()

    def _run(self) -> None:
        self._message = ensure()[1]

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> str:
        """Attend la fin ; renvoie la phrase de `ensure`."""
        self._thread.join()
        return self._message
