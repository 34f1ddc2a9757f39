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

rm -rf "$site"
mkdir -p "$site/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name ai-channels \
    "$cargo_target/wasm32-unknown-unknown/$wasm_dir/frontend.wasm"
if [ "$profile" = release ]; then
    # binaryen from npm (scripts/package.json): Debian's older wasm-opt breaks the externref table
    # that wasm-bindgen emits, and the page would not hydrate.
    echo "[build] optimising the WebAssembly (wasm-opt)"
    scripts/node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$site/pkg/ai-channels_bg.wasm" -o "$site/pkg/ai-channels_bg.wasm"
fi
cp style/main.css "$site/pkg/ai-channels.css"
# The image model's worker starts the same WebAssembly, beside it.
cp frontend/classifier-worker.js "$site/pkg/"
cp -r public/. "$site/"
# Compressed copies the server sends to browsers that accept them: the smallest for a release,
# quick ones for tests.
case "$profile" in
    release) brotli_quality=11 gzip_level=9 ;;
    *) brotli_quality=4 gzip_level=4 ;;
esac
echo "[build] compressing the site's files (brotli $brotli_quality, gzip $gzip_level)"
find "$site/pkg" -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.css' \) | while read -r file; do
    brotli --quality="$brotli_quality" --force --keep "$file"
    gzip -"$gzip_level" --force --keep --no-name "$file"
done
echo "[build] site ready in $site"
