// Policy: the organisation's rules for every send (recipient domains, file
// types, size, downloads, codes, passwords, the message) and the send check
// in Outlook, saved as a new version; each version lists what it changed.
// The server checks the document and keeps the versions (server/src/domain/policy.rs).
import { formatNumber, t } from '../../shared/i18n.js';
import { $, busy, fieldError } from '../../shared/ui.js';
import { adminApi, el, errorText, shortDate } from './common.js';

/** The keyword list the form's own-keywords box edits. */
const OWN_LIST = 'own';
const MB = 1_000_000;

const lines = (text) => text.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);

export function setupPolicy({ notice }) {
  const form = $('#policy-form');
  /** The document as loaded: the form edits a copy, keeping what it does not show. */
  let loaded = null;

  function fill(answer) {
    const policy = answer.policy;
    loaded = policy;
    const send = policy.send ?? {};
    const content = policy.content ?? {};
    $('#policy-version').textContent = policy.version
      ? t('admin.policy.versionSaved', { version: formatNumber(policy.version), at: shortDate(answer.saved_at), by: (answer.saved_by ?? '').replace(/^user:/, '') })
      : t('admin.policy.versionDefault');
    $('#policy-allowed').value = (send.allowed_domains ?? []).join('\n');
    $('#policy-blocked').value = (send.blocked_domains ?? []).join('\n');
    $('#policy-file-types').value = (send.blocked_file_types ?? []).join(', ');
    $('#policy-max-size').value = send.max_package_bytes ? String(Math.floor(send.max_package_bytes / MB)) : '';
    $('#policy-max-downloads').value = send.max_downloads ?? '';
    form.querySelector(`input[name=policy-verification][value=${send.verification ?? 'never'}]`).checked = true;
    $('#policy-password').checked = Boolean(send.password_required);
    $('#policy-message').value = send.message ?? 'default_on';
    $('#policy-mode').value = content.mode ?? 'advise';
    $('#policy-confidence').value = content.min_confidence ?? 'medium';
    for (const box of $('#policy-detectors').querySelectorAll('input')) box.checked = (content.detectors ?? []).includes(box.value);
    const lists = content.keyword_lists ?? [];
    $('#policy-keywords').value = (lists.find((l) => l.name === OWN_LIST)?.words ?? []).join('\n');
    const others = lists.filter((l) => l.name !== OWN_LIST);
    $('#policy-lists').textContent = others.length
      ? t('admin.policy.lists', { lists: others.map((l) => t('admin.policy.list', { name: l.name, n: formatNumber(l.words.length) })).join(', ') })
      : '';
    $('#policy-internal').value = (content.internal_domains ?? []).join('\n');
    $('#policy-attachments').checked = Boolean(content.secure_external_attachments);
  }

  /** The document the form describes, or null (with the field marked) when a field is wrong. */
  function read() {
    const size = $('#policy-max-size').value.trim();
    const downloads = $('#policy-max-downloads').value.trim();
    if (size && !(Number.isInteger(Number(size)) && Number(size) >= 1)) {
      fieldError($('#policy-max-size'), t('admin.policy.wholeNumber'));
      return null;
    }
    if (downloads && !(Number.isInteger(Number(downloads)) && Number(downloads) >= 1 && Number(downloads) <= 10000)) {
      fieldError($('#policy-max-downloads'), t('admin.policy.downloadsRange'));
      return null;
    }
    const own = lines($('#policy-keywords').value);
    const lists = (loaded.content?.keyword_lists ?? []).filter((l) => l.name !== OWN_LIST);
    if (own.length) lists.push({ name: OWN_LIST, words: own });
    return {
      ...loaded,
      send: {
        ...loaded.send,
        allowed_domains: lines($('#policy-allowed').value),
        blocked_domains: lines($('#policy-blocked').value),
        blocked_file_types: lines($('#policy-file-types').value.replace(/\s+/g, ',')),
        max_package_bytes: size ? Number(size) * MB : null,
        max_downloads: downloads ? Number(downloads) : null,
        verification: form.querySelector('input[name=policy-verification]:checked')?.value ?? 'never',
        password_required: $('#policy-password').checked,
        message: $('#policy-message').value,
      },
      content: {
        ...loaded.content,
        mode: $('#policy-mode').value,
        min_confidence: $('#policy-confidence').value,
        detectors: [...$('#policy-detectors').querySelectorAll('input:checked')].map((b) => b.value),
        keyword_lists: lists,
        internal_domains: lines($('#policy-internal').value),
        secure_external_attachments: $('#policy-attachments').checked,
      },
    };
  }

  /** One change as a list item: the field in words, what it was, what it is. */
  function changeItem(change) {
    const key = `admin.policy.field.${change.field}`;
    const name = t(key) === key ? change.field : t(key);
    const item = el('li', '', 'policy-change');
    item.append(el('span', name, 'policy-field'), ' ', el('del', change.before), ' → ', el('ins', change.after));
    return item;
  }

  async function showVersions() {
    const { versions } = await adminApi('/policy/versions');
    const list = $('#policy-versions');
    list.replaceChildren();
    for (const v of versions) {
      const item = el('li', '', 'policy-version');
      item.append(el('p', t('admin.policy.versionLine', { version: formatNumber(v.version), at: shortDate(v.saved_at), by: v.saved_by.replace(/^user:/, '') }), 'policy-version-head'));
      const changes = el('ul', '', 'policy-changes');
      changes.append(...v.changes.map(changeItem));
      item.append(changes);
      list.append(item);
    }
    $('#policy-versions-empty').hidden = versions.length > 0;
  }

  async function show() {
    try {
      fill(await adminApi('/policy'));
      await showVersions();
    } catch (e) {
      notice.error(errorText(e));
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    notice.clear();
    for (const id of ['#policy-max-size', '#policy-max-downloads']) fieldError($(id), '', { focus: false });
    const policy = read();
    if (!policy) return;
    busy(form, async () => {
      try {
        const saved = await adminApi('/policy', { method: 'PUT', body: { version: loaded.version, policy } });
        if (saved.changes.length === 0) {
          notice.info(t('admin.policy.unchanged'));
          return;
        }
        notice.success(t('admin.policy.savedNow', { version: formatNumber(saved.policy.version), n: formatNumber(saved.changes.length) }));
        await show();
      } catch (e) {
        notice.error(errorText(e));
        if (e?.code === 'policy_changed') await show();
      }
    });
  });

  return { show };
}
