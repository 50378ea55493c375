"""Pages des catalogues : versions d'un opérateur, dépôt d'un fichier, tableaux des annexes,
nouvelle version (année suivante ou prix à renseigner), différences entre deux versions.

Réservées aux administrateurs et chargés de facturation de l'opérateur ; les versions d'un
autre opérateur n'existent pas pour eux (404). Vues minces : lectures par les sélecteurs,
écritures par les services, calcul du texte par `opsn.catalogues.edition`."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from opsn.catalogues import edition, selectors, services
from opsn.catalogues.forms import NewVersionForm, StratumForm, UploadForm
from opsn.core import bounds
from opsn.core.errors import CatalogueError, OpsnError
from opsn.core.model import MATRIX_STATUS_FR, Catalogue
from opsn.core.money import fmt_fr
from opsn.gestion import bridge
from opsn.gestion.models import CatalogueVersion, Operator

MODES = ("annee", "prix")
DIFF_MAX_LINES = 4000


def _unreadable(view: Any) -> Any:
    """Une version enregistrée que le chargeur d'aujourd'hui refuse (format changé depuis) :
    la page le dit, avec le message du chargeur, au lieu d'une erreur du serveur."""
    from functools import wraps

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except CatalogueError as exc:
            return render(
                request,
                "catalogues/illisible.html",
                {"message": str(exc), "version_id": kwargs.get("version_id")},
                status=409,
            )

    return wrapper


def _operators(request: HttpRequest) -> list[Operator]:
    operators = selectors.managing_operators(request.user)
    if not operators:
        raise PermissionDenied("Réservé aux administrateurs et chargés de facturation.")
    return operators


def _pick(request: HttpRequest, operators: list[Operator]) -> Operator:
    code = request.POST.get("operateur") or request.GET.get("operateur") or ""
    return next((o for o in operators if o.code == code), operators[0])


# -- liste et dépôt ----------------------------------------------------------------------------


@login_required
def catalogue_list(request: HttpRequest) -> HttpResponse:
    operators = _operators(request)
    return render(
        request,
        "catalogues/liste.html",
        {"blocs": [(o, selectors.version_rows(o)) for o in operators]},
    )


def _excerpt(text: str, line: int | None, around: int = 3) -> list[tuple[int, str, bool]]:
    """Lignes autour de la ligne en erreur : (numéro, texte, est-ce la ligne en erreur)."""
    if not line:
        return []
    lines = text.splitlines()
    low, high = max(1, line - around), min(len(lines), line + around)
    return [(n, lines[n - 1][:300], n == line) for n in range(low, high + 1)]


@login_required
def catalogue_upload(request: HttpRequest) -> HttpResponse:
    """Dépôt d'un fichier de catalogue : validé par le chargeur de la ligne de commande,
    erreurs en français avec leur ligne ; rien n'est enregistré à la moindre erreur."""
    operators = _operators(request)
    operator = _pick(request, operators)
    posted = request.method == "POST"
    form = UploadForm(request.POST if posted else None, request.FILES if posted else None)
    error: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["fichier"]
        data = upload.read(services.MAX_UPLOAD_BYTES + 1)
        try:
            version = services.catalogue_upload(
                actor=request.user, operator=operator, filename=upload.name or "", data=data
            )
        except CatalogueError as exc:
            text = data.decode("utf-8", errors="replace")
            error = {
                "message": exc.detail,
                "ligne": exc.line,
                "cle": exc.key,
                "extrait": _excerpt(text, exc.line),
            }
            form.add_error("fichier", f"Catalogue invalide : {exc.detail}")
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("fichier", message)
        else:
            messages.success(
                request,
                f"Version « {version.version} » enregistrée pour {operator.name} : "
                f"{version.label}.",
            )
            return redirect("catalogue", version_id=version.pk)
    return render(
        request,
        "catalogues/deposer.html",
        {
            "operateurs": operators,
            "operateur": operator,
            "form": form.mark_errors(),
            "erreur": error,
        },
        status=400 if form.errors else 200,
    )


