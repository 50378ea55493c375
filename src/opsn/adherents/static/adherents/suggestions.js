// Ajout d'un adhérent : propositions pendant la saisie (amélioration progressive).
// Sans JavaScript, le formulaire de recherche se soumet et la page liste les résultats.
// Avec, le champ devient une liste déroulante accessible (motif « combobox » de l'ARIA) :
// flèches haut et bas pour parcourir, Entrée pour choisir, Échap pour fermer.
(function () {
  "use strict";
  const input = document.getElementById("q");
  const list = document.getElementById("suggestions");
  const status = document.getElementById("suggestions-etat");
  if (!input || !list || !status || !window.fetch) { return; }

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "suggestions");
  input.setAttribute("aria-expanded", "false");

  let items = [];
  let active = -1;
  let last = "";
  let timer = null;

  function close() {
    list.hidden = true;
    list.innerHTML = "";
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(item) {
    window.location.assign(input.dataset.cible + encodeURIComponent(item.code) +
      "&q=" + encodeURIComponent(input.value.trim()));
  }

  function highlight(index) {
    const options = list.querySelectorAll('[role="option"]');
    options.forEach(function (el, i) {
      el.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    active = index;
    if (index >= 0 && options[index]) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function describe(item) {
    let text = item.type_libelle + ", " + item.code;
    if (item.population !== null && item.population !== undefined) {
      text += ", " + item.population.toLocaleString("fr-FR") + " hab.";
    }
    if (item.agents !== null && item.agents !== undefined) {
      text += ", " + item.agents.toLocaleString("fr-FR") + " agents";
    }
    if (item.departements && item.departements.length) {
      text += " (" + item.departements.join(", ") + ")";
    }
    if (item.epci) { text += " – " + item.epci; }
    return text;
  }

  function show(found, value) {
    list.innerHTML = "";
    items = found;
    active = -1;
    found.forEach(function (item, i) {
      const li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      const name = document.createElement("strong");
      name.textContent = item.nom;
      li.appendChild(name);
      li.appendChild(document.createTextNode(" – " + describe(item)));
      li.addEventListener("mousedown", function (event) { event.preventDefault(); });
      li.addEventListener("click", function () { choose(item); });
      list.appendChild(li);
    });
    const open = found.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    status.textContent = open
      ? found.length + " proposition" + (found.length > 1 ? "s" : "") +
        " : flèches haut et bas pour parcourir, Entrée pour choisir."
      : "Aucune proposition pour « " + value + " ».";
  }

  function suggest() {
    const value = input.value.trim();
    if (value === last) { return; }
    last = value;
    if (value.length < 2) { close(); status.textContent = ""; return; }
    fetch(input.dataset.api + "&q=" + encodeURIComponent(value), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (found) {
        if (input.value.trim() === value) { show(found, value); }
      })
      .catch(function () { status.textContent = ""; });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(suggest, 200);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && items.length) {
      event.preventDefault();
      highlight(active < items.length - 1 ? active + 1 : 0);
    } else if (event.key === "ArrowUp" && items.length) {
      event.preventDefault();
      highlight(active > 0 ? active - 1 : items.length - 1);
    } else if (event.key === "Enter" && active >= 0 && items[active]) {
      event.preventDefault();
      choose(items[active]);
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", function () { setTimeout(close, 150); });
})();
