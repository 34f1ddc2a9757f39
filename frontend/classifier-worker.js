// The image model's worker: the app's own WebAssembly, started here, answers the page's
// classification requests off its main thread (app/src/ui/vision/worker.rs).
//
// onnxruntime-web is loaded by ort-web's loader, which expects a page: it adds a <script> for
// onnxruntime-web's bundle to `document.head`. In a worker there is no document, so for that one
// call the loader gets a stand-in that imports the bundle's module build instead.
import init, { classifier_worker } from './ai-channels.js';

function standIn(tag) {
  const listeners = {};
  return {
    tag,
    setAttribute() {},
    addEventListener(type, listener) {
      listeners[type] = listener;
    },
    dispatch(type, event) {
      listeners[type]?.(event);
    },
  };
}

self.window = self;
self.document = {
  createElement: standIn,
  head: {
    appendChild(element) {
      if (element.tag !== 'script') return; // preload hints: nothing to do in a worker
      delete self.document;
      delete self.window;
      import(String(element.src).replace(/\.js$/, '.mjs')).then(
        (module) => {
          self.ort = { ...module };
          self.window = self;
          element.dispatch('load');
          delete self.window;
        },
        (error) => element.dispatch('error', { error }),
      );
    },
  },
};

await init({ module_or_path: new URL('./ai-channels_bg.wasm', import.meta.url) });
classifier_worker();