# -- une version : tableaux des annexes -----------------------------------------------------


def _cell(value: Any, kind: str = "montant") -> str:
    if isinstance(value, Decimal) and kind == "montant":
        return fmt_fr(value)
    if value == "sur_devis":
        return "sur devis"
    if value == "a_renseigner":
        return "à renseigner"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}".replace(".", ",")
    return str(value)


def _categories(catalogue: Catalogue) -> list[str]:
    found = {
        crit.category
        for table in catalogue.tables.values()
        for row in table.rows
        for crit in row.criteria
        if crit.category
    }
    return sorted(found)


def _tables(catalogue: Catalogue) -> list[dict[str, Any]]:
    result = []
    for table in catalogue.tables.values():
        result.append(
            {
                "code": table.code,
                "libelle": table.label,
                "clause": table.clause,
                "annee": table.year,
                "population": table.population,
                "hors_strates": table.outside,
                "colonnes": [c.label for c in table.columns],
                "lignes": [
                    (row.label, [_cell(row.values[c.code], c.kind) for c in table.columns])
                    for row in table.rows
                ],
            }
        )
    return result


def _grids(catalogue: Catalogue) -> list[dict[str, Any]]:
    result = []
    for grid in catalogue.grids.values():
        rows = grid.rows.tiers if grid.rows is not None else [None]
        result.append(
            {
                "code": grid.code,
                "libelle": grid.label,
                "clause": grid.clause,
                "annee": grid.year,
                "dimension_colonnes": grid.columns.dimension,
                "dimension_lignes": grid.rows.dimension if grid.rows is not None else None,
                "colonnes": [t.label for t in grid.columns.tiers],
                "lignes": [
                    (tier.label if tier is not None else "Prix", [_cell(v) for v in cells])
                    for tier, cells in zip(rows, grid.cells, strict=True)
                ],
            }
        )
    return result


def _services(catalogue: Catalogue, found: edition.Anatomy) -> list[dict[str, Any]]:
    """Tarifs des services par famille, tels que l'annexe les imprime."""
    shown = {s.key: s.shown() for s in found.prices}
    families = []
    for family in catalogue.families:
        items = []
        for service in catalogue.services.values():
            if service.family != family.code:
                continue
            components = []
            for comp in service.components:
                price = comp.price
                if price.kind == "table":
                    text = f"selon la table « {catalogue.tables[price.table].label} »"
                elif price.kind == "grille":
                    text = f"selon la grille « {catalogue.grids[price.table].label} »"
                else:
                    text = shown.get(f"service:{service.code}:{comp.code}", "")
                components.append({"libelle": comp.label, "prix": text, "clause": comp.clause})
            items.append({"libelle": service.label, "clause": service.clause, "prix": components})
        if items:
            families.append({"libelle": family.label, "services": items})
    return families


@login_required
@_unreadable
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = selectors.version_get(user=request.user, version_id=version_id)
    catalogue = bridge.catalogue_of(version)
    found = edition.anatomy(version.content, version.source_file)
    stratum = StratumForm(
        request.GET if _asked(request) else None, categories=_categories(catalogue)
    )
    from opsn.comparison import build_comparison

    chosen = stratum.values()
    try:
        comparison = build_comparison(
            catalogue,
            population=chosen["population"],
            agents=chosen["agents"],
            categories=chosen["categories"],
        )
    except OpsnError as exc:
        comparison = None
        messages.error(request, f"Comparaison impossible : {exc}")
    others = CatalogueVersion.objects.filter(operator=version.operator).exclude(pk=version.pk)
    return render(
        request,
        "catalogues/version.html",
        {
            "version": version,
            "catalogue": catalogue,
            "conventions": version.conventions.count(),
            "comparaison": comparison,
            "strate": stratum,
            "strate_problemes": stratum.problems,
            "tables": _tables(catalogue),
            "grilles": _grids(catalogue),
            "familles": _services(catalogue, found),
            "manquants": len(found.missing),
            "autres": others.exists(),
            "statuts": MATRIX_STATUS_FR,
        },
    )


