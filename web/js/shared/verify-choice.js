// The "confirm their address with a code" choice of an upload request's
// form, on the inbox and in the add-in's "Request files": naming addresses
// makes the mailed code compulsory (docs/inbound.md; the server forces it),
// so while the address field holds anything the box is checked, disabled
// and says why. Emptied, the box is the person's own choice again.
import { t } from './i18n.js';

/** Whether `text` (the address field) names anything: any character that is not a separator. */
export function namesAddresses(text) {
  return /[^\s,;]/.test(text);
}

/**
 * Ties `checkbox` to `addresses` (the field where addresses are typed), now
 * and on every input and form reset. Returns `update()`, for when the page
 * fills the field itself (no input event then).
 */
export function bindVerifyToAddresses(addresses, checkbox) {
  const reason = document.createElement('p');
  reason.id = `${checkbox.id}-forced`;
  reason.className = 'hint choice-hint';
  reason.textContent = t('request.verifyForced');
  reason.hidden = true;
  (checkbox.closest('.choice') ?? checkbox).after(reason);

  /** What the person chose themselves, given back when the addresses are emptied. */
  let chosen = checkbox.checked;
  checkbox.addEventListener('change', () => {
    chosen = checkbox.checked;
  });

  function update() {
    const forced = namesAddresses(addresses.value);
    checkbox.disabled = forced;
    checkbox.checked = forced || chosen;
    reason.hidden = !forced;
    const described = new Set((checkbox.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean));
    if (forced) described.add(reason.id);
    else described.delete(reason.id);
    if (described.size) checkbox.setAttribute('aria-describedby', [...described].join(' '));
    else checkbox.removeAttribute('aria-describedby');
  }

  addresses.addEventListener('input', update);
  // A reset restores the fields' values only after its event: look once it is done.
  addresses.form?.addEventListener('reset', () =>
    setTimeout(() => {
      chosen = checkbox.defaultChecked;
      update();
    }),
  );
  update();
  return update;
}
