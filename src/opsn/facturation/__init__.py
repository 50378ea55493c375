"""Facturation : campagnes, factures, numérotation, avoirs, documents (PDF, Factur-X),
exports (titres, PES), journal."""
