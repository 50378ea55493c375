"""Pages de facturation : campagne (simulation puis émission), factures, documents,
titres de recettes, rapport d'évolution.

Le travail long (émission d'une campagne, archive des PDF, titres de recettes) ne se fait
pas dans la requête : la page le met en file (`opsn.facturation.taches`) et renvoie vers la
page de la tâche, qui montre l'avancement puis le résultat."""

from __future__ import annotations

import re
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from opsn.core import bounds
from opsn.facturation import billing, documents, evolution, exports, journal, taches
from opsn.facturation.identites import operator_problems
from opsn.gestion.models import Invoice, InvoiceStatus, Operator, Role
from opsn.gestion.permissions import can, memberships, require, visible_members
from opsn.plateforme.taches import start


def _staff_operators(request: HttpRequest, action: str = "voir") -> list[Operator]:
    ops = [m.operator for m in memberships(request.user) if m.role != Role.REFERENT]
    return [o for o in ops if can(request.user, action, operator=o)]


def _pick(request: HttpRequest, operators: list[Operator]) -> Operator:
    code = request.GET.get("operateur") or request.POST.get("operateur")
    if not operators:
        raise PermissionDenied("Réservé au personnel d'un opérateur.")
    for op in operators:
        if op.code == code:
            return op
    return operators[0]


def _year(request: HttpRequest) -> int:
    """Année demandée (`annee`), bornée (opsn.core.bounds : de 2000 à l'année suivante).
    Invalide dans une page, c'est l'année en cours, et `request.annee_ignoree` dit pourquoi
    (affiché à côté du champ Année) ; invalide dans une action (POST), la requête est
    refusée (400) : on n'émet ni n'exporte jamais une autre année que celle demandée."""
    today = timezone.localdate()
    raw = request.GET.get("annee") or request.POST.get("annee") or ""
    if not raw:
        return today.year
    try:
        return bounds.check_year(raw, today)
    except bounds.BoundError as exc:
        if request.method == "POST":
            raise BadRequest(f"Année : {exc}") from None
        request.annee_ignoree = f"{exc} Année {today.year} affichée."  # type: ignore[attr-defined]
        return today.year


def _operator_code(request: HttpRequest) -> str:
    """Code d'opérateur d'un filtre (`operateur`), ignoré s'il n'a pas la forme d'un code."""
    code = request.GET.get("operateur") or ""
    return code if re.fullmatch(r"[-a-zA-Z0-9_]{1,40}", code) else ""


@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    operators = _staff_operators(request, "facturer")
    operator = _pick(request, operators)
    year = _year(request)
    if request.method == "GET" and not request.GET.get("annee"):
        # sans année demandée : celle que le tableau de bord propose (la première que les
        # valeurs d'indice publiées permettent de facturer, sinon l'année en cours)
        from opsn.gestion.views import default_billing_year

        year = default_billing_year(operator, timezone.localdate())[0]
    if request.method == "POST":
        # Émission en tâche de fond, datée du jour où elle s'exécute ; tout ou rien.
        record = start(
            taches.billing_run_task,
            kind="facturation",
            label=f"Campagne de facturation {year} – {operator.name}",
            operator=operator,
            user=request.user,
            action="facturer",
            params={"year": year},
        )
        messages.success(request, f"Campagne {year} mise en file : suivez-la ci-dessous.")
        return redirect("tache", task_id=record.task_id)
    bills = billing.billing_preview(operator=operator, year=year)
    return render(
        request,
        "gestion/billing.html",
        {
            "operateurs": operators,
            "operateur": operator,
            "annee": year,
            "factures": bills,
            "a_facturer": [b for b in bills if b.billable],
            "bloques": [b for b in bills if b.blocking],
            "brouillons": Invoice.objects.filter(
                operator=operator, year=year, status=InvoiceStatus.DRAFT
            ).count(),
            "manques_emetteur": operator_problems(operator),
        },
    )


@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    invoices = (
        Invoice.objects.filter(member__in=visible_members(request.user), year=year)
        .exclude(status=InvoiceStatus.CANCELLED)
        .select_related("member", "operator")
        .order_by("operator__code", "sequence_number", "pk")
    )
    code = _operator_code(request)
    if code:
        invoices = invoices.filter(operator__code=code)
    operators = _staff_operators(request)
    return render(
        request,
        "gestion/invoice_list.html",
        {"factures": invoices, "annee": year, "operateur": code or "", "operateurs": operators},
    )


def _invoice(request: HttpRequest, invoice_id: int) -> Invoice:
    invoice = (
        Invoice.objects.filter(pk=invoice_id, member__in=visible_members(request.user))
        .select_related("member", "operator", "credited_invoice", "catalogue")
        .first()
    )
    if invoice is None:
        raise Http404("Facture introuvable.")
    return invoice


