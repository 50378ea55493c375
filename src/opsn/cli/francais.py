"""Aide et erreurs de la ligne de commande en français, chaînes de Typer comprises.

Typer (0.29) embarque sa propre copie de Click (`typer._click`) dont les messages sont
écrits en dur, sans domaine gettext à traduire ; ses titres d'aide sont des constantes de
`typer.rich_utils`, lues à chaque affichage ; les erreurs de conversion viennent de
pydantic, avec un type (`int_parsing`, `less_than_equal`…) et ses paramètres. `installer()`
remplace donc, une fois au chargement de `opsn.cli.base` :

- les constantes de `typer.rich_utils` (titres des panneaux, « [défaut : …] », « Erreur »,
  « Essayez … pour l'aide ») ;
- le préfixe « Usage: » de la ligne d'utilisation et le méta-nom « COMMAND [ARGS]... » ;
- l'aide de `--help`, `--install-completion` et `--show-completion` ;
- les noms de types affichés (`<int>` → `<entier>`, `<text>` → `<texte>`…) ;
- le message des erreurs d'usage (option manquante, valeur invalide, option ou commande
  inconnue…), traduit au moment où `rich_format_error` l'affiche, par une table
  d'expressions régulières (`translate`) et les types d'erreur de pydantic.

Chaque remplacement vise un nom documenté ou stable de Typer ; `tests/cli/test_aide_fr.py`
vérifie l'aide et les erreurs, et échouera si une version de Typer change ces noms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

USAGE_PREFIX = "Utilisation : "
SUBCOMMAND_METAVAR = "COMMANDE [ARGUMENTS]..."
HELP_TEXT = "Affiche cette aide et quitte."

RICH_CONSTANTS = {
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commandes",
    "ERRORS_PANEL_TITLE": "Erreur",
    "ABORTED_TEXT": "Abandon.",
    "RICH_HELP": "Essayez [blue]« {command_path} {help_option} »[/] pour l'aide.",
    "DEFAULT_STRING": "[défaut : {}]",
    "ENVVAR_STRING": "[variable d'environnement : {}]",
    "REQUIRED_LONG_STRING": "[obligatoire]",
    "DEPRECATED_STRING": "(obsolète) ",
}

TYPE_NAMES = {
    "int": "entier",
    "integer": "entier",
    "float": "nombre",
    "decimal": "nombre",
    "Decimal": "nombre",
    "str": "texte",
    "text": "texte",
    "bool": "oui/non",
    "path": "chemin",
    "Path": "chemin",
    "file": "fichier",
    "directory": "dossier",
    "datetime": "date",
    "date": "date",
}

COMPLETION_HELP = {
    "install_completion": "Installe la complétion pour l'interpréteur de commandes courant.",
    "show_completion": "Affiche le script de complétion de l'interpréteur de commandes courant, "
    "à copier ou adapter.",
}

# Erreurs de conversion de pydantic, par type d'erreur (paramètres entre accolades).
PYDANTIC = {
    "int_parsing": "un nombre entier est attendu",
    "int_type": "un nombre entier est attendu",
    "int_from_float": "un nombre entier est attendu (sans décimales)",
    "float_parsing": "un nombre est attendu",
    "float_type": "un nombre est attendu",
    "finite_number": "un nombre fini est attendu",
    "decimal_parsing": "un nombre est attendu",
    "decimal_type": "un nombre est attendu",
    "bool_parsing": "oui ou non attendu (true/false, 1/0)",
    "bool_type": "oui ou non attendu (true/false, 1/0)",
    "date_parsing": "une date AAAA-MM-JJ est attendue",
    "date_from_datetime_parsing": "une date AAAA-MM-JJ est attendue",
    "date_type": "une date AAAA-MM-JJ est attendue",
    "datetime_parsing": "une date AAAA-MM-JJ (et une heure) est attendue",
    "datetime_from_date_parsing": "une date AAAA-MM-JJ (et une heure) est attendue",
    "greater_than": "la valeur doit être strictement supérieure à {gt}",
    "greater_than_equal": "la valeur doit être supérieure ou égale à {ge}",
    "less_than": "la valeur doit être strictement inférieure à {lt}",
    "less_than_equal": "la valeur doit être inférieure ou égale à {le}",
    "enum": "valeurs possibles : {expected}",
    "literal_error": "valeurs possibles : {expected}",
    "string_too_short": "{min_length} caractère(s) au moins",
    "string_too_long": "{max_length} caractère(s) au plus",
    "missing": "valeur manquante",
}


def _quoted(hints: str) -> str:
    """`'--annee'` ou `'--annee' / '-a'` → `« --annee »` ou `« --annee » / « -a »`."""
    return re.sub(r"'([^']*)'", r"« \1 »", hints)


def _or(text: str) -> str:
    return text.replace(" or ", " ou ")


# Messages de Click embarqué et de Typer, dans l'ordre d'essai (le premier qui convient).
MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"Missing option (.+?)\.(?: Choose from:\s*(.*))?", re.S),
        lambda m: (
            f"option obligatoire manquante : {_quoted(m[1])}."
            + (f" Valeurs possibles : {', '.join(m[2].split())}" if m[2] else "")
        ),
    ),
    (
        re.compile(r"Missing argument (.+?)\.(?: Choose from:\s*(.*))?", re.S),
        lambda m: (
            f"argument obligatoire manquant : {_quoted(m[1])}."
            + (f" Valeurs possibles : {', '.join(m[2].split())}" if m[2] else "")
        ),
    ),
    (
        re.compile(r"Missing parameter(?::)? ?(.*?)\.?"),
        lambda m: f"paramètre obligatoire manquant : {_quoted(m[1])}.",
    ),
    (re.compile(r"Missing command\."), lambda m: "commande manquante."),
    (
        re.compile(r"Invalid value for (.+?): (.*)", re.S),
        lambda m: f"valeur invalide pour {_quoted(m[1])} : {translate(m[2])}",
    ),
    (re.compile(r"Invalid value: (.*)", re.S), lambda m: f"valeur invalide : {translate(m[1])}"),
    (
        re.compile(r"No such option: (\S+)(?: \(Possible options: (.+)\))?"),
        lambda m: (
            f"option inconnue : {m[1]}" + (f" (options possibles : {m[2]})" if m[2] else "") + "."
        ),
    ),
    (
        re.compile(r"No such command '(.+?)'\.?(?: Did you mean (.+)\?)?"),
        lambda m: (
            f"commande inconnue : « {m[1]} »."
            + (f" Vouliez-vous dire {_or(_quoted(m[2]))} ?" if m[2] else "")
        ),
    ),
    (
        re.compile(r"Got unexpected extra argument(?:s|\(s\))? \((.+)\)"),
        lambda m: f"argument(s) en trop : {m[1]}.",
    ),
    (
        re.compile(r"Option '(.+?)' requires an argument\."),
        lambda m: f"l'option « {m[1]} » attend une valeur.",
    ),
    (
        re.compile(r"Option '(.+?)' requires (\d+) arguments\."),
        lambda m: f"l'option « {m[1]} » attend {m[2]} valeurs.",
    ),
    (
        re.compile(r"Option '(.+?)' does not take a value\."),
        lambda m: f"l'option « {m[1]} » ne prend pas de valeur.",
    ),
    (
        re.compile(r"Argument '(.+?)' takes (\d+) values\."),
        lambda m: f"l'argument « {m[1]} » attend {m[2]} valeurs.",
    ),
    (
        re.compile(r"(?:File|Directory|Path) '(.*)' does not exist\."),
        lambda m: f"« {m[1]} » n'existe pas.",
    ),
    (
        re.compile(r"(?:File|Directory|Path) '(.*)' is a file\."),
        lambda m: f"« {m[1]} » est un fichier.",
    ),
    (
        re.compile(r"(?:File|Directory|Path) '(.*)' is a directory\."),
        lambda m: f"« {m[1]} » est un dossier.",
    ),
    (
        re.compile(r"(?:File|Directory|Path) '(.*)' is not readable\."),
        lambda m: f"« {m[1]} » n'est pas lisible.",
    ),
    (
        re.compile(r"(?:File|Directory|Path) '(.*)' is not writable\."),
        lambda m: f"« {m[1]} » n'est pas accessible en écriture.",
    ),
    (
        re.compile(r"Could not open file '(.+?)': (.*)"),
        lambda m: f"impossible d'ouvrir le fichier « {m[1]} » : {m[2]}",
    ),
    (
        re.compile(r"(.+) is not one of (.+)\.", re.S),
        lambda m: f"{m[1]} ne fait pas partie des valeurs possibles : {m[2]}.",
    ),
    (
        re.compile(r"Value (.+) is not a valid (\w+)\."),
        lambda m: f"{m[1]} n'est pas un(e) {TYPE_NAMES.get(m[2], m[2])} valide.",
    ),
]


def translate(message: str) -> str:
    """Message d'erreur de Typer ou de Click en français (inchangé s'il est inconnu, par
    exemple s'il est déjà en français)."""
    for pattern, french in MESSAGES:
        match = pattern.fullmatch(message.strip())
        if match:
            return french(match)
    return message


