"""Cœur compilé (opsn.core.native) : chargé seulement pour ses sources exactes, et les tests
du cœur passent dessus à l'identique."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from opsn.core import native

ROOT = Path(__file__).resolve().parents[2]


def _copy_sources(folder: Path) -> Path:
    folder.mkdir()
    for name in native.COMPILED:
        shutil.copy2(native.CORE_DIR / f"{name}.py", folder / f"{name}.py")
    return folder


def _fake_build(core_dir: Path) -> Path:
    built = native.build_dir(core_dir)
    (built / "core").mkdir(parents=True)
    (built / "COMPLET").write_text("essai", encoding="utf-8")
    return built


def test_a_build_is_loaded_only_for_its_exact_sources(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPSN_COEUR_NATIF", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sources = _copy_sources(tmp_path / "core")
    assert native.activate([], sources) is None  # rien de compilé : Python pur
    built = _fake_build(sources)
    path: list[str] = ["python"]
    assert native.activate(path, sources) == built
    assert path == [str(built / "core"), "python"]
    # une source modifiée change la clé : l'ancien module compilé n'est plus chargé
    money = sources / "money.py"
    money.write_text(money.read_text(encoding="utf-8") + "\n# modifié\n", encoding="utf-8")
    assert native.source_key(sources) != built.name
    stale: list[str] = ["python"]
    assert native.activate(stale, sources) is None
    assert stale == ["python"]


def test_an_unfinished_build_is_never_loaded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSN_CACHE", str(tmp_path / "cache"))
    sources = _copy_sources(tmp_path / "core")
    built = _fake_build(sources)
    (built / "COMPLET").unlink()  # compilation interrompue avant la fin
    assert native.activate([], sources) is None


def test_the_switch_keeps_pure_python(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSN_CACHE", str(tmp_path / "cache"))
    sources = _copy_sources(tmp_path / "core")
    _fake_build(sources)
    monkeypatch.setenv("OPSN_COEUR_NATIF", "0")
    assert native.activate([], sources) is None


def test_an_unreadable_build_falls_back_to_pure_python_with_a_warning(tmp_path) -> None:
    env = {**os.environ, "OPSN_CACHE": str(tmp_path / "cache")}
    env.pop("OPSN_COEUR_NATIF", None)
    code = "from opsn.core import native; print(native.build_dir())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    built = Path(out.stdout.strip())
    (built / "core").mkdir(parents=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    (built / "core" / f"pricing{suffix}").write_bytes(b"pas une bibliotheque")
    (built / "COMPLET").write_text("essai", encoding="utf-8")
    check = (
        "from opsn.core import native, pricing\n"
        "print('ACTIF' if native.active() else 'PUR', pricing.__file__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PUR ") and result.stdout.strip().endswith("pricing.py")
    assert "Cœur compilé illisible" in result.stderr and "Python pur" in result.stderr


def test_without_a_compiler_the_product_stays_in_pure_python(tmp_path, monkeypatch) -> None:
    """`ensure` (opsn demo, suite de tests) ne lève jamais : sans compilateur C, Python pur,
    la raison dite, et rien d'écrit dans le cache."""
    monkeypatch.setenv("OPSN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPSN_COEUR_NATIF", raising=False)
    pytest.importorskip("mypyc")
    config = dict(sysconfig.get_config_vars())
    config["CC"] = "compilateur-c-absent -pthread"
    monkeypatch.setattr(sysconfig, "get_config_var", config.get)
    folder, message = native.ensure()
    assert folder is None
    assert message == (
        "Cœur de tarification en Python pur : pas de compilateur C (compilateur-c-absent)."
    )
    assert not (tmp_path / "cache").exists()
    # de même dans un fil à part (opsn demo, suite de tests)
    assert native.BackgroundBuild().wait() == message
    monkeypatch.setenv("OPSN_COEUR_NATIF", "0")
    assert native.ensure() == (None, "Cœur de tarification en Python pur : OPSN_COEUR_NATIF=0.")


@pytest.mark.skipif(
    native.unavailable_reason() is not None, reason="cœur non compilable sur cette machine"
)
def test_the_suite_runs_on_the_compiled_core_and_the_core_tests_pass_in_pure_python() -> None:
    """Là où la machine le peut, la suite compile le cœur avant ses processus (conftest) :
    ce test-ci s'exécute donc sur le module compilé, comme toute la suite ; les tests du
    cœur repassent ici, inchangés, en Python pur (OPSN_COEUR_NATIF=0)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # processus de test lancé après la compilation (avec -n 0, le processus unique
        # avait importé le cœur avant elle : le module compilé ne sert qu'aux suivants)
        assert native.active(), "la suite devrait tourner sur le cœur compilé"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def run(*args: str, **extra: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", *args],
            env={**env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        return " ".join(out.stdout.split())

    assert "Cœur compilé, chargé depuis" in run("opsn", "coeur", "etat")
    assert "Cœur compilé" in run("opsn", "coeur", "compiler")  # déjà fait : rien ne change
    assert "Python pur" in run("opsn", "coeur", "etat", OPSN_COEUR_NATIF="0")
    tests = [
        "tests/acceptance",
        "tests/regles",
        "tests/unit/test_pricing.py",
        "tests/unit/test_properties.py",
        "tests/unit/test_strata.py",
    ]
    report = run("pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *tests, OPSN_COEUR_NATIF="0")
    assert " passed" in report and "failed" not in report


def test_a_compilation_that_cannot_start_leaves_pure_python(tmp_path, monkeypatch) -> None:
    """Compilateur présent mais qui ne peut pas se lancer (disque plein, droits) : Python
    pur, la raison dite, sans exception."""
    monkeypatch.setenv("OPSN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPSN_COEUR_NATIF", raising=False)
    monkeypatch.setattr(native, "unavailable_reason", lambda: None)

    def fails() -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native, "compile_core", fails)
    assert native.ensure() == (
        None,
        "Cœur de tarification en Python pur : compilation impossible "
        "([Errno 28] No space left on device).",
    )
