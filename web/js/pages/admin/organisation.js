// Organisation: its name, mail domains and settings (expiry within the
// server's, how long the audit log is kept), and its single sign-on
// (OpenID Connect): the redirect URI to register at the provider, the
// provider's issuer, the client id and secret (which goes in, never comes
// back), whether first sign-ins make users, and turning it off. Whether
// recipients may reply securely, and key recovery (recovery.js). And the
// export of everything the organisation owns (GET /admin/export, a tar
// archive made while it downloads; allowed even when the licence lapsed).
import { formatBytes, formatDate, formatNumber, t } from '../../shared/i18n.js';
import { $, busy, copyField, fieldError } from '../../shared/ui.js';
import { adminApi, adminRaw, confirmAction, errorText } from './common.js';
import { setupRecovery } from './recovery.js';

/** The audit log is kept at most this many days (server/src/domain/organisations.rs). */
const RETENTION_MAX = 36500;

/** `onName(name)`: the organisation's name changed (the console's header shows it). */
export function setupOrganisation({ notice, onName }) {
  const orgForm = $('#org-form');
  const ssoForm = $('#sso-form');
  /** The server's limits, from the last answer. */
  let limits = { default_expiry_days: 7, max_expiry_days: 30 };

  const days = (n) => t('admin.org.days', { n: formatNumber(n) });
  const number = (input) => {
    const raw = input.value.trim();
    return raw === '' ? null : Number(raw);
  };
  const whole = (n, max) => n === null || (Number.isInteger(n) && n >= 1 && n <= max);

  function fillOrganisation(org) {
    limits = org.server_limits;
    const s = org.settings;
    $('#org-name').value = org.name;
    $('#org-domains').value = org.domains.join('\n');
    $('#org-default-expiry').value = s.default_expiry_days ?? '';
    $('#org-max-expiry').value = s.max_expiry_days ?? '';
    $('#org-retention').value = s.audit_retention_days ?? '';
    // Absent: on.
    $('#org-replies').checked = s.replies !== false;
    $('#org-max-expiry').max = limits.max_expiry_days;
    $('#org-default-expiry').max = s.max_expiry_days ?? limits.max_expiry_days;
    $('#org-default-expiry-hint').textContent = t('admin.org.defaultExpiryHint', { days: days(limits.default_expiry_days) });
    $('#org-max-expiry-hint').textContent = t('admin.org.maxExpiryHint', { days: days(limits.max_expiry_days) });
    $('#org-created').textContent = t('admin.org.created', { date: formatDate(org.created_at) });
    onName(org.name);
  }

  function fillSso(sso) {
    $('#sso-redirect').value = sso.redirect_uri;
    $('#sso-copied').textContent = '';
    $('#sso-state').textContent = sso.enabled ? t('admin.sso.on', { issuer: sso.issuer }) : t('admin.sso.offState');
    $('#sso-state').className = sso.enabled ? 'state-on' : 'state-off';
    $('#sso-issuer').value = sso.issuer ?? '';
    $('#sso-client-id').value = sso.client_id ?? '';
    $('#sso-secret').value = '';
    $('#sso-secret').required = !sso.secret_set;
    $('#sso-secret-hint').textContent = sso.secret_set ? t('admin.sso.secretKept') : t('admin.sso.secretHint');
    $('#sso-create-users').checked = sso.create_users;
    $('#sso-trust-email').checked = sso.trust_email;
    $('#sso-save').textContent = sso.enabled ? t('admin.sso.saveChanges') : t('admin.sso.save');
    $('#sso-off').hidden = !sso.enabled;
  }

  const recovery = setupRecovery({ notice, organisation: () => $('#org-name').value.trim() || $('#admin-nav-title').textContent });

  async function show() {
    let org;
    let sso;
    try {
      [org, sso] = await Promise.all([adminApi('/organisation'), adminApi('/sso')]);
    } catch (e) {
      notice.error(errorText(e));
      return;
    }
    fillOrganisation(org);
    fillSso(sso);
    await recovery.show();
  }

  // ------------------------------------------------------------ name, domains, settings

  orgForm.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const fields = ['#org-name', '#org-domains', '#org-default-expiry', '#org-max-expiry', '#org-retention'].map((id) => $(id));
    for (const field of fields) fieldError(field, '', { focus: false });
    const name = $('#org-name').value.trim();
    const domains = $('#org-domains').value.split(/[\s,;]+/).map((d) => d.trim()).filter(Boolean);
    const settings = {
      default_expiry_days: number($('#org-default-expiry')),
      max_expiry_days: number($('#org-max-expiry')),
      audit_retention_days: number($('#org-retention')),
      // Absent is on (the settings are replaced whole): only "off" is written down.
      ...($('#org-replies').checked ? {} : { replies: false }),
    };
    const longest = settings.max_expiry_days ?? limits.max_expiry_days;
    // The first wrong field gets the focus; the server checks all of this again.
    const wrong = [
      [!name, '#org-name', t('admin.org.nameMissing')],
      [!whole(settings.max_expiry_days, limits.max_expiry_days), '#org-max-expiry', t('admin.org.maxExpiryRange', { max: formatNumber(limits.max_expiry_days) })],
      [!whole(settings.default_expiry_days, longest), '#org-default-expiry', t('admin.org.defaultExpiryRange', { max: formatNumber(longest) })],
      [!whole(settings.audit_retention_days, RETENTION_MAX), '#org-retention', t('admin.org.retentionRange', { max: formatNumber(RETENTION_MAX) })],
    ].filter(([bad]) => bad);
    wrong.forEach(([, id, text], i) => fieldError($(id), text, { focus: i === 0 }));
    if (wrong.length) return;
    busy(orgForm, async () => {
      try {
        fillOrganisation(await adminApi('/organisation', { method: 'PUT', body: { name, domains, settings } }));
        notice.success(t('admin.org.saved'));
      } catch (e) {
        const field = { invalid_name: '#org-name', domain_taken: '#org-domains', invalid_domain: '#org-domains', too_many_domains: '#org-domains', invalid_expiry: '#org-max-expiry', invalid_retention: '#org-retention' }[e?.code];
        if (field) fieldError($(field), errorText(e));
        else notice.error(errorText(e));
      }
    });
  });

  // ------------------------------------------------------------ single sign-on

  $('#sso-copy').addEventListener('click', () => copyField($('#sso-redirect'), $('#sso-copied'), t('admin.sso.copied')));
  $('#sso-redirect').addEventListener('focus', (event) => event.currentTarget.select());

  ssoForm.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    const issuer = $('#sso-issuer');
    const clientId = $('#sso-client-id');
    const secret = $('#sso-secret');
    for (const field of [issuer, clientId, secret]) fieldError(field, '', { focus: false });
    const wrong = [
      [!/^https?:\/\/\S+$/i.test(issuer.value.trim()), issuer, t('admin.sso.issuerMissing')],
      [!clientId.value.trim(), clientId, t('admin.sso.clientIdMissing')],
      [secret.required && !secret.value.trim(), secret, t('admin.sso.secretMissing')],
    ].filter(([bad]) => bad);
    wrong.forEach(([, input, text], i) => fieldError(input, text, { focus: i === 0 }));
    if (wrong.length) return;
    const body = {
      issuer: issuer.value.trim(),
      client_id: clientId.value.trim(),
      create_users: $('#sso-create-users').checked,
      trust_email: $('#sso-trust-email').checked,
    };
    // Empty: the secret set before stays.
    if (secret.value.trim()) body.client_secret = secret.value.trim();
    busy(ssoForm, async () => {
      try {
        fillSso(await adminApi('/sso', { method: 'PUT', body }));
        notice.success(t('admin.sso.saved'));
      } catch (e) {
        const field = { invalid_issuer: issuer, issuer_unreachable: issuer, invalid_client_id: clientId, invalid_client_secret: secret, client_secret_required: secret }[e?.code];
        if (field) fieldError(field, errorText(e));
        else notice.error(errorText(e));
      }
    });
  });

  $('#sso-off').addEventListener('click', async () => {
    const yes = await confirmAction({ title: t('admin.sso.offTitle'), text: t('admin.sso.offText'), yes: t('admin.sso.off') });
    if (!yes) return;
    busy(ssoForm, async () => {
      try {
        await adminApi('/sso', { method: 'DELETE' });
        fillSso(await adminApi('/sso'));
        notice.success(t('admin.sso.turnedOff'));
      } catch (e) {
        notice.error(errorText(e));
      }
    });
  });

  // ------------------------------------------------------------ export

  const exportState = $('#export-state');
  $('#export-button').addEventListener('click', () => busy($('#export-card'), downloadExport));

  /**
   * Streams the archive to a file the admin picks where the browser can
   * (the File System Access API: memory stays flat for any size), else
   * collects it and saves it as a download. An archive cut short is said to
   * be incomplete (the server ends the stream without the end marker).
   */
  async function downloadExport() {
    notice.clear();
    exportState.textContent = '';
    let writable = null;
    let name = `kluis-export-${new Date().toISOString().slice(0, 10)}.tar`;
    // The picker first, while the click still counts as the admin's gesture.
    if (typeof window.showSaveFilePicker === 'function') {
      try {
        const handle = await window.showSaveFilePicker({ suggestedName: name });
        writable = await handle.createWritable();
      } catch (e) {
        if (e?.name === 'AbortError') return; // The admin closed the picker.
        writable = null; // No picker here after all: a download.
      }
    }
    try {
      const response = await adminRaw('/export');
      if (!writable) name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '')?.[1] ?? name;
      const parts = [];
      let size = 0;
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (writable) await writable.write(value);
        else parts.push(value);
        exportState.textContent = t('admin.export.running', { size: formatBytes(size) });
      }
      if (writable) {
        await writable.close();
      } else {
        const url = URL.createObjectURL(new Blob(parts, { type: 'application/x-tar' }));
        const link = document.createElement('a');
        link.href = url;
        link.download = name;
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      }
      exportState.textContent = '';
      notice.success(t('admin.export.done', { name, size: formatBytes(size) }));
    } catch (e) {
      exportState.textContent = '';
      await writable?.abort().catch(() => {});
      notice.error(e instanceof TypeError ? t('admin.export.failed') : errorText(e));
    }
  }

  return { show };
}
