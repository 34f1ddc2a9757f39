#!/usr/bin/env bash
# Installs whatever is missing for `make run` (`setup.sh run`) or `make test` (`setup.sh test`).
# Everything comes from the package registries: crates.io, PyPI, npm and Debian. Re-runs are quick
# no-ops when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.env
purpose=${1:-test}

say() { echo "[setup] $*"; }
die() { echo "[setup] error: $*" >&2; exit 1; }

apt_install() {
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing Debian packages: $*"
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed; is the Debian mirror reachable?"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || die "cannot install Debian packages: $*"
}

rust_tools() {
    command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    local want have
    want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
    have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
    if [ "$have" != "$want" ]; then
        say "installing wasm-bindgen-cli $want (matches Cargo.lock; takes a few minutes)"
        cargo install --quiet wasm-bindgen-cli --version "$want" || die "cannot install wasm-bindgen-cli $want from crates.io"
    fi
    say "rust tools ready (wasm-bindgen $want)"
}

debian_tools() {
    if [ "$purpose" = test ] && [ ! -x /usr/bin/chromium ]; then
        apt_install chromium
    fi
    # Text in pictures attached to chat messages is read by tesseract's OCR.
    if ! command -v tesseract >/dev/null; then
        apt_install tesseract-ocr
    fi
    # Files browsers download are stored brotli-compressed beside the originals.
    if ! command -v brotli >/dev/null; then
        apt_install brotli
    fi
    # The replica tests run a throw-away Redis on loopback.
    if [ "$purpose" = test ] && ! command -v redis-server >/dev/null; then
        apt_install redis-server
    fi
    # The replica tests put Debian's nginx in front of two replicas.
    if [ "$purpose" = test ] && ! command -v nginx >/dev/null; then
        apt_install nginx
    fi
    # The Rust tests run again on a throw-away PostgreSQL (scripts/with-postgres.sh).
    if [ "$purpose" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        apt_install postgresql
    fi
    # The browser tests look into the database the server writes.
    if [ "$purpose" = test ] && ! command -v sqlite3 >/dev/null; then
        apt_install sqlite3
    fi
    say "debian tools ready"
}

# npm packages from a lock file: binaryen's wasm-opt for release builds (`make run`), Playwright
# for the browser tests (`make test`).
npm_tools() {
    local dir=$1 what=$2
    command -v npm >/dev/null || die "npm is missing: install Node.js with npm"
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json"; then
        say "installing $what (npm ci in $dir)"
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund) \
            || die "cannot install $dir/package-lock.json from the npm registry"
    fi
    say "$what ready"
}

python_env() {
    command -v python3 >/dev/null || die "python3 is missing"
    [ -x .venv/bin/python ] || python3 -m venv .venv || die "cannot create .venv (install python3-venv)"
    if ! cmp -s scripts/requirements.txt .venv/requirements.installed; then
        say "installing Python packages into .venv"
        if ! .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt; then
            grep -Ev '^(#|$)' scripts/requirements.txt | while read -r requirement; do
                .venv/bin/pip install --quiet --disable-pip-version-check "$requirement" \
                    || die "cannot install $requirement from PyPI; is the registry reachable?"
            done
        fi
        cp scripts/requirements.txt .venv/requirements.installed
    fi
    say "python packages ready"
}

rust_tools
debian_tools
python_env
.venv/bin/python scripts/assets.py models
if [ "$purpose" = test ]; then
    npm_tools end2end "end-to-end test packages"
else
    npm_tools scripts "build tools (wasm-opt)"
fi
