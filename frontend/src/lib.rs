//! The browser entry point: hydrates the server-rendered page with the same [`app::App`].
#![warn(missing_docs)]
// Leptos views are deeply nested types; the default limit is too low for a whole app.
#![recursion_limit = "256"]

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the page's module script once the WebAssembly is loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

/// Called by `/pkg/classifier-worker.js` in the image model's worker once the WebAssembly is loaded
/// there: answers the page's classification requests.
#[wasm_bindgen]
pub fn classifier_worker() {
    console_error_panic_hook::set_once();
    app::ui::vision::serve_classifier_worker();
}