@login_required
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = _invoice(request, invoice_id)
    if request.method == "POST":
        try:
            # motif borné (texte sans caractère de contrôle ni NUL, 2 000 caractères au plus)
            reason = bounds.check_text(request.POST.get("motif", ""), 2000, multiline=True)
            positions, amount = _credit_scope(request, invoice)
            credit = billing.invoice_credit(
                actor=request.user,
                invoice=invoice,
                reason=reason,
                issued_on=timezone.localdate(),
                positions=positions,
                amount=amount,
            )
        except bounds.BoundError as exc:
            messages.error(request, f"Avoir : {exc}")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Avoir {credit.number} émis.")
            return redirect("facture", invoice_id=credit.pk)
    return render(
        request,
        "gestion/invoice_detail.html",
        {
            "facture": invoice,
            "lignes": invoice.lines.all(),
            "avoirs": invoice.credit_notes.all(),
            "deja_annulees": {
                line.origin_position
                for credit in invoice.credit_notes.all()
                for line in credit.lines.all()
            },
            "reste": invoice.total_ttc
            + sum((c.total_ttc for c in invoice.credit_notes.all()), Decimal(0)),
            "peut_facturer": can(request.user, "facturer", operator=invoice.operator_id),
        },
    )


def _credit_scope(
    request: HttpRequest, invoice: Invoice
) -> tuple[list[int] | None, Decimal | None]:
    """Étendue de l'avoir choisie sur la page : total, lignes cochées ou montant HT."""
    scope = request.POST.get("etendue", "total")
    if scope == "lignes":
        try:
            positions = sorted({int(x) for x in request.POST.getlist("lignes")})
        except ValueError:
            raise bounds.BoundError("lignes choisies invalides.") from None
        if not positions:
            raise bounds.BoundError("cochez au moins une ligne à annuler.")
        return positions, None
    if scope == "montant":
        amount = bounds.AMOUNT.parse(request.POST.get("montant", ""))
        return None, amount
    return None, None


