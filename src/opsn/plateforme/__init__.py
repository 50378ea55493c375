"""Préoccupations de la plateforme : exploitation (serveur, réglages), exports sûrs, pages
d'erreur ; opérateurs, utilisateurs et données de référence à terme (docs/architecture)."""