def _asked(request: HttpRequest) -> bool:
    return any(k in request.GET for k in ("population", "agents", "categorie"))


@login_required
def version_yaml(request: HttpRequest, version_id: int) -> HttpResponse:
    version = selectors.version_get(user=request.user, version_id=version_id)
    response = HttpResponse(version.content, content_type="text/plain; charset=utf-8")
    name = services.safe_name(f"{version.operator.code}-{version.version}.yaml")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# -- nouvelle version -------------------------------------------------------------------------


def _default_label(catalogue: Catalogue, mode: str, year: int) -> str:
    label = catalogue.label
    if mode == "prix":
        return f"{label} – prix renseignés"[: services.LABEL_MAX]
    old = str(catalogue.valid_from.year) if catalogue.valid_from else None
    if old and old in label:
        return label.replace(old, str(year))[: services.LABEL_MAX]
    return f"{label} – tarifs {year}"[: services.LABEL_MAX]


def _default_version(version: CatalogueVersion, mode: str, year: int) -> str:
    taken = set(
        CatalogueVersion.objects.filter(operator=version.operator).values_list("version", flat=True)
    )
    base = str(year) if mode == "annee" else f"{version.version}-prix"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate[: services.VERSION_MAX]


def _proposals(
    found: edition.Anatomy, sites: list[edition.PriceSite], mode: str, method: str, year: int
) -> tuple[dict[str, str], list[str], str]:
    """Valeurs proposées des champs de prix, remarques et erreur éventuelle (indice)."""
    values: dict[str, str] = {}
    notes: list[str] = []
    problem = ""
    revised: dict[str, Decimal] = {}
    if mode == "annee" and method == "indice":
        try:
            revised, notes = edition.revised_prices(found, bridge.index_table(), year)
        except OpsnError as exc:
            problem = (
                f"Révision impossible : {exc} Les prix actuels sont proposés ; saisissez-les "
                "à la main ou demandez la valeur à l'administrateur de la plateforme."
            )
    for i, site in enumerate(sites):
        amount = revised.get(site.key, site.amount) if site.kind == "montant" else None
        values[f"p_{i}"] = f"{amount.quantize(edition.CENT)}".replace(".", ",") if amount else ""
    return values, notes, problem


