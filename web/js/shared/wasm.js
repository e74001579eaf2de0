// Loads the Kluis WebAssembly module once per realm (page or worker).
import init, * as kluis from '../../pkg/kluis_wasm.js';

let ready;

/** Resolves to the initialised bindings (see wasm-client/src/lib.rs). */
export function loadWasm() {
  ready ??= init({ module_or_path: new URL('../../pkg/kluis_wasm_bg.wasm', import.meta.url) }).then(() => kluis);
  return ready;
}
