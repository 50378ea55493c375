#!/usr/bin/env bash
# Paquets Debian dont les tests ont besoin : Chromium (tests de navigateur), PostgreSQL
# (base de test), poppler-utils (PDF rendus en PNG et en texte pour les vérifier), npm
# (axe-core, contrôle d'accessibilité dans Chromium). Le
# produit lui-même n'en demande aucun (PDF par Typst, polices embarquées). N'installe que
# ce qui manque. Appelé par la suite de tests elle-même
# (tests/conftest.py) : la commande de test du README suffit sur une machine neuve.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # axe-core, contrôle d'accessibilité
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installation des paquets Debian : ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
