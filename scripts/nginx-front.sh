#!/usr/bin/env bash
# Runs Debian's nginx in the foreground in front of replicas on this machine, with the deployment
# example (deploy/nginx.conf) as it is but for its listen port and its list of replicas:
#
#   scripts/nginx-front.sh DIR PORT REPLICA_PORT...
#
# DIR (which the caller creates and removes) holds the configuration, logs and temporary files;
# nginx listens on 127.0.0.1:PORT and takes the replicas on 127.0.0.1:REPLICA_PORT in turn. The
# replica tests and the browser tests use it.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 DIR PORT REPLICA_PORT..." >&2
    exit 2
fi
dir=$(cd "$1" && pwd)
port=$2
shift 2
example="$(dirname "$0")/../deploy/nginx.conf"

servers=""
for replica in "$@"; do
    servers+="    server 127.0.0.1:${replica};\n"
done
# Replace the example's two replicas by ours, and its port by ours; fail if it no longer has them.
grep -q '^    server 127.0.0.1:3001;$' "$example" && grep -q 'listen 8080;' "$example" || {
    echo "deploy/nginx.conf no longer lists 127.0.0.1:3001 and 8080" >&2
    exit 1
}
sed -e "/^    server 127.0.0.1:3002;$/d" \
    -e "s|^    server 127.0.0.1:3001;$|${servers%\\n}|" \
    -e "s|listen 8080;|listen 127.0.0.1:${port};|" \
    "$example" > "$dir/site.conf"

cat > "$dir/nginx.conf" <<EOF
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {}
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/site.conf;
}
EOF

exec nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
