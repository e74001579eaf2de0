// ESLint (flat config): the recommended rules, with each file's globals
// taken from where it runs. `cargo xtask test lint` runs `eslint .`.
import js from '@eslint/js';
import globals from 'globals';

// Modules that both the pages and the workers import.
const SHARED = ['age-stream', 'buffer-pool', 'crypto-errors', 'hashing', 'rpc', 'wasm'].map((m) => `web/js/${m}.js`);
const WORKERS = ['web/js/*-worker.js', 'tests/browser/pages/*-worker.js'];

export default [
  // Generated (wasm-bindgen output) or not ours.
  { ignores: ['web/pkg/', 'node_modules/', 'target/', 'fuzz/', 'kluis-data/', 'bench-out/'] },
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  // Globals objects merge across blocks, so each file gets exactly one of these.
  { files: ['web/js/**/*.js'], ignores: [...WORKERS, ...SHARED], languageOptions: { globals: globals.browser } },
  // What both a page and a worker have.
  { files: SHARED, languageOptions: { globals: Object.fromEntries(Object.entries(globals.worker).filter(([name]) => name in globals.browser)) } },
  { files: WORKERS, languageOptions: { globals: globals.worker } },
  // Registered without { type: 'module' }: a classic script.
  { files: ['web/sw.js'], languageOptions: { sourceType: 'script', globals: globals.serviceworker } },
  { files: ['tests/**/*.{js,mjs}', 'xtask/**/*.{js,mjs}', 'addin-manifest/**/*.mjs', 'eslint.config.js'], ignores: WORKERS, languageOptions: { globals: globals.node } },
  // Callbacks handed to Playwright's page.evaluate / addInitScript / waitForFunction
  // run in the page, not in Node: only the page globals they use, only where they do.
  { files: ['tests/browser/send-receive.test.mjs'], languageOptions: { globals: { document: 'readonly' } } },
  { files: ['tests/browser/support/pages.mjs'], languageOptions: { globals: { window: 'readonly' } } },
  { files: ['tests/bench/wasm.mjs'], languageOptions: { globals: { Worker: 'readonly' } } },
];
