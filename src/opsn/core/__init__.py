"""Cœur de tarification d'opsn : pur Python, sans Django, sans horloge.

Le cœur lit des catalogues (fichiers YAML), des valeurs d'indice et des
scénarios, et calcule ce qu'un adhérent doit pour une année. Il ne lit jamais
la date du jour : toutes les dates lui sont passées.
"""

from opsn.core.native import activate as _activate_native

# cœur compilé pour ces sources exactes, s'il existe (`opsn coeur compiler`) ; sinon Python
_activate_native(__path__)
