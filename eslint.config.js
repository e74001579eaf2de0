// ESLint (flat config): the recommended rules, with each file's globals
// taken from where it runs. `cargo xtask test lint` runs `eslint .`.
import js from '@eslint/js';
import globals from 'globals';

// web/js/: pages/ (page modules), workers/ (Web Workers), shared/ (imported by either).
// Shared modules that workers import too may use only what both have.
const SHARED = ['age-stream', 'buffer-pool', 'hashing', 'rpc', 'run-codec', 'wasm'].map((m) => `web/js/shared/${m}.js`);
const WORKERS = ['web/js/workers/*.js', 'tests/browser/pages/*-worker.js'];

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
  // The add-in's panes: pages with Office.js (a global from Microsoft's script tag).
  { files: ['web/addin/**/*.js'], ignores: ['web/addin/commands-handler.js'], languageOptions: { globals: { ...globals.browser, Office: 'readonly', OfficeRuntime: 'readonly' } } },
  // The send check also runs in classic Outlook's JavaScript-only runtime: ES2016, one script, no DOM.
  {
    files: ['web/addin/commands-handler.js'],
    languageOptions: {
      ecmaVersion: 2016,
      sourceType: 'script',
      globals: { Office: 'readonly', OfficeRuntime: 'readonly', KluisPolicy: 'readonly', KLUIS_SERVER: 'readonly', fetch: 'readonly', localStorage: 'readonly', setTimeout: 'readonly', Promise: 'readonly' },
    },
    // ES2016 has no `catch {}` without a binding.
    rules: { 'no-unused-vars': ['error', { varsIgnorePattern: '^onMessageSendHandler$', caughtErrors: 'none' }] },
  },
  // The wrapper around the content check's wasm2js output (policy/js): ES2016, one script.
  { files: ['policy/js/wrapper.js'], languageOptions: { ecmaVersion: 2016, sourceType: 'script' } },
  // The Office.js stand-in runs in the test browser.
  { files: ['tests/browser/support/office-stand-in.js'], languageOptions: { sourceType: 'script', globals: globals.browser } },
  // Registered without { type: 'module' }: a classic script.
  { files: ['web/sw.js'], languageOptions: { sourceType: 'script', globals: globals.serviceworker } },
  { files: ['tests/**/*.{js,mjs}', 'xtask/**/*.{js,mjs}', 'addin-manifest/**/*.mjs', 'docs/**/*.mjs', 'eslint.config.js'], ignores: WORKERS, languageOptions: { globals: globals.node } },
  { files: ['docs/screenshots/take.mjs'], languageOptions: { globals: { window: 'readonly', document: 'readonly', localStorage: 'readonly' } } },
  // Callbacks handed to Playwright's page.evaluate / addInitScript / waitForFunction
  // run in the page, not in Node: only the page globals they use, only where they do.
  { files: ['tests/browser/send-receive.test.mjs', 'tests/browser/signin.test.mjs', 'tests/browser/admin.test.mjs', 'tests/browser/inbound.test.mjs'], languageOptions: { globals: { document: 'readonly' } } },
  { files: ['tests/browser/addin.test.mjs', 'tests/browser/addin-inbox.test.mjs'], languageOptions: { globals: { window: 'readonly', document: 'readonly', localStorage: 'readonly' } } },
  { files: ['tests/browser/support/pages.mjs', 'tests/browser/portal.test.mjs'], languageOptions: { globals: { window: 'readonly' } } },
  { files: ['tests/browser/support/inbound.mjs'], languageOptions: { globals: { window: 'readonly', localStorage: 'readonly' } } },
  { files: ['tests/bench/wasm.mjs'], languageOptions: { globals: { Worker: 'readonly' } } },
];
