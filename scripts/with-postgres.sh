#!/usr/bin/env bash
# Runs a command beside a throw-away PostgreSQL server (Debian's, which the set-up installs):
# its own data directory, a free loopback port, trusted local connections, stopped and removed
# afterwards. The command finds the server in TEST_POSTGRES (postgres://aic@127.0.0.1:PORT).
# For tests it skips durability (no fsync); `--durable` keeps PostgreSQL's defaults, for benchmarks.
set -euo pipefail
durable=false
if [ "${1:-}" = --durable ]; then
    durable=true
    shift
fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is missing: run scripts/setup.sh test" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/aic-postgres.XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# PostgreSQL refuses to run as root: then it runs as Debian's `postgres` user.
as_owner=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as_owner=(runuser -u postgres --)
fi
stop() {
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U aic --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" \
    || { cat "$dir/initdb.log" >&2; exit 1; }
options="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300"
# Tests need no durability: without fsync, creating each test's database is fast.
$durable || options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "$options" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
export TEST_POSTGRES="postgres://aic@127.0.0.1:$port"
"$@"