@login_required
@_unreadable
def version_new(request: HttpRequest, version_id: int) -> HttpResponse:
    """Nouvelle version écrite à partir de celle-ci : l'année suivante (prix révisés par la
    clause d'indice ou saisis à la main, relus puis publiés) ou les prix « à renseigner »
    remplis. La version d'origine ne change jamais."""
    version = selectors.version_get(user=request.user, version_id=version_id)
    today = timezone.localdate()
    raw_mode = request.POST.get("mode") or request.GET.get("mode") or "annee"
    mode = raw_mode if raw_mode in MODES else "annee"
    found = edition.anatomy(version.content, version.source_file)
    catalogue = found.catalogue
    sites = [s for s in found.prices if s.editable] if mode == "annee" else found.missing
    movable = version.conventions.count()
    posted = request.method == "POST"
    step = str(request.POST.get("etape") or "") if posted else ""
    default_year = (
        services.default_next_year(found, today)
        if mode == "annee"
        else (catalogue.valid_from.year if catalogue.valid_from else today.year)
    )
    low, high = bounds.year_range(today)
    default_year = min(max(default_year, low), high)
    form = NewVersionForm(
        request.POST if posted else None,
        sites=sites,
        mode=mode,
        today=today,
        movable=movable,
        revisable=found.catalogue.revision is not None,
    )
    notes: list[str] = []
    problem = ""
    status = 200
    if posted and step == "publier" and form.is_valid():
        try:
            created = _publish(request, version, found, form, sites, mode)
        except (ValidationError, CatalogueError, edition.EditionError) as exc:
            for message in getattr(exc, "messages", None) or [str(exc)]:
                form.add_error(None, message)
        else:
            messages.success(request, f"Version « {created.version} » publiée.")
            return redirect("catalogue", version_id=created.pk)
    if posted and form.errors and step == "publier":
        status = 400
    else:
        # première page, ou « recalculer » : propositions pour l'année et la méthode choisies
        year, method = default_year, "indice"
        header: dict[str, Any] = {}
        if posted:
            raw_year = str(request.POST.get("annee") or "")
            try:
                year = bounds.check_year(raw_year, today)
            except bounds.BoundError as exc:
                problem = f"Année ignorée : {exc}"
            method = "main" if request.POST.get("methode") == "main" else "indice"
            header = {k: request.POST.get(k, "") for k in ("version", "libelle", "valide_du")}
            # en-tête proposé pour l'année précédemment affichée : suit la nouvelle année
            shown = str(request.POST.get("annee_proposee") or "")
            if shown.isdigit() and len(shown) == 4:
                if header["libelle"] == _default_label(catalogue, mode, int(shown)):
                    header["libelle"] = ""
                if header["version"] == _default_version(version, mode, int(shown)):
                    header["version"] = ""
        values, notes, index_problem = _proposals(found, sites, mode, method, year)
        problem = " ".join(p for p in (problem, index_problem) if p)
        initial = {
            "annee": year,
            "methode": method,
            "version": header.get("version") or _default_version(version, mode, year),
            "libelle": header.get("libelle") or _default_label(catalogue, mode, year),
            "valide_du": header.get("valide_du")
            or (catalogue.valid_from.isoformat() if catalogue.valid_from else ""),
            "deplacer": mode == "prix",
            **values,
        }
        form = NewVersionForm(
            initial=initial,
            sites=sites,
            mode=mode,
            today=today,
            movable=movable,
            revisable=found.catalogue.revision is not None,
        )
    return render(
        request,
        "catalogues/nouvelle_version.html",
        {
            "version": version,
            "catalogue": catalogue,
            "mode": mode,
            "form": form.mark_errors(),
            "prix": _grouped(form.price_fields()),
            "remarques": notes,
            "probleme": problem,
            "clause": catalogue.revision,
            "annee_proposee": form["annee"].value() if status == 200 else "",
        },
        status=status,
    )


def _grouped(pairs: list[tuple[edition.PriceSite, Any]]) -> list[tuple[str, list[Any]]]:
    groups: dict[str, list[Any]] = {}
    for site, field in pairs:
        groups.setdefault(site.group, []).append((site, field))
    return list(groups.items())


def _publish(
    request: HttpRequest,
    version: CatalogueVersion,
    found: edition.Anatomy,
    form: NewVersionForm,
    sites: list[edition.PriceSite],
    mode: str,
) -> CatalogueVersion:
    data = form.cleaned_data
    year = data["annee"]
    # R28 : prix renseignés d'un catalogue sans clause de révision écrits sans année
    undated = mode != "annee" and found.catalogue.revision is None
    prices: dict[str, tuple[Decimal, int | None]] = {}
    for i, site in enumerate(sites):
        amount = data.get(f"p_{i}")
        if amount is None:
            continue
        prices[site.key] = (amount, year if site.owner is None and not undated else None)
    years: dict[str, int] = {}
    if mode == "annee":
        years = {key: year for key in found.years}
        valid_from: dt.date | None = dt.date(year, 1, 1)
        how = (
            "prix révisés par la clause d'indice"
            if data.get("methode") == "indice"
            else "prix saisis à la main"
        )
    else:
        valid_from = data.get("valide_du") or found.catalogue.valid_from
        how = f"{len(prices)} prix à renseigner remplis " + (
            "(sans année : pas de clause de révision, R28)" if undated else f"(prix {year})"
        )
    author = request.user.get_username()
    day = timezone.localdate()
    comment = (
        f"Version « {data['version']} » écrite dans le navigateur le {day:%d/%m/%Y} "
        f"par {author}, à partir de « {version.version} » : {how}."
    )
    header = edition.Header(data["version"], data["libelle"], valid_from, comment)
    return services.catalogue_version_derive(
        actor=request.user,
        source=version,
        header=header,
        prices=prices,
        years=years,
        move_conventions=bool(data.get("deplacer")),
        reason=f"nouvelle version tirée de « {version.version} » : {how}",
    )