def _download(data: bytes, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def invoice_document(request: HttpRequest, invoice_id: int, kind: str) -> HttpResponse:
    invoice = _invoice(request, invoice_id)
    if invoice.status != InvoiceStatus.ISSUED:
        raise Http404("Document disponible après émission.")
    if kind == "pdf":  # le PDF conservé au premier rendu, resservi octet pour octet
        return _download(journal.kept_pdf(invoice), f"{invoice.number}.pdf", "application/pdf")
    if kind == "xml":
        return _download(
            invoice.xml.encode("utf-8"), f"{invoice.number}-factur-x.xml", "application/xml"
        )
    if kind == "etat":
        return _download(
            documents.statement_pdf(invoice), f"etat-{invoice.number}.pdf", "application/pdf"
        )
    raise Http404


@login_required
def titres_export(request: HttpRequest) -> HttpResponse:
    """POST (bouton de la liste des factures) : CSV produit en tâche de fond. GET :
    téléchargement direct, gardé pour les scripts et les liens existants."""
    operator = _pick(request, _staff_operators(request, "facturer"))
    year = _year(request)
    if request.method == "POST":
        record = start(
            taches.titres_export_task,
            kind="titres",
            label=f"Titres de recettes {year} (CSV) – {operator.name}",
            operator=operator,
            user=request.user,
            action="facturer",
            params={"year": year},
        )
        return redirect("tache", task_id=record.task_id)
    return _download(
        exports.titres_csv(operator, year).encode("utf-8"),
        f"titres-{operator.code}-{year}.csv",
        "text/csv; charset=utf-8",
    )


@login_required
def pdf_archive(request: HttpRequest) -> HttpResponse:
    """Archive ZIP des PDF : rendue en tâche de fond (POST), téléchargée depuis la page
    de la tâche. Un GET renvoie vers la liste des factures, qui porte le bouton."""
    operator = _pick(request, _staff_operators(request, "facturer"))
    year = _year(request)
    require(request.user, "facturer", operator=operator)
    if request.method != "POST":
        return redirect(f"/factures/?operateur={operator.code}&annee={year}")
    record = start(
        taches.pdf_archive_task,
        kind="archive_pdf",
        label=f"Archive des PDF {year} – {operator.name}",
        operator=operator,
        user=request.user,
        action="facturer",
        params={"year": year},
    )
    return redirect("tache", task_id=record.task_id)


@login_required
def evolution_page(request: HttpRequest) -> HttpResponse:
    operators = _staff_operators(request)
    operator = _pick(request, operators)
    year = _year(request)
    rows = evolution.evolution_report(operator=operator, year=year)
    if request.GET.get("format") == "csv":
        return _download(
            evolution.evolution_csv(rows).encode("utf-8"),
            f"evolution-{operator.code}-{year}.csv",
            "text/csv; charset=utf-8",
        )
    return render(
        request,
        "gestion/evolution.html",
        {
            "lignes": rows,
            "annee": year,
            "operateur": operator,
            "operateurs": operators,
            # recettes émises par année, empilées par famille (libellés, pas codes)
            "graphique": revenue_chart([operator.pk]),
        },
    )


def revenue_chart(operator_ids: list[int]) -> dict:
    """Données du graphique du tableau de bord : barres SVG par année, empilées par famille.

    Les familles sont nommées par leur libellé dans les catalogues des opérateurs
    (« Assistance aux logiciels métiers »), pas par leur code (`metiers`). Les coordonnées
    sont des textes à point décimal (`"197.4"`) : le gabarit ne les localise pas (une
    virgule française rendrait le SVG invalide et le graphique vide)."""
    data = evolution.revenue_by_family(operator_ids=operator_ids)
    years = sorted({y for per_year in data.values() for y in per_year})
    if not years:
        return {}
    labels = family_labels(operator_ids)
    families = sorted(data, key=lambda code: (labels.get(code, code).lower(), code))
    palette = ["#0b4f8a", "#2e7d32", "#b35900", "#6a1b9a", "#00695c", "#8a1f11", "#455a64"]
    zero = Decimal(0)  # jamais l'entier 0 : le filtre `euros` attend un Decimal
    totals = {y: sum((data[f].get(y, zero) for f in families), zero) for y in years}
    top = max(totals.values()) or 1
    bars = []
    for i, year in enumerate(years):
        y0 = 200.0
        segments = []
        for j, family in enumerate(families):
            value = data[family].get(year, zero)
            height = max(float(value), 0.0) / float(top) * 180
            y0 -= height
            segments.append(
                {
                    "y": f"{y0:.1f}",
                    "h": f"{height:.1f}",
                    "couleur": palette[j % len(palette)],
                    "famille": labels.get(family, family),
                    "montant": value,
                }
            )
        bars.append(
            {
                "annee": year,
                "x": 60 + i * 90,
                "segments": segments,
                "total": totals[year],
            }
        )
    return {
        "barres": bars,
        "lignes": [
            {"libelle": labels.get(f, f), "montants": [data[f].get(y, zero) for y in years]}
            for f in families
        ],
        "familles": [(labels.get(f, f), palette[j % len(palette)]) for j, f in enumerate(families)],
        "largeur": 100 + 90 * len(years),
    }


def family_labels(operator_ids: list[int]) -> dict[str, str]:
    """Code de famille → libellé, lu dans les catalogues des opérateurs (le plus récent
    l'emporte quand deux versions nomment différemment la même famille)."""
    from opsn.core.errors import OpsnError
    from opsn.gestion import bridge
    from opsn.gestion.models import CatalogueVersion

    labels: dict[str, str] = {}
    versions = CatalogueVersion.objects.filter(operator_id__in=operator_ids).order_by(
        "valid_from", "pk"
    )
    for version in versions:
        try:
            catalogue = bridge.catalogue_of(version)
        except OpsnError:
            continue
        for family in catalogue.families:
            labels[family.code] = family.label
    return labels


@login_required
def pes_flow(request: HttpRequest) -> HttpResponse:
    """Flux PES V2 Recette de l'année facturée (POST du bouton de la liste des factures ou
    de la page de facturation) : numérote les pièces nouvelles puis renvoie le fichier XML,
    réservé au personnel qui peut facturer pour cet opérateur."""
    from django.http import HttpResponseNotAllowed

    from opsn.facturation import pes

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    code = request.POST.get("operateur", "")
    operator = Operator.objects.filter(code=code).first() if code else None
    if operator is None:
        operator = _pick(request, _staff_operators(request, "facturer"))
    require(request.user, "facturer", operator=operator)
    year = _year(request)
    if getattr(request, "annee_ignoree", ""):
        messages.error(request, f"Flux PES non produit : {request.annee_ignoree}")
        return redirect(f"/factures/?operateur={operator.code}")
    try:
        pes.check_identities(operator=operator, year=year)
    except ValidationError as exc:
        messages.error(request, "Flux PES impossible : " + " ".join(exc.messages))
        return redirect(f"/factures/?operateur={operator.code}&annee={year}")
    record = start(
        taches.pes_export_task,
        kind="pes",
        label=f"Flux PES V2 Recette {year} – {operator.name}",
        operator=operator,
        user=request.user,
        action="facturer",
        params={"year": year, "only_new": request.POST.get("nouveaux") == "1"},
    )
    return redirect("tache", task_id=record.task_id)


@login_required
def drafts_action(request: HttpRequest) -> HttpResponse:
    """Brouillons de l'année : les émettre (numéros suivants, datés du jour) ou les
    abandonner (aucun numéro consommé)."""
    operator = _pick(request, _staff_operators(request, "facturer"))
    year = _year(request)
    if request.method != "POST":
        return redirect(f"/facturation/?operateur={operator.code}&annee={year}")
    try:
        if request.POST.get("action") == "emettre":
            record = start(
                taches.drafts_issue_task,
                kind="brouillons",
                label=f"Émission des brouillons {year} – {operator.name}",
                operator=operator,
                user=request.user,
                action="facturer",
                params={"year": year},
            )
            return redirect("tache", task_id=record.task_id)
        else:
            count = billing.drafts_cancel(actor=request.user, operator=operator, year=year)
            messages.success(request, f"{count} brouillon(s) abandonné(s).")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(f"/facturation/?operateur={operator.code}&annee={year}")
