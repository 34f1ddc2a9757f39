// The image model's worker: the app's own WebAssembly, started here, answers the page's
// classification requests off its main thread (app/src/ui/vision/worker.rs).
//
// A classic worker, so that LiteRT's WebAssembly can be started with `importScripts`; the app's
// module is imported dynamically.
import('./ai-channels.js').then(async ({ default: init, classifier_worker }) => {
  await init({ module_or_path: new URL('./ai-channels_bg.wasm', self.location.href) });
  classifier_worker();
});