# -- différences ---------------------------------------------------------------------------------


@login_required
@_unreadable
def version_diff(request: HttpRequest, version_id: int) -> HttpResponse:
    """Différences entre deux versions d'un opérateur : prix (appariés par service et
    composante, table et case), en-tête, services ajoutés ou retirés, puis le texte YAML."""
    version = selectors.version_get(user=request.user, version_id=version_id)
    versions = list(selectors.versions_of(version.operator))
    others = [v for v in versions if v.pk != version.pk]
    raw = str(request.GET.get("avec") or "")
    other = next((v for v in others if raw.isdigit() and str(v.pk) == raw), None)
    ignored = bool(raw) and other is None
    if other is None:
        position = next(i for i, v in enumerate(versions) if v.pk == version.pk)
        other = versions[position - 1] if position > 0 else (others[0] if others else None)
    context: dict[str, Any] = {
        "version": version,
        "autres": others,
        "autre": other,
        "ignore": ignored,
    }
    if other is not None:
        old = edition.anatomy(other.content, other.source_file)
        new = edition.anatomy(version.content, version.source_file)
        changes = edition.price_changes(old, new)
        groups: dict[str, list[edition.PriceChange]] = {}
        for change in changes:
            groups.setdefault(change.group, []).append(change)
        a, b = old.catalogue, new.catalogue
        header = [
            (label, x, y)
            for label, x, y in (
                ("Version", a.version, b.version),
                ("Libellé", a.label, b.label),
                ("En vigueur à partir du", _date(a.valid_from), _date(b.valid_from)),
                ("Clause de révision", _revision(a), _revision(b)),
            )
            if x != y
        ]
        lines = list(
            difflib.unified_diff(
                other.content.splitlines(),
                version.content.splitlines(),
                fromfile=f"{other.version}",
                tofile=f"{version.version}",
                lineterm="",
                n=2,
            )
        )
        context.update(
            {
                "changements": list(groups.items()),
                "nombre": len(changes),
                "entete": header,
                "ajoutes": [b.services[c].label for c in b.services if c not in a.services],
                "retires": [a.services[c].label for c in a.services if c not in b.services],
                "texte": [_diff_line(line) for line in lines[:DIFF_MAX_LINES]],
                "tronque": len(lines) > DIFF_MAX_LINES,
            }
        )
    return render(request, "catalogues/differences.html", context)


def _date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "—"


def _revision(catalogue: Catalogue) -> str:
    clause = catalogue.revision
    if clause is None:
        return "aucune"
    return f"{clause.index.upper()}, mois {clause.month} ({clause.clause})"


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)")


def _diff_line(line: str) -> tuple[str, str]:
    """(classe, texte) d'une ligne de différence : ajout, retrait, contexte ou repère."""
    if line.startswith(("+++", "---")):
        return "entete", line
    if line.startswith("@@"):
        match = _HUNK.match(line)
        where = f"lignes {match.group(1)} → {match.group(2)}" if match else line
        return "repere", where
    if line.startswith("+"):
        return "ajout", line
    if line.startswith("-"):
        return "retrait", line
    return "contexte", line
