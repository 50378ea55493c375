"""Back-office Django : la coquille autour du cœur de tarification (services, sélecteurs, vues)."""
