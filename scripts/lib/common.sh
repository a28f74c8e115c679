# Shared helpers for scripts/dev, scripts/test, scripts/bench, scripts/fresh-check
# and scripts/compose.
# Sourced, not executed.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"
    fi
}

# Installs Debian packages that are missing (only those), e.g.
#   ensure_packages postgresql:initdb openssl:openssl curl:curl
# Each argument is PACKAGE:PROBE where PROBE is a command that proves it is there.
ensure_packages() {
    local missing=() spec pkg probe
    for spec in "$@"; do
        pkg=${spec%%:*}; probe=${spec#*:}
        if [ "$probe" = initdb ]; then
            pg_bin_dir >/dev/null 2>&1 || missing+=("$pkg")
        elif ! command -v "$probe" >/dev/null 2>&1; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing missing packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Directory holding initdb/pg_ctl of the newest installed PostgreSQL.
pg_bin_dir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] || return 1
    echo "$dir"
}

# Runs a Postgres server binary as an unprivileged user: initdb and pg_ctl
# refuse to run as root, so root uses the `postgres` account.
pg_run() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# True if nothing accepts TCP connections on 127.0.0.1:$1.
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free loopback port at random from 20000 up to the start of the kernel's
# ephemeral range.
free_port() {
    # Below the kernel's ephemeral range: a port picked inside it can be taken by
    # an outgoing connection (a service dialling Postgres) before the listener binds.
    local port tries=0 low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 21024 ] 2>/dev/null || low=32768
    while [ $tries -lt 100 ]; do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % (low - 20000) ))
        port_is_free "$port" && { echo "$port"; return 0; }
        tries=$((tries + 1))
    done
    die "no free loopback port found"
}

# pick_ports VAR...: sets each VAR to a free loopback port, all different.
# (Separate free_port calls may return the same port twice while nothing is
# listening on it yet.)
pick_ports() {
    local var port taken=" " tries
    for var in "$@"; do
        tries=0
        while :; do
            port=$(free_port) || exit 1
            [[ $taken == *" $port "* ]] || break
            tries=$((tries + 1)); [ $tries -lt 100 ] || die "no free loopback port found"
        done
        taken+="$port "
        printf -v "$var" '%s' "$port"
    done
}

# pg_start DATA_DIR PORT [extra postgres -c options...]
# Initialises DATA_DIR if empty and starts a server on 127.0.0.1:PORT with its
# socket inside DATA_DIR/socket. Trust auth: loopback-only, for dev and tests.
pg_start() {
    local data=$1 port=$2; shift 2
    local bin; bin=$(pg_bin_dir) || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    mkdir -p "$data"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$data"
        # root runs the server as `postgres`, which must reach DATA through every parent
        runuser -u postgres -- test -w "$data" \
            || die "the postgres account cannot reach $data (a parent directory such as /root is not world-searchable): put the repository (or CERTCTL_DEV_DATA) elsewhere"
    fi
    chmod 700 "$data"
    if [ ! -f "$data/db/PG_VERSION" ]; then
        pg_run mkdir -p "$data/db" "$data/socket"
        pg_run "$bin/initdb" -D "$data/db" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 \
            || { cat "$data/initdb.log" >&2; die "initdb failed"; }
    fi
    local opts="-p $port -k $data/socket -c listen_addresses=127.0.0.1"
    for extra in "$@"; do opts="$opts -c $extra"; done
    pg_run "$bin/pg_ctl" -D "$data/db" -l "$data/postgres.log" -w -t 30 -o "$opts" start >/dev/null \
        || { tail -n 20 "$data/postgres.log" >&2; die "postgres did not start (log: $data/postgres.log)"; }
}

