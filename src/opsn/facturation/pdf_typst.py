"""Rendu des PDF par Typst (paquet PyPI `typst`), sans Django ni base de données : les
processus de rendu parallèle (`pdf_worker`) ne chargent que ce module, et reçoivent des
factures déjà mises en forme (`documents.invoice_render_args`).

Pourquoi Typst, et non plus WeasyPrint :
- aucune bibliothèque du système : WeasyPrint demandait Pango, HarfBuzz-subset, fontconfig
  et des polices installées (un poste neuf échouait) ; les polices sont celles embarquées
  dans le paquet `typst` (Libertinus Serif) et les polices du système sont ignorées : le
  même PDF sur toute machine ;
- PDF/A-3b et PDF/UA-1 (PDF balisé pour l'accessibilité : arbre de structure, langue
  fr-FR, titre affiché, en-têtes de tableaux, pieds de page en artefacts), vérifiés par
  Typst à la compilation ; la pièce jointe `factur-x.xml` (fichier associé, relation
  « Data ») est posée par Typst lui-même (`pdf.attach`) ;
- vitesse mesurée (`benchmarks/documents.py`, `benchmarks/README.md`) : 10 à 15 ms de
  processeur par facture, contre environ 140 ms pour WeasyPrint suivi de l'emballage du
  paquet `factur-x` ;
- déterminisme : date de création = date d'émission, identifiants du PDF dérivés du
  contenu ; une pièce rendue deux fois, dans deux processus, donne les mêmes octets.
Le paquet `factur-x` reste l'outil de lecture et de vérification (XSD, schématrons) ; son
étape d'emballage (`generate_from_binary`, qui relit et réécrit tout le PDF avec pypdf, en
5 à 25 ms, et date le XMP de l'horloge) est remplacée par `facturx_xmp`, qui ajoute au XMP
de Typst le schéma d'extension et les propriétés `fx:` Factur-X.

Les données passent en JSON par `sys.inputs`, jamais collées dans le source Typst : les
gabarits (`gabarits/*.typ`) n'affichent que des chaînes, qui ne sont pas du balisage (un
nom « =HYPERLINK(…) », « #set », « *gras* », « $x$ » ou « @ref » s'affiche tel quel).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import threading
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("gabarits")
# Normes PDF demandées à Typst : PDF/A-3b (Factur-X) et PDF/UA-1 (accessibilité : PDF
# balisé, titre affiché, langue, en-têtes de tableaux, pieds de page en artefacts).
PDF_STANDARDS = ["a-3b", "ua-1"]
FACTURX_FILENAME = "factur-x.xml"
FACTURX_XMP_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
FACTURX_CONFORMANCE = "EN 16931"
_lock = threading.Lock()


@functools.cache
def _compiler(name: str) -> Any:
    """Compilateur Typst d'un gabarit, gardé pour le processus : Typst met en cache les
    polices, le gabarit et la mise en page entre deux rendus. Polices embarquées dans le
    paquet `typst` seulement (aucune police du système) : le même PDF sur toute machine."""
    import typst

    return typst.Compiler(TEMPLATES / f"{name}.typ", root=TEMPLATES, ignore_system_fonts=True)


def render(
    template: str, data: dict[str, Any], when: dt.datetime, xml: bytes | None = None
) -> bytes:
    """Rend un gabarit Typst (`facture` ou `etat`) en PDF/A-3b et PDF/UA-1 balisé, daté de
    `when`. Les données passent en JSON par `sys.inputs` ; le XML Factur-X, s'il y en a un,
    aussi (joint par `pdf.attach`)."""
    inputs = {"donnees": json.dumps(data, ensure_ascii=False)}
    if xml is not None:
        inputs["xml"] = xml.decode("utf-8")
    with _lock:  # un compilateur Typst par gabarit et par processus, un rendu à la fois
        pdf = _compiler(template).compile(
            format="pdf", sys_inputs=inputs, pdf_standards=PDF_STANDARDS, timestamp=when
        )
    assert isinstance(pdf, bytes)
    return pdf


def invoice_pdf_bytes(data: dict[str, Any], when: dt.datetime, xml: bytes) -> bytes:
    """PDF Factur-X d'une facture mise en forme : Typst (PDF/A-3b, PDF/UA-1, factur-x.xml
    joint), puis les métadonnées XMP Factur-X."""
    return facturx_xmp(render("facture", data, when, xml))


# -- métadonnées XMP Factur-X ------------------------------------------------------------------

_FACTURX_SCHEMA = (
    '<rdf:li rdf:parseType="Resource">'
    "<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>"
    f"<pdfaSchema:namespaceURI>{FACTURX_XMP_NS}</pdfaSchema:namespaceURI>"
    "<pdfaSchema:prefix>fx</pdfaSchema:prefix>"
    "<pdfaSchema:property><rdf:Seq>"
    + "".join(
        '<rdf:li rdf:parseType="Resource">'
        f"<pdfaProperty:name>{name}</pdfaProperty:name>"
        "<pdfaProperty:valueType>Text</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{description}</pdfaProperty:description>"
        "</rdf:li>"
        for name, description in (
            ("DocumentFileName", "The name of the embedded XML document"),
            ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE"),
            ("Version", "The actual version of the standard applying to the embedded XML"),
            ("ConformanceLevel", "The conformance level of the embedded XML document"),
        )
    )
    + "</rdf:Seq></pdfaSchema:property></rdf:li>"
)
_FACTURX_DESCRIPTION = (
    f'<rdf:Description rdf:about="" xmlns:fx="{FACTURX_XMP_NS}">'
    "<fx:DocumentType>INVOICE</fx:DocumentType>"
    f"<fx:DocumentFileName>{FACTURX_FILENAME}</fx:DocumentFileName>"
    "<fx:Version>1.0</fx:Version>"
    f"<fx:ConformanceLevel>{FACTURX_CONFORMANCE}</fx:ConformanceLevel>"
    "</rdf:Description>"
)
_SCHEMAS_END = b"</rdf:Bag></pdfaExtension:schemas>"
_RDF_END = b"</rdf:RDF>"
_XREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_ROOT = re.compile(rb"/Root (\d+) 0 R")
_XREF_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])")


def facturx_xmp(pdf: bytes) -> bytes:
    """Ajoute au XMP écrit par Typst le schéma d'extension PDF/A Factur-X et ses propriétés
    (`fx:DocumentType` INVOICE, `fx:DocumentFileName`, `fx:Version` 1.0,
    `fx:ConformanceLevel` EN 16931), en réécrivant le seul flux /Metadata du catalogue et
    les décalages de la table de références croisées qui le suivent : 0,2 à 0,3 ms, là où
    relire et réécrire tout le PDF (pypdf, paquet `factur-x`) coûte environ 25 ms et date le
    XMP de l'horloge. Le XMP de Typst (PDF/A-3b, PDF/UA, titre, langue, dates,
    identifiants) est gardé tel quel ; les textes de l'utilisateur y sont échappés par
    Typst, et ne peuvent donc pas imiter les balises cherchées ici."""
    tail = _XREF.search(pdf)
    if tail is None:
        raise ValueError("PDF sans table de références croisées classique en fin de fichier")
    xref_at = int(tail.group(1))
    header = re.match(rb"xref\n0 (\d+)\r?\n", pdf[xref_at:])
    root = _ROOT.search(pdf, xref_at)
    if root is None or header is None:
        raise ValueError("table de références croisées inattendue")
    count = int(header.group(1))
    entries_at = xref_at + header.end()
    raw = [pdf[i : i + 20] for i in range(entries_at, entries_at + 20 * count, 20)]
    if not all(_XREF_ENTRY.match(entry) for entry in raw):
        raise ValueError("table de références croisées incomplète")
    offsets = [int(entry[:10]) for entry in raw]
    catalog_at = offsets[int(root.group(1))]
    metadata = re.search(
        rb"/Metadata (\d+) 0 R", pdf[catalog_at : pdf.index(b"endobj", catalog_at)]
    )
    if metadata is None:
        raise ValueError("catalogue sans métadonnées XMP")
    number = int(metadata.group(1))
    start = offsets[number]
    head = re.match(rb"%d 0 obj\n<<([^>]*)>>\nstream\n" % number, pdf[start : start + 200])
    if head is None or b"/Filter" in head.group(1):
        raise ValueError("flux XMP inattendu (compressé ?)")
    length = int(re.search(rb"/Length (\d+)", head.group(1)).group(1))
    body_at = start + head.end()
    end = body_at + length
    xmp = pdf[body_at:end]
    if _SCHEMAS_END not in xmp or not pdf.startswith(b"\nendstream", end):
        raise ValueError("flux XMP inattendu")
    new_xmp = xmp.replace(_SCHEMAS_END, _FACTURX_SCHEMA.encode() + _SCHEMAS_END, 1).replace(
        _RDF_END, _FACTURX_DESCRIPTION.encode() + _RDF_END, 1
    )
    dictionary = head.group(1).replace(b"/Length %d" % length, b"/Length %d" % len(new_xmp))
    new_head = b"%d 0 obj\n<<%s>>\nstream\n" % (number, dictionary)
    delta = len(new_head) + len(new_xmp) - (end - start)
    table = b"".join(
        b"%010d%s" % (offset + delta, entry[10:])
        if offset > start and entry[17:18] == b"n"
        else entry
        for offset, entry in zip(offsets, raw, strict=True)
    )
    return b"".join(
        (
            pdf[:start],
            new_head,
            new_xmp,
            pdf[end:entries_at],
            table,
            pdf[entries_at + 20 * count : tail.start(1)],
            b"%d" % (xref_at + delta),
            pdf[tail.end(1) :],
        )
    )
