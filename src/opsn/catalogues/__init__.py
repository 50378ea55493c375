"""Catalogues dans le navigateur : versions d'un opérateur, dépôt d'un fichier validé par le
chargeur de la ligne de commande, tableaux des annexes, version de l'année suivante
(révision par l'indice ou à la main), prix manquants, différences entre deux versions."""
