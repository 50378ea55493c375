"""Stockage des fichiers statiques servis par WhiteNoise.

`CompressedManifestStaticFilesStorage` de WhiteNoise : `collectstatic` (lancé par
`opsn serveur` et `opsn demo` au démarrage) copie les fichiers dans
`$OPSN_DONNEES/static`, les renomme avec l'empreinte de leur contenu (`style.3f2a….css`)
et les compresse ; WhiteNoise les sert avec un cache d'un an.

Tant que `collectstatic` n'a pas tourné (tests, `opsn gerer shell`), le manifeste n'existe
pas : les adresses restent alors les noms d'origine au lieu de lever une erreur à chaque page.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        if not self.hashed_files and not self.manifest_hash:
            return name
        return super().stored_name(name)
