"""Lecture YAML qui garde les numéros de ligne, pour des erreurs précises.

Les nombres décimaux sont lus en `Decimal` (jamais en float) ; les clés en
double sont refusées (PyYAML les écraserait sans rien dire).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from opsn.core.errors import SourceError


class YMap(dict):
    """Dictionnaire lu d'un YAML, avec la ligne de chaque clé."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class YList(list):
    """Liste lue d'un YAML, avec la ligne de chaque élément."""

    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


# Au-delà, un document n'est plus un catalogue ni un scénario : on refuse avant que la
# lecture récursive n'épuise la pile.
MAX_DEPTH = 50


# L'analyseur de libyaml (C, livré dans les roues de PyYAML) lit un catalogue douze fois plus
# vite que celui de PyYAML en Python (3 ms au lieu de 40 pour 40 Ko), avec les mêmes
# positions (ligne, colonne, indice) ; les constructeurs ci-dessous restent en Python.
_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_NODE = (*_OPEN, yaml.ScalarEvent, yaml.AliasEvent)


class _Loader(_BASE):  # type: ignore[valid-type,misc]
    pass


def _check_depth(text: str, error_cls: type[SourceError], file: str) -> None:
    """Refuse un document de plus de `MAX_DEPTH` niveaux avant de le composer : la
    composition est récursive (en C, elle épuiserait la pile du processus). Le parcours des
    événements, lui, ne l'est pas."""
    depth = 0
    for event in yaml.parse(text, Loader=_BASE):
        if isinstance(event, _NODE) and depth >= MAX_DEPTH:
            raise error_cls(
                f"YAML trop imbriqué (plus de {MAX_DEPTH} niveaux)",
                file=file,
                line=event.start_mark.line + 1,
            )
        if isinstance(event, _OPEN):
            depth += 1
        elif isinstance(event, _CLOSE):
            depth -= 1


def compose(text: str) -> yaml.Node:
    """Arbre des nœuds d'un document déjà lu par `load_yaml` (profondeur vérifiée), avec la
    position de chaque nœud dans `text` (indices de caractères, pour remplacer une valeur
    sans toucher au reste). libyaml ne compte pas une marque d'ordre des octets en tête :
    un tel texte passe par l'analyseur Python, dont les indices la comptent."""
    loader = yaml.SafeLoader if text.startswith("\ufeff") else _BASE
    return yaml.compose(text, Loader=loader)


def _make_constructors(error_cls: type[SourceError], file: str) -> tuple[Any, Any, Any, Any]:
    def construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YMap:
        loader.flatten_mapping(node)
        result = YMap()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise error_cls(
                    "clé en double dans le même bloc",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=str(key),
                )
            result[key] = loader.construct_object(value_node, deep=True)
            result.lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YList:
        result = YList()
        result.line = node.start_mark.line + 1
        for child in node.value:
            result.append(loader.construct_object(child, deep=True))
            result.lines.append(child.start_mark.line + 1)
        return result

    def construct_float(loader: _Loader, node: yaml.ScalarNode) -> Decimal:
        text = loader.construct_scalar(node).replace("_", "")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise error_cls(
                f"« {text} » n'est pas un nombre", file=file, line=node.start_mark.line + 1
            ) from None

    def construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
        try:
            return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
        except (ValueError, OverflowError):  # 30 février, 31 avril, heure 25…
            raise error_cls(
                f"« {node.value} » n'est pas une date (AAAA-MM-JJ)",
                file=file,
                line=node.start_mark.line + 1,
            ) from None

    return construct_mapping, construct_sequence, construct_float, construct_timestamp


def load_yaml(path: Path, error_cls: type[SourceError], text: str | None = None) -> Any:
    """Lit un fichier YAML ; toute erreur de syntaxe devient une `error_cls` localisée."""
    file = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise error_cls("fichier introuvable", file=file) from None
        except IsADirectoryError:
            raise error_cls("c'est un dossier, pas un fichier YAML", file=file) from None
        except UnicodeDecodeError:
            raise error_cls("le fichier n'est pas encodé en UTF-8", file=file) from None
        except OSError as exc:
            raise error_cls(f"lecture impossible ({exc.strerror or exc})", file=file) from None

    class Loader(_Loader):
        pass

    mapping, sequence, floating, timestamp = _make_constructors(error_cls, file)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    Loader.add_constructor("tag:yaml.org,2002:float", floating)
    Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    try:
        _check_depth(text, error_cls, file)
        return yaml.load(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "syntaxe invalide"
        raise error_cls(f"YAML invalide ({problem})", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise error_cls(f"YAML invalide ({exc})", file=file) from None
    except RecursionError:
        raise error_cls(f"YAML trop imbriqué (plus de {MAX_DEPTH} niveaux)", file=file) from None
    except UnicodeEncodeError as exc:  # libyaml lit de l'UTF-8 : un demi-caractère isolé
        raise error_cls(
            f"YAML invalide (caractère U+{ord(exc.object[exc.start]):04X} impossible à "
            "encoder en UTF-8)",
            file=file,
            line=text.count("\n", 0, exc.start) + 1,
        ) from None
