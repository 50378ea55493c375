#!/usr/bin/env bash
# Démarre un serveur PostgreSQL jetable (socket Unix locale, aucun port réseau) et affiche
# l'URL de connexion. Usage : eval "$(scripts/ci/postgres.sh start DOSSIER)" ;
# scripts/ci/postgres.sh stop DOSSIER.
set -euo pipefail
action=${1:?start ou stop}
dir=$(realpath -m "${2:?dossier du serveur jetable}")
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
run() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      run "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    run "$bin/pg_ctl" -D "$dir/data" -l "$dir/journal.log" -w -o "-k $dir -c listen_addresses='' -p 54329 -c fsync=off -c full_page_writes=off" start >/dev/null
    echo "export DATABASE_URL='postgres://postgres@${dir//\//%2F}:54329/opsn'"
    ;;
  stop)
    run "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    ;;
  *) echo "action inconnue : $action" >&2; exit 2 ;;
esac
