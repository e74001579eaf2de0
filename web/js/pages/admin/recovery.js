// Key recovery (docs/inbound.md, "The user's key"): whether the
// organisation keeps a recovery copy of every user's key, turning it on
// (the recovery identity is made in this browser, saved by the admin as a
// file and confirmed stored offline; only its public half goes to the
// server) and off, and handing a user who forgot their passphrase their own
// key back: the admin picks the identity file (read here only), the
// recovery copy is decrypted in a Web Worker and wrapped again under a
// temporary passphrase the admin gives the user out of band.
import { ApiError } from '../../shared/api.js';
import { CryptoWorker } from '../../shared/crypto-client.js';
import { t } from '../../shared/i18n.js';
import { $, busy, fieldError } from '../../shared/ui.js';
import { adminApi, confirmAction, errorText } from './common.js';

/** Shortest temporary passphrase (as the inbox asks of the user's own). */
const MIN_PASSPHRASE = 10;

/** The identity out of an age identity file (comment lines start with #). */
export function identityIn(text) {
  const line = String(text)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => /^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(l));
  return line ?? null;
}

/** `kluis-recovery-<organisation>.txt`, the organisation's name made safe for a file name. */
function fileName(organisation) {
  const safe = organisation
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `kluis-recovery-${safe || 'organisation'}.txt`;
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** `organisation()`: its name now (for the file). */
export function setupRecovery({ notice, organisation }) {
  const card = $('#recovery-card');
  /** The identity being set up, until recovery is on or the admin cancels. */
  let pending = null;

  function fill(settings) {
    const on = Boolean(settings.recipient);
    $('#recovery-state').textContent = on ? t('admin.recovery.stateOn', { recipient: settings.recipient }) : t('admin.recovery.stateOff');
    $('#recovery-state').className = on ? 'state-on' : 'state-off';
    $('#recovery-on').hidden = on || pending !== null;
    $('#recovery-off').hidden = !on;
  }

  function resetSetup() {
    pending = null;
    $('#recovery-setup').hidden = true;
    $('#recovery-saved').textContent = '';
    $('#recovery-stored').checked = false;
    $('#recovery-stored').disabled = true;
    $('#recovery-confirm').disabled = true;
  }

  async function show() {
    resetSetup();
    try {
      fill(await adminApi('/recovery'));
    } catch (e) {
      notice.error(errorText(e));
    }
  }

  $('#recovery-on').addEventListener('click', async () => {
    notice.clear();
    // busy() gives the controls back as they were: the steps are set after it.
    const made = await busy(card, async () => {
      const worker = new CryptoWorker();
      try {
        return await worker.newIdentity();
      } catch (e) {
        notice.error(errorText(e));
        return null;
      } finally {
        worker.terminate();
      }
    });
    if (!made) return;
    resetSetup();
    pending = made;
    $('#recovery-on').hidden = true;
    $('#recovery-setup').hidden = false;
    $('#recovery-save').focus();
  });

  $('#recovery-save').addEventListener('click', () => {
    if (!pending) return;
    const name = fileName(organisation());
    const text = [
      `# ${t('admin.recovery.fileHeader', { organisation: organisation() })}`,
      `# ${t('admin.recovery.fileWarning')}`,
      `# created: ${new Date().toISOString()}`,
      `# public key: ${pending.recipient}`,
      pending.identity,
      '',
    ].join('\n');
    download(name, text);
    $('#recovery-saved').textContent = t('admin.recovery.savedAs', { name });
    $('#recovery-stored').disabled = false;
  });

  $('#recovery-stored').addEventListener('change', (event) => {
    $('#recovery-confirm').disabled = !event.currentTarget.checked;
  });

  $('#recovery-cancel').addEventListener('click', () => {
    resetSetup();
    $('#recovery-on').hidden = false;
    $('#recovery-on').focus();
  });

  $('#recovery-confirm').addEventListener('click', async () => {
    if (!pending || !$('#recovery-stored').checked) return;
    const recipient = pending.recipient;
    notice.clear();
    const settings = await busy(card, async () => {
      try {
        // Only the public half: the identity stays with the admin.
        return await adminApi('/recovery', { method: 'PUT', body: { recipient } });
      } catch (e) {
        notice.error(errorText(e));
        return null;
      }
    });
    if (!settings) return;
    resetSetup();
    fill(settings);
    notice.success(t('admin.recovery.turnedOn'));
    $('#recovery-off').focus();
  });

  $('#recovery-off').addEventListener('click', async () => {
    const yes = await confirmAction({ title: t('admin.recovery.offTitle'), text: t('admin.recovery.offText'), yes: t('admin.recovery.off') });
    if (!yes) return;
    busy(card, async () => {
      notice.clear();
      try {
        fill(await adminApi('/recovery', { method: 'PUT', body: { recipient: null } }));
        notice.success(t('admin.recovery.turnedOff'));
      } catch (e) {
        notice.error(errorText(e));
      }
    });
  });

  return { show };
}

/**
 * The "Recover key" dialog for `user` ({id, email}): resolves when it
 * closes. The identity file is read here; the recovery copy is decrypted
 * and wrapped again in a worker; only the wrapped key goes to the server.
 */
export function recoverKey({ notice, user }) {
  const dialog = $('#recover-dialog');
  const form = $('#recover-form');
  const back = document.activeElement;
  const file = $('#recover-file');
  const passphrase = $('#recover-passphrase');
  const again = $('#recover-again');
  const state = $('#recover-state');
  $('#recover-title').textContent = t('admin.recover.title', { email: user.email });
  form.reset();
  state.textContent = '';
  for (const input of [file, passphrase, again]) fieldError(input, '', { focus: false });

  return new Promise((resolve) => {
    const close = () => {
      form.removeEventListener('submit', onSubmit);
      $('#recover-cancel').removeEventListener('click', close);
      dialog.removeEventListener('close', close);
      if (dialog.open) dialog.close();
      form.reset();
      if (back instanceof HTMLElement && back.isConnected) back.focus();
      resolve();
    };

    const onSubmit = (event) => {
      event.preventDefault();
      for (const input of [file, passphrase, again]) fieldError(input, '', { focus: false });
      const picked = file.files?.[0];
      const wrong = [
        [!picked, file, t('admin.recover.pickFile')],
        [passphrase.value.length < MIN_PASSPHRASE, passphrase, t('admin.recover.tooShort', { n: MIN_PASSPHRASE })],
        [passphrase.value.length >= MIN_PASSPHRASE && passphrase.value !== again.value, again, t('admin.recover.differ')],
      ].filter(([bad]) => bad);
      wrong.forEach(([, input, text], i) => fieldError(input, text, { focus: i === 0 }));
      if (wrong.length) return;
      busy(form, async () => {
        const identity = identityIn(await picked.text());
        if (!identity) {
          fieldError(file, t('admin.recover.notIdentity'));
          return;
        }
        let copy;
        try {
          copy = await adminApi(`/users/${user.id}/key`);
        } catch (e) {
          state.textContent = '';
          if (e instanceof ApiError && e.status === 404) fieldError(file, t('admin.recover.noKey', { email: user.email }), { focus: false });
          else notice.error(errorText(e));
          if (e instanceof ApiError && e.status === 404) $('#recover-cancel').focus();
          return;
        }
        if (!copy.recovery) {
          fieldError(file, t('admin.recover.noCopy', { email: user.email }), { focus: false });
          $('#recover-cancel').focus();
          return;
        }
        state.textContent = t('admin.recover.working');
        const worker = new CryptoWorker();
        let handed;
        try {
          handed = await worker.recoverKey(copy.recovery, identity, passphrase.value);
        } catch (e) {
          state.textContent = '';
          // The one thing that can be wrong here is the identity: it does not open the copy (no_match) or is not one.
          fieldError(file, e?.kind === 'damaged' ? t('admin.recover.damaged') : t('admin.recover.wrongIdentity'));
          return;
        } finally {
          worker.terminate();
        }
        if (handed.recipient !== copy.recipient) {
          state.textContent = '';
          fieldError(file, t('admin.recover.otherKey'));
          return;
        }
        try {
          await adminApi(`/users/${user.id}/key`, { method: 'PUT', body: { wrapped: handed.wrapped } });
        } catch (e) {
          state.textContent = '';
          notice.error(errorText(e));
          return;
        }
        state.textContent = '';
        close();
        notice.success(t('admin.recover.done', { email: user.email }));
      });
    };

    form.addEventListener('submit', onSubmit);
    $('#recover-cancel').addEventListener('click', close);
    dialog.addEventListener('close', close);
    dialog.showModal();
    file.focus();
  });
}