def pydantic_message(exc: Any) -> str:
    """Première erreur d'une `ValidationError` de pydantic, en français."""
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    template = PYDANTIC.get(first.get("type", ""))
    if template is None:
        return str(first.get("msg", exc))
    context = {k: _or(str(v)) for k, v in (first.get("ctx") or {}).items()}
    try:
        return template.format(**context)
    except KeyError:
        return str(first.get("msg", exc))


_installed = False


def installer() -> None:
    """Met en place les traductions (une seule fois par processus)."""
    global _installed
    if _installed:
        return
    _installed = True

    import typer.completion
    from typer import _coercion, _param_types, rich_utils
    from typer import core as typer_core
    from typer._click import decorators, formatting

    for name, value in RICH_CONSTANTS.items():
        setattr(rich_utils, name, value)
    rich_utils.OptionHighlighter.highlights = [
        *rich_utils.OptionHighlighter.highlights,
        rf"(?P<usage>{re.escape(USAGE_PREFIX)})",
    ]

    write_usage = formatting.HelpFormatter.write_usage

    def write_usage_fr(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, USAGE_PREFIX if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = write_usage_fr

    group_init = typer_core.TyperGroup.__init__

    def group_init_fr(self: Any, *args: Any, **kwargs: Any) -> None:
        group_init(self, *args, **kwargs)
        if self.subcommand_metavar == "COMMAND [ARGS]...":
            self.subcommand_metavar = SUBCOMMAND_METAVAR

    typer_core.TyperGroup.__init__ = group_init_fr

    help_option = decorators.help_option

    def help_option_fr(param_decls: list[str]) -> Callable[[Any], Any]:
        decorate = help_option(param_decls)

        def apply(command: Any) -> Any:
            command = decorate(command)
            command.params[-1].help = HELP_TEXT
            return command

        return apply

    decorators.help_option = help_option_fr

    for function in (
        typer.completion._install_completion_placeholder_function,
        typer.completion._install_completion_no_auto_placeholder_function,
    ):
        for default in function.__defaults__ or ():
            english = getattr(default, "help", None) or ""
            if english.startswith("Install completion"):
                default.help = COMPLETION_HELP["install_completion"]
            elif english.startswith("Show completion"):
                default.help = COMPLETION_HELP["show_completion"]

    display_type = typer_core._TyperParameter.display_type

    def display_type_fr(self: Any, ctx: Any) -> str:
        label = display_type(self, ctx)
        inner = label[1:-1] if label.startswith("<") and label.endswith(">") else None
        if inner in TYPE_NAMES:
            return f"<{TYPE_NAMES[inner]}>"
        if inner and inner.endswith(" range") and inner[:-6] in TYPE_NAMES:
            return f"<{TYPE_NAMES[inner[:-6]]}>"
        return label

    typer_core._TyperParameter.display_type = display_type_fr

    _coercion.get_error_msg = pydantic_message
    _param_types.get_error_msg = pydantic_message

    rich_format_error = rich_utils.rich_format_error

    def rich_format_error_fr(self: Any) -> None:
        original = self.format_message
        self.format_message = lambda: translate(original())
        rich_format_error(self)

    rich_utils.rich_format_error = rich_format_error_fr
