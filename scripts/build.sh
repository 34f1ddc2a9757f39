#!/usr/bin/env bash
# Builds the server and the site (WebAssembly, CSS, public files) into target/site, with plain
# cargo + wasm-bindgen (no cargo-leptos needed). `build.sh dev` for tests, `build.sh release` to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-dev}
cargo_target=${CARGO_TARGET_DIR:-target}
site=target/site

case "$profile" in
    dev) server_flags=(); wasm_flags=(); wasm_dir=debug ;;
    release) server_flags=(--release); wasm_flags=(--profile wasm-release); wasm_dir=wasm-release ;;
    *) echo "usage: $0 dev|release" >&2; exit 2 ;;
esac

echo "[build] server ($profile)"
cargo build --quiet -p server "${server_flags[@]}"
echo "[build] browser app ($profile, wasm32)"
cargo build --quiet -p frontend --target wasm32-unknown-unknown "${wasm_flags[@]}"

wasm="$cargo_target/wasm32-unknown-unknown/$wasm_dir/frontend.wasm"
if [ "$profile" = release ]; then
    # Optimise before wasm-bindgen: Debian's binaryen mishandles the externref table that
    # wasm-bindgen adds, and the page would fail to hydrate.
    echo "[build] optimising the WebAssembly (wasm-opt)"
    wasm-opt -Oz "$wasm" -o "$cargo_target/frontend.opt.wasm"
    wasm="$cargo_target/frontend.opt.wasm"
fi

rm -rf "$site"
mkdir -p "$site/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name ai-channels "$wasm"
cp style/main.css "$site/pkg/ai-channels.css"
cp -r public/. "$site/"
echo "[build] site ready in $site"
