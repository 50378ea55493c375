"""Adhérents dans le navigateur : ajout depuis le référentiel (communes, EPCI) ou saisi
(syndicat, CCAS, établissement public, budget annexe), montants sur devis des abonnements,
suppression d'un relevé d'usage ou d'une intervention saisis par erreur."""
