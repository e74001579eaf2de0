// The read pane ("Open with Kluis"): finds the Kluis links in the open
// mail and opens one in the pane, where the recipient page (the same code
// as /p/{id}, served at /addin/p/{id} so Outlook may frame it) asks for
// the code and password and decrypts into files saved to disk.
import { t, tn, translate } from '../js/shared/i18n.js';
import { $, showStep } from '../js/shared/ui.js';
import { loadWasm } from '../js/shared/wasm.js';
import * as outlook from './mailbox.js';

/** Anything that could be a Kluis link; wasm's parseLink decides. */
const CANDIDATE = /https?:\/\/[^\s"'<>]+\/p\/[A-Za-z0-9_-]{1,64}#[A-Za-z0-9_-]+/g;

const steps = { searching: $('#step-searching'), none: $('#step-none'), links: $('#step-links') };

function decodeEntities(html) {
  return html.replace(/&amp;/g, '&').replace(/&#x23;|&#35;/g, '#');
}

async function bodies() {
  const item = outlook.item();
  const text = await outlook.call('reading the message', (cb) => item.body.getAsync('text', cb)).catch(() => '');
  const html = await outlook.call('reading the message', (cb) => item.body.getAsync('html', cb)).catch(() => '');
  return `${text}\n${decodeEntities(html)}`;
}

/** The distinct Kluis links in `text`: [{url, server, packageId}]. */
async function kluisLinks(text) {
  const wasm = await loadWasm();
  const found = new Map();
  for (const candidate of text.match(CANDIDATE) ?? []) {
    try {
      const link = wasm.parseLink(candidate);
      found.set(`${link.packageId}`, { url: candidate, server: link.server, packageId: link.packageId });
    } catch {
      // not a link after all
    }
  }
  return [...found.values()];
}

function openHere(link) {
  const hash = link.url.slice(link.url.indexOf('#'));
  location.assign(`/addin/p/${encodeURIComponent(link.packageId)}${hash}`);
}

async function start() {
  const host = await outlook.officeReady();
  translate();
  document.body.classList.remove('loading');
  showStep(steps.searching);
  if (!host || !globalThis.Office?.context?.mailbox?.item) {
    $('#none-hint').textContent = t('addin.outside');
    showStep(steps.none);
    return;
  }
  const links = await kluisLinks(await bodies());
  const here = links.filter((l) => new URL(l.server).origin === location.origin);
  if (here.length === 1 && links.length === 1) {
    openHere(here[0]);
    return;
  }
  if (!links.length) {
    $('#none-hint').textContent = t('read.noLinkHint', { example: `${location.origin}/p/…#…` });
    showStep(steps.none);
    return;
  }
  $('#links-title').textContent = tn('read.found', links.length);
  const list = $('#link-list');
  list.replaceChildren(
    ...links.map((link) => {
      const item = document.createElement('li');
      const local = new URL(link.server).origin === location.origin;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = local ? 'button' : 'button-secondary';
      button.textContent = local ? t('read.open') : t('read.openBrowser');
      button.addEventListener('click', () => (local ? openHere(link) : outlook.openInBrowser(link.url)));
      const where = document.createElement('p');
      where.className = 'hint';
      where.textContent = local ? link.packageId : t('read.otherServer', { server: new URL(link.server).host });
      item.append(where, button);
      return item;
    }),
  );
  showStep(steps.links);
}

start();
