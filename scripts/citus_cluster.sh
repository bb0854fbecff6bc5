#!/usr/bin/env bash
# A local Citus cluster on one machine, for development and the Citus tests: a coordinator and two
# workers, each its own PostgreSQL 15 data directory under DIR.
#
#   scripts/citus_cluster.sh start  [DIR]   create (first time), start, register the workers; prints the
#                                           coordinator's DSN on stdout (everything else goes to stderr)
#   scripts/citus_cluster.sh stop   [DIR]
#   scripts/citus_cluster.sh status [DIR]   exit 0 when all three nodes run, 3 otherwise
#   scripts/citus_cluster.sh dsn    [DIR]   the coordinator's DSN
#
# DIR defaults to $CITUS_DIR or /tmp/dwh-citus. Ports: CITUS_PORT (coordinator, 9700), the workers take
# the next two (9701, 9702). CITUS_DB: the warehouse database (dwh), created on every node with the
# citus extension (Citus needs the same database and extension on each node). pg_cron is preloaded on
# every node with cron.database_name = the warehouse database: Citus propagates `CREATE EXTENSION
# pg_cron` (migration 0007) to the workers, and pg_cron refuses to be created in any other database than
# its cron.database_name. Jobs are scheduled on the coordinator only (dwh schedule sync connects there);
# the workers' cron.job tables stay empty.
# The nodes listen on 127.0.0.1 only and trust local connections: a development cluster, not a
# deployment (docs/SCALE.md has the multi-server plan). PostgreSQL refuses root: as root, every
# server command runs as the postgres OS user (runuser), who must be able to write DIR.
set -euo pipefail

CMD=${1:-status}
DIR=${2:-${CITUS_DIR:-/tmp/dwh-citus}}
PORT=${CITUS_PORT:-9700}
DB=${CITUS_DB:-dwh}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
NODES=(coordinator worker1 worker2)
HOST=127.0.0.1

log() { echo "citus_cluster: $*" >&2; }

if [[ $(id -u) -eq 0 ]]; then
    RUN=(runuser -u postgres --)
    OSUSER=postgres
else
    RUN=()
    OSUSER=$(id -un)
fi
as_owner() { "${RUN[@]}" "$@"; }

port_of() {  # node name -> port
    local i
    for i in "${!NODES[@]}"; do
        [[ "${NODES[$i]}" == "$1" ]] && { echo $((PORT + i)); return; }
    done
}

psql_node() {  # psql_node PORT DB SQL: one statement, unaligned, no header; errors stop the script
    as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$HOST" -p "$1" -U postgres -d "$2" -c "$3"
}

dsn() { echo "host=$HOST port=$PORT dbname=$DB user=postgres"; }

running() { as_owner "$PGBIN/pg_ctl" status -D "$DIR/$1" >/dev/null 2>&1; }

init_node() {
    local node=$1 port
    port=$(port_of "$node")
    [[ -f "$DIR/$node/PG_VERSION" ]] && return 0
    log "initdb $DIR/$node (port $port)"
    as_owner "$PGBIN/initdb" -D "$DIR/$node" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    # citus first: Citus insists on being the first preloaded library
    as_owner tee -a "$DIR/$node/postgresql.conf" >/dev/null <<EOF

# -- dwh scripts/citus_cluster.sh --
port = $port
listen_addresses = '$HOST'
unix_socket_directories = '$DIR'
shared_preload_libraries = 'citus,pg_cron'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 32
max_connections = 200
max_prepared_transactions = 100
wal_level = logical
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF
}

start_node() {
    local node=$1
    if running "$node"; then
        return 0
    fi
    as_owner "$PGBIN/pg_ctl" start -w -t 60 -D "$DIR/$node" -l "$DIR/$node.log" >/dev/null \
        || { log "$node failed to start:"; tail -20 "$DIR/$node.log" >&2; exit 1; }
}

ensure_db() {  # the warehouse database and the citus extension on one node
    local port=$1
    if [[ -z $(psql_node "$port" postgres "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
        psql_node "$port" postgres "CREATE DATABASE \"$DB\""
    fi
    psql_node "$port" "$DB" "CREATE EXTENSION IF NOT EXISTS citus"
}

case "$CMD" in
start)
    if [[ ! -f "$PGBIN/../lib/citus.so" && ! -f "$("$PGBIN/pg_config" --pkglibdir)/citus.so" ]]; then
        log "Citus is not installed for $("$PGBIN/pg_config" --version) (scripts/build_citus.sh builds it)"
        exit 2
    fi
    if [[ ! -d "$DIR" ]]; then
        mkdir -p "$DIR"
        [[ $(id -u) -eq 0 ]] && chown "$OSUSER": "$DIR"
    fi
    chmod 700 "$DIR"
    for node in "${NODES[@]}"; do init_node "$node"; done
    for node in "${NODES[@]}"; do start_node "$node"; done
    for node in "${NODES[@]}"; do ensure_db "$(port_of "$node")"; done
    psql_node "$PORT" "$DB" "SELECT citus_set_coordinator_host('$HOST', $PORT)" >/dev/null
    for node in worker1 worker2; do
        wport=$(port_of "$node")
        if [[ -z $(psql_node "$PORT" "$DB" \
                "SELECT 1 FROM pg_dist_node WHERE nodename = '$HOST' AND nodeport = $wport") ]]; then
            psql_node "$PORT" "$DB" "SELECT citus_add_node('$HOST', $wport)" >/dev/null
            log "registered $node ($HOST:$wport)"
        fi
    done
    log "coordinator $HOST:$PORT, workers $HOST:$((PORT + 1)) $HOST:$((PORT + 2)), database $DB, dir $DIR"
    dsn
    ;;
stop)
    for node in "${NODES[@]}"; do
        if [[ -d "$DIR/$node" ]] && running "$node"; then
            as_owner "$PGBIN/pg_ctl" stop -w -m fast -D "$DIR/$node" >/dev/null
            log "stopped $node"
        fi
    done
    ;;
status)
    rc=0
    for node in "${NODES[@]}"; do
        if [[ -d "$DIR/$node" ]] && running "$node"; then
            echo "$node: running on $HOST:$(port_of "$node")"
        else
            echo "$node: not running"
            rc=3
        fi
    done
    if ((rc == 0)); then
        psql_node "$PORT" "$DB" "SELECT 'worker ' || nodename || ':' || nodeport || CASE WHEN isactive THEN ' active' ELSE ' inactive' END FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0 ORDER BY nodeport" || rc=3
        echo "dsn: $(dsn)"
    fi
    exit $rc
    ;;
dsn)
    dsn
    ;;
*)
    echo "usage: $0 start|stop|status|dsn [DIR]" >&2
    exit 2
    ;;
esac
