// The block "Send securely" puts into the mail: what the recipient reads
// instead of the attachments, in Dutch and English (the sender's language
// says nothing about the recipient's), as HTML and as plain text.

const NL = {
  title: 'Beveiligd bericht',
  files: (n) => (n === 1 ? 'een bestand' : `${n} bestanden`),
  intro: (who, what) => `${who} stuurt u ${what} via Kluis, versleuteld zodat alleen de ontvangers het kunnen openen.`,
  steps: 'Open de link hieronder in uw browser. U krijgt een code per e-mail om te bevestigen dat u de ontvanger bent.',
  stepsOpen: 'Open de link hieronder in uw browser.',
  password: 'U hebt ook een wachtwoord nodig; dat krijgt u apart van de afzender.',
  until: (date) => `Beschikbaar tot ${date}.`,
  message: 'het bericht',
  and: 'en',
};

const EN = {
  title: 'Secure message',
  files: (n) => (n === 1 ? 'a file' : `${n} files`),
  intro: (who, what) => `${who} sent you ${what} through Kluis, encrypted so that only the recipients can open it.`,
  steps: 'Open the link below in your browser. You will get a code by e-mail to confirm that you are the recipient.',
  stepsOpen: 'Open the link below in your browser.',
  password: 'You also need a password, which the sender gives you separately.',
  until: (date) => `Available until ${date}.`,
  message: 'the message',
  and: 'and',
};

function what(words, { files, message }) {
  const parts = [];
  if (message) parts.push(words.message);
  if (files) parts.push(words.files(files));
  return parts.join(` ${words.and} `);
}

function paragraphs(words, facts) {
  const out = [words.intro(facts.sender, what(words, facts)), facts.verify === 'email' ? words.steps : words.stepsOpen];
  if (facts.password) out.push(words.password);
  if (facts.expires) out.push(words.until(new Intl.DateTimeFormat(words === NL ? 'nl' : 'en', { dateStyle: 'long' }).format(facts.expires)));
  return out;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * `facts`: {link, sender (name or address), files (count), message (bool:
 * the text is in the package), verify ('email' | 'none'), password (bool),
 * expires (Date)}. Returns {html, text}.
 */
export function linkBlock(facts) {
  const nl = paragraphs(NL, facts);
  const en = paragraphs(EN, facts);
  const link = facts.link;
  const text = [
    `— ${NL.title} / ${EN.title} —`,
    ...nl,
    '',
    ...en,
    '',
    link,
    '',
  ].join('\n');
  const p = (s) => `<p style="margin:0 0 8px">${escapeHtml(s)}</p>`;
  const html =
    '<div data-kluis="link-block" style="border:1px solid #0f6cbd;border-radius:4px;padding:12px 16px;margin:0 0 16px;font-family:Segoe UI,Arial,sans-serif;font-size:14px;color:#242424">' +
    `<p style="margin:0 0 8px;font-weight:600">${escapeHtml(`${NL.title} / ${EN.title}`)}</p>` +
    nl.map(p).join('') +
    `<p style="margin:12px 0"><a href="${escapeHtml(link)}" style="color:#0f6cbd;font-weight:600">${escapeHtml(link)}</a></p>` +
    en.map(p).join('') +
    '</div>';
  return { html, text };
}

/**
 * The block "Request files" puts into the mail: the upload link
 * (`https://HOST/r/<id>#age1…`) with a line in Dutch and English.
 * `facts`: {link, sender (name or address)}. Returns {html, text}.
 */
export function requestBlock({ link, sender }) {
  const nl = `${sender} vraagt u bestanden te sturen via Kluis. Ze worden in uw browser versleuteld, zodat alleen de aanvrager ze kan openen.`;
  const en = `${sender} asks you to send files through Kluis. They are encrypted in your browser, so that only the requester can open them.`;
  const lineNl = 'Upload uw bestanden beveiligd:';
  const lineEn = 'Upload your files securely:';
  const text = [`— ${NL.title} / ${EN.title} —`, nl, `${lineNl} ${link}`, '', en, `${lineEn} ${link}`, ''].join('\n');
  const p = (s) => `<p style="margin:0 0 8px">${escapeHtml(s)}</p>`;
  const a = `<a href="${escapeHtml(link)}" style="color:#0f6cbd;font-weight:600">${escapeHtml(link)}</a>`;
  const html =
    '<div data-kluis="request-block" style="border:1px solid #0f6cbd;border-radius:4px;padding:12px 16px;margin:0 0 16px;font-family:Segoe UI,Arial,sans-serif;font-size:14px;color:#242424">' +
    `<p style="margin:0 0 8px;font-weight:600">${escapeHtml(`${NL.title} / ${EN.title}`)}</p>` +
    p(nl) +
    `<p style="margin:0 0 12px">${escapeHtml(lineNl)} ${a}</p>` +
    p(en) +
    `<p style="margin:0">${escapeHtml(lineEn)} ${a}</p>` +
    '</div>';
  return { html, text };
}
