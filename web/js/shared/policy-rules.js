// The organisation's send rules in the browser: the plan of a package
// (recipients, file types from names and first bytes, size, choices), the
// breaches kluis_policy::check finds in it (WebAssembly: the same check the
// server runs at creation), and each breach in the page's language.
import { formatBytes, t } from './i18n.js';

/** Bytes of a file the type sniffing reads. */
const HEAD = 16;

/** The policy document of a GET /policy answer ({version, content, rules}). */
export function policyDocument(view) {
  return { version: view.version ?? 0, send: view.rules ?? {}, content: view.content ?? {} };
}

/** Every type of `files` (File or Blob with a name): extensions and what the first bytes show. */
export async function fileTypesOf(wasm, files) {
  const types = new Set();
  for (const file of files) {
    const head = new Uint8Array(await file.slice(0, HEAD).arrayBuffer());
    for (const type of wasm.fileTypes(file.name ?? '', head)) types.add(type);
  }
  return [...types];
}

/** A breach (`{rule, …}`, from the check or a server's `policy_*` error) in words. */
export function breachText(breach) {
  const vars = { ...breach };
  if (breach.limit != null) vars.size = formatBytes(Number(breach.limit));
  const key = `policy.breach.${breach.rule}`;
  const text = t(key, vars);
  return text === key ? (breach.message ?? t('policy.breach.other')) : text;
}
