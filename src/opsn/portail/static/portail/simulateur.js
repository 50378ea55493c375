// Simulateur : amélioration progressive. Sans JavaScript, la page fonctionne par ses
// formulaires (GET) ; avec, elle propose des collectivités pendant la saisie et recalcule
// les montants à chaque choix, par l'API publique (/api/simulateur/), la même que celle
// offerte aux opérateurs.
(function () {
  "use strict";

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      const args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function text(el, value) { if (el) { el.textContent = value; } }

  // -- propositions pendant la saisie ------------------------------------------------------
  const q = document.getElementById("q");
  const list = document.getElementById("suggestions");
  const status = document.getElementById("suggestions-etat");
  if (q && list && status) {
    let last = "";
    const suggest = debounce(function () {
      const value = q.value.trim();
      if (value === last) { return; }
      last = value;
      if (value.length < 2) { list.innerHTML = ""; text(status, ""); return; }
      fetch(q.dataset.api + "?limite=8&q=" + encodeURIComponent(value), {
        headers: { Accept: "application/json" },
      })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          if (q.value.trim() !== value) { return; }
          list.innerHTML = "";
          items.forEach(function (item) {
            const li = document.createElement("li");
            const a = document.createElement("a");
            a.href = q.dataset.cible + "?code=" + encodeURIComponent(item.code);
            a.textContent = item.nom;
            li.appendChild(a);
            let detail = " – " + item.type_libelle + ", " + item.code;
            if (item.population !== null) {
              detail += ", " + item.population.toLocaleString("fr-FR") + " habitants";
            }
            detail += " (département " + item.departements.join(", ") + ")";
            li.appendChild(document.createTextNode(detail));
            list.appendChild(li);
          });
          text(status, items.length
            ? items.length + " proposition" + (items.length > 1 ? "s" : "") +
              " : suivez un lien pour choisir la collectivité."
            : "Aucune proposition pour « " + value + " ».");
        })
        .catch(function () { text(status, ""); });
    }, 250);
    q.addEventListener("input", suggest);
  }

  // -- recalcul des montants -----------------------------------------------------------------
  const form = document.getElementById("simulation");
  const region = document.getElementById("selection-contenu");
  if (!form || !region) { return; }

  function field(name) {
    const el = form.elements.namedItem(name);
    return el && "value" in el ? el.value : "";
  }

  function body() {
    const subject = {};
    if (field("code")) { subject.code = field("code"); }
    if (field("type")) { subject.type = field("type"); }
    ["population", "agents"].forEach(function (k) {
      if (field(k)) { subject[k] = parseInt(field(k), 10); }
    });
    if (field("budget")) { subject.budget_keur = field("budget"); }
    const services = [];
    const usages = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name === "choix" && el.checked) {
        const quantites = {};
        Array.prototype.forEach.call(form.elements, function (other) {
          const prefix = "qte-" + el.value + "-";
          if (other.name && other.name.indexOf(prefix) === 0 && other.value.trim()) {
            quantites[other.name.slice(prefix.length)] = other.value.trim();
          }
        });
        services.push({ service: el.value, quantites: quantites });
      } else if (el.name && el.name.indexOf("usage-") === 0 && el.value.trim()) {
        usages[el.name.slice(6)] = el.value.trim();
      }
    });
    const data = {
      operateur: field("operateur"),
      catalogue: field("catalogue") || null,
      collectivite: subject,
      services: services,
      usages: usages,
      offres: true,
    };
    if (field("jours").trim()) { data.jours_intervention = field("jours").trim(); }
    return data;
  }

  function offers(items) {
    items.forEach(function (o) {
      const card = form.querySelector('[data-service="' + o.service + '"]');
      if (!card || !o.textes) { return; }
      ["premiere_annee", "annees_suivantes", "total"].forEach(function (k) {
        text(card.querySelector('[data-champ="' + k + '"]'), o.textes[k] || "—");
      });
    });
    Array.prototype.forEach.call(form.querySelectorAll('input[name="choix"]'), function (box) {
      const card = box.closest(".offre");
      if (card) { card.classList.toggle("choisie", box.checked); }
    });
  }

  function summary(result) {
    const t = result.texte;
    const wrap = document.createElement("div");
    const table = document.createElement("table");
    table.className = "empile";
    table.setAttribute("role", "table");
    const caption = document.createElement("caption");
    caption.textContent = "Coût de votre sélection, année par année (tarifs " +
      result.annee_tarifs + ")";
    table.appendChild(caption);
    const head = document.createElement("thead");
    head.setAttribute("role", "rowgroup");
    head.innerHTML = '<tr role="row"><th scope="col" role="columnheader">Année</th>' +
      '<th scope="col" class="montant" role="columnheader">Total HT</th>' +
      '<th scope="col" class="montant" role="columnheader">TVA</th>' +
      '<th scope="col" class="montant" role="columnheader">Total TTC</th></tr>';
    table.appendChild(head);
    const tbody = document.createElement("tbody");
    tbody.setAttribute("role", "rowgroup");
    t.annees.forEach(function (y) {
      const tr = document.createElement("tr");
      tr.setAttribute("role", "row");
      const th = document.createElement("th");
      th.scope = "row";
      th.setAttribute("role", "rowheader");
      th.textContent = y.libelle;
      tr.appendChild(th);
      [["Total HT", y.total_ht], ["TVA", y.total_tva], ["Total TTC", y.total_ttc]]
        .forEach(function (cell) {
          const td = document.createElement("td");
          td.className = "montant";
          td.setAttribute("role", "cell");
          td.dataset.libelle = cell[0];
          td.textContent = cell[1];
          tr.appendChild(td);
        });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    const total = document.createElement("p");
    total.className = "total-general";
    total.appendChild(document.createTextNode("Total sur " + t.annees.length + " ans : "));
    const strong = document.createElement("strong");
    strong.id = "selection-total";
    strong.textContent = t.total_ttc;
    total.appendChild(strong);
    total.appendChild(document.createTextNode(" TTC (" + t.total_ht + " HT)"));
    wrap.appendChild(total);
    const first = result.annees[0];
    (first.avertissements || []).forEach(function (w) {
      const p = document.createElement("p");
      p.className = "attention";
      p.textContent = "Attention : " + w;
      wrap.appendChild(p);
    });
    if (result.incomplet) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = "Des prestations sont sur devis ou sans prix publié : elles ne sont pas comptées.";
      wrap.appendChild(p);
    }
    return wrap;
  }

  const refresh = debounce(function () {
    const data = body();
    fetch(form.dataset.api, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(data),
    })
      .then(function (r) { return r.json().then(function (json) { return [r.status, json]; }); })
      .then(function (pair) {
        const code = pair[0];
        const json = pair[1];
        if (code !== 200) {
          region.innerHTML = "";
          const p = document.createElement("p");
          p.className = "erreurs";
          p.textContent = json.detail || "Calcul impossible.";
          region.appendChild(p);
          return;
        }
        if (json.offres) { offers(json.offres); }
        region.innerHTML = "";
        if (!data.services.length && !data.jours_intervention) {
          const p = document.createElement("p");
          p.textContent = "Cochez un ou plusieurs services, puis « Calculer ma sélection ».";
          region.appendChild(p);
          return;
        }
        region.appendChild(summary(json));
      })
      .catch(function () { /* la page reste utilisable par son formulaire */ });
  }, 350);

  form.addEventListener("change", refresh);
  form.addEventListener("input", function (event) {
    if (event.target && event.target.type === "text") { refresh(); }
  });
})();
