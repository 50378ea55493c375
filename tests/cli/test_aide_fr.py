"""Aide et erreurs de la ligne de commande en français, chaînes propres à Typer et à Click
comprises (opsn/cli/francais.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from opsn.cli import app
from opsn.cli.francais import translate

ENGLISH = (
    "Usage",
    "Show this message",
    "Missing option",
    "Missing argument",
    "Error",
    "Invalid value",
    "Commands",
    "Try '",
    "for help",
    "[default:",
    "[required]",
    "Install completion",
    "Show completion",
    "COMMAND [ARGS]",
    "Input should",
    "No such",
    "Did you mean",
    "Possible options",
    "<int>",
    "<text>",
    "<bool>",
    "Aborted",
)


def opsn(*args: str) -> subprocess.CompletedProcess:
    """Le script `opsn` installé (nom de programme « opsn »), sinon `python -m opsn`."""
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    script = Path(sys.executable).with_name("opsn")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "opsn"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def assert_french(text: str) -> None:
    for english in ENGLISH:
        assert english not in text, f"« {english} » dans :\n{text}"


def test_main_help_is_french() -> None:
    out = opsn("--help")
    assert out.returncode == 0
    text = out.stdout
    for french in (
        "opsn [OPTIONS] COMMANDE [ARGUMENTS]...",
        "Utilisation : ",
        "Commandes",
        "Affiche cette aide et quitte.",
        "Installe la complétion",
    ):
        assert french in text
    assert_french(text)


def test_missing_option_error_is_french() -> None:
    out = opsn("facturer")
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "Utilisation : " in text and "opsn facturer [OPTIONS]" in text
    assert "Essayez « " in text and "opsn facturer --help » pour l'aide." in text
    assert "Erreur" in text and "option obligatoire manquante : « --annee »." in text
    assert_french(text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("facturer", "--annee", "abc"), "valeur invalide pour « --annee » : un nombre entier"),
        (("facturer", "--annee", "2021", "--inconnue"), "option inconnue : --inconnue"),
        (("factur",), "commande inconnue : « factur »."),
        (("simuler",), "argument obligatoire manquant"),
        (("serveur", "--port", "70000"), "inférieure ou égale à 65535"),
        (("serveur", "--port"), "l'option « --port » attend une valeur."),
        (("catalogue", "lister", "en-trop"), "argument(s) en trop : en-trop."),
    ],
)
def test_usage_errors_are_french(args, expected) -> None:
    out = opsn(*args)
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert expected in " ".join(text.replace("│", " ").split()), text
    assert "Traceback" not in text
    assert_french(text)


def _commands(group, path=()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_help_is_french() -> None:
    root = typer.main.get_command(app)
    paths = list(_commands(root))
    assert ("facturer",) in paths and ("catalogue", "comparer") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], prog_name="opsn", terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "Utilisation : opsn" in result.output, path
        assert_french(result.output)


def test_unknown_messages_are_left_alone() -> None:
    assert translate("fichier introuvable") == "fichier introuvable"
    assert (
        translate("Missing option '--a' / '-a'.")
        == "option obligatoire manquante : « --a » / « -a »."
    )