# pg_require_passwords DATA_DIR: loopback TCP connections need a password
# (scram-sha-256), so each certctl service role's password counts; the
# superuser `postgres` still connects, without one, through the cluster's own
# socket directory (DATA_DIR/socket, reachable by its owner only). For the dev
# stack; the throwaway test cluster stays trust.
pg_require_passwords() {
    local data=$1 bin
    bin=$(pg_bin_dir) || die "PostgreSQL server binaries not found"
    pg_run sh -c "printf '%s\n' 'local all postgres trust' 'host all all 127.0.0.1/32 scram-sha-256' > '$data/db/pg_hba.conf'"
    pg_run "$bin/pg_ctl" -D "$data/db" reload >/dev/null
}

# service_database_env NAME DATA_DIR: the CERTCTL_DATABASE_URL and
# CERTCTL_DATABASE_PASSWORD_FILE lines of certctl-NAME's own database role on
# the dev stack in DATA_DIR (`scripts/dev up` provisions the roles).
service_database_env() {
    local name=$1 data=$2
    echo "CERTCTL_DATABASE_URL=postgres://certctl_$name@127.0.0.1:$(cat "$data/pg/port")/certctl?sslmode=disable"
    echo "CERTCTL_DATABASE_PASSWORD_FILE=$data/secrets/db/certctl_$name.password"
}

pg_stop() {
    local data=$1 bin
    bin=$(pg_bin_dir) || return 0
    [ -f "$data/db/postmaster.pid" ] || return 0
    pg_run "$bin/pg_ctl" -D "$data/db" -m fast -w stop >/dev/null 2>&1 || true
}

pg_is_running() {
    local data=$1 bin
    bin=$(pg_bin_dir) || return 1
    pg_run "$bin/pg_ctl" -D "$data/db" status >/dev/null 2>&1
}

# swift_build ARGS...: `swift build` with the Swift runtime's hashing seeded the
# same way in every run. SwiftPM 6.3 writes package-trait defines (Hummingbird's
# -DConfigurationSupport and -DFullFoundation) in Set order, which otherwise
# changes from one invocation to the next; a new order is a new compile command,
# so Hummingbird and everything built on it compile again (about a minute on 2
# cores). Only builds get this: tests and services keep randomly seeded hashing.
swift_build() { SWIFT_DETERMINISTIC_HASHING=1 swift build "$@"; }

# The Swift toolchain is not a Debian package: say so plainly if it is missing.
require_swift() {
    command -v swift >/dev/null 2>&1 || die "swift not found: install the Swift 6 toolchain (swift.org) and put it on PATH"
}

# ---------------------------------------------------------------------------
# Containers (scripts/fresh-check, scripts/compose): rootful podman.

# ensure_podman: installs podman, runc and mmdebstrap when missing and, when
# there is no /etc/containers/containers.conf, writes one that works on these
# machines (crun refuses their hybrid cgroups; podman's default ulimits exceed
# the sandbox's). Says what it changed.
ensure_podman() {
    ensure_packages podman:podman runc:runc mmdebstrap:mmdebstrap
    if [ ! -s /etc/containers/containers.conf ]; then
        log "writing /etc/containers/containers.conf (runtime runc, cgroup_manager cgroupfs, ulimits nofile=1024 nproc=1000)"
        as_root mkdir -p /etc/containers
        as_root tee /etc/containers/containers.conf >/dev/null <<'CONF'
# Written by certctl's scripts (lib/common.sh ensure_podman): crun refuses the
# hybrid cgroups here and podman's default ulimits exceed the sandbox's.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
    fi
}

# ensure_base_image IMAGE SCRATCH-DIR [--rebuild]: a minimal Debian bookworm
# (mmdebstrap --variant=minbase, main + updates + security) imported as IMAGE
# when it does not exist yet (or --rebuild). Returns 0 if it built one.
ensure_base_image() {
    local image=$1 scratch=$2
    if [ "${3:-}" != --rebuild ] && podman image exists "$image"; then return 1; fi
    log "building $image with mmdebstrap --variant=minbase bookworm"
    mmdebstrap --quiet --variant=minbase bookworm "$scratch/rootfs.tar" \
        "deb http://deb.debian.org/debian bookworm main" "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
    podman import -q "$scratch/rootfs.tar" "$image" >/dev/null
    rm -f "$scratch/rootfs.tar"
    return 0
}
