#!/bin/sh
# Starts as root only to prepare the data directory and read the password
# secret, then execs the server as `postgres` (setpriv: no lingering parent).
set -eu
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${POSTGRES_PASSWORD_FILE:?set POSTGRES_PASSWORD_FILE (the superuser password secret)}"
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$(dirname "$PGDATA")" "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "certctl-postgres: initialising $PGDATA"
    pwfile=$(mktemp)
    tr -d '\n' <"$POSTGRES_PASSWORD_FILE" >"$pwfile"
    chown postgres "$pwfile"; chmod 600 "$pwfile"
    setpriv --reuid=postgres --regid=postgres --init-groups \
        initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    # The socket inside the container: the OS user postgres, and root (what
    # `podman exec` / `docker compose exec` runs as), may connect as the
    # superuser postgres, so the runbook's `exec postgres psql -U postgres`
    # and `pg_dump -U postgres` work. Every TCP connection needs its password.
    printf '%s\n' 'local all all peer map=container' 'host all all all scram-sha-256' >"$PGDATA/pg_hba.conf"
    printf '%s\n' 'container postgres postgres' 'container root postgres' >"$PGDATA/pg_ident.conf"
    printf '%s\n' "listen_addresses = '*'" "max_connections = 200" >>"$PGDATA/postgresql.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
