// The Outlook add-in manifest as an administrator uploads it: fetched from a
// real kluis-server answering HTTPS (Outlook takes no http:// add-in), converted
// offline to the unified JSON manifest with Microsoft's
// office-addin-manifest-converter, validated against the JSON schema that
// @microsoft/app-manifest ships (`office-addin-manifest validate` needs
// Microsoft's online service), and every URL it names fetched from the server.
// (fs-extra is a devDependency only because @microsoft/app-manifest 1.1.2
// requires it without declaring it.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import converter from 'office-addin-manifest-converter';
import appManifest from '@microsoft/app-manifest';

import { KluisServer } from './support/kluis.mjs';

// The first schema version whose ribbon controls take all eight icon sizes
// (16/20/24/32/40/48/64/80); the converter's default (1.17) allows three.
const SCHEMA_VERSION = '1.30';
const SCHEMAS = join(
  dirname(createRequire(import.meta.url).resolve('@microsoft/app-manifest')),
  'json-schemas/teams',
  `v${SCHEMA_VERSION}`,
);

let server;
let dir;
let xml;

before(async () => {
  server = await KluisServer.start({ tls: true });
  dir = mkdtempSync(join(tmpdir(), 'kluis-manifest-'));
  const answer = await server.get('/addin/manifest.xml');
  assert.equal(answer.status, 200);
  assert.match(answer.headers['content-type'], /^application\/xml/);
  xml = answer.body.toString('utf8');
});

after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every http(s) URL the XML names, in attribute values and element text. */
function urlsIn(text) {
  const found = new Set();
  for (const [, url] of text.matchAll(/(?:DefaultValue="|<AppDomain>)(https?:\/\/[^"<]+)/g)) found.add(url);
  return [...found];
}

test('the manifest converts to a unified manifest that validates against Microsoft\'s schema, offline', async () => {
  const input = join(dir, 'manifest.xml');
  const output = join(dir, 'json');
  writeFileSync(input, xml);
  const schemaUrl = `https://developer.microsoft.com/json-schemas/teams/v${SCHEMA_VERSION}/MicrosoftTeams.schema.json`;
  await converter.convert(input, output, false, schemaUrl, SCHEMA_VERSION, false);
  assert.notEqual(process.exitCode, 1, 'the converter reported an error');
  const manifest = JSON.parse(readFileSync(join(output, 'manifest.json'), 'utf8'));
  assert.equal(manifest.manifestVersion, SCHEMA_VERSION);

  const schema = JSON.parse(readFileSync(join(SCHEMAS, 'MicrosoftTeams.schema.json'), 'utf8'));
  const failures = await appManifest.AppManifestUtils.validateAgainstSchema(manifest, schema);
  assert.deepEqual(failures, [], 'schema violations');

  // What the XML meant survived the conversion.
  const extension = manifest.extensions[0];
  assert.deepEqual(extension.requirements.capabilities, [{ name: 'Mailbox', minVersion: '1.8' }]);
  const send = extension.autoRunEvents.flatMap((e) => e.events);
  assert.deepEqual(send, [{ type: 'messageSending', actionId: 'onMessageSendHandler', options: { sendMode: 'softBlock' } }]);
  const runtime = extension.runtimes.find((r) => r.actions.some((a) => a.id === 'onMessageSendHandler'));
  assert.equal(runtime.code.page, `${server.url}/addin/commands.html`);
  assert.match(runtime.code.script, new RegExp(`^${server.url}/.+\\.js$`), 'the classic Windows runtime gets one script');
  const controls = extension.ribbons.flatMap((r) => r.tabs.flatMap((t) => t.groups.flatMap((g) => g.controls)));
  assert.ok(controls.some((c) => c.id === 'kluisSendSecurelyButton' && c.label === 'Send securely'));
  assert.ok(controls.some((c) => c.id === 'kluisOpenWithKluisButton' && c.label === 'Open with Kluis'));
  const request = controls.find((c) => c.id === 'kluisRequestFilesButton');
  assert.equal(request?.label, 'Request files');
  const requestAction = extension.runtimes.flatMap((r) => r.actions).find((a) => a.id === request.actionId);
  assert.ok(requestAction, 'Request files opens a task pane');
  const requestPage = extension.runtimes.find((r) => r.actions.includes(requestAction)).code.page;
  assert.equal(requestPage, `${server.url}/addin/taskpane.html?mode=request`);
  assert.ok(controls.every((c) => c.icons.length === 8), 'eight icon sizes on every button');
  assert.deepEqual(manifest.validDomains, [server.url]);

  // Dutch beside English: every localised key names a string of the manifest.
  const dutch = JSON.parse(readFileSync(join(output, 'nl-nl.json'), 'utf8'));
  const labels = Object.entries(dutch).filter(([key]) => key.endsWith('.label')).map(([, v]) => v);
  assert.ok(labels.includes('Veilig versturen') && labels.includes('Openen met Kluis') && labels.includes('Bestanden opvragen'), JSON.stringify(dutch));
  for (const key of Object.keys(dutch).filter((k) => k !== '$schema')) {
    const value = key.split(/\.(?![^[]*\])/).reduce((node, part) => {
      const [, name, index] = part.match(/^([^[]+)(?:\[(\d+)\])?$/);
      const child = node?.[name];
      return index === undefined ? child : child?.[Number(index)];
    }, manifest);
    assert.equal(typeof value, 'string', `${key} is not a string of the manifest`);
  }
});

test('every URL the manifest names is served, with the right content type', async () => {
  const urls = urlsIn(xml);
  assert.ok(urls.length > 10, `too few URLs: ${urls}`);
  const expected = [
    [/\.html$|\/$/, /^text\/html/],
    [/\.png$/, /^image\/png$/],
    [/\.js$/, /^(text|application)\/javascript/],
  ];
  for (const url of urls) {
    assert.ok(url.startsWith(server.url), `${url} is not on this server`);
    const path = url.slice(server.url.length) || '/';
    const answer = await server.get(path);
    assert.equal(answer.status, 200, `GET ${url}`);
    const [, type] = expected.find(([pattern]) => pattern.test(path)) ?? [null, /^text\/html/];
    assert.match(answer.headers['content-type'] ?? '', type, `content type of ${url}`);
  }
  for (const needed of ['/addin/taskpane.html', '/addin/taskpane.html?mode=request', '/addin/read.html', '/addin/commands.html', '/addin/icons/icon-80.png']) {
    assert.ok(urls.includes(`${server.url}${needed}`), `${needed} is not in the manifest`);
  }
});
