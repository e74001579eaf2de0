// A stand-in for Office.js in Outlook, served by the tests in place of
// https://appsforoffice.microsoft.com/lib/1/hosted/office.js. It supplies
// a mailbox item from `window.__officeFixture` (set by an init script) and
// records every call in `window.__officeCalls`. The draft (body,
// attachments, session data) lives in sessionStorage, as it lives in
// Outlook: it survives the pane reloading.
//
// The dialog API opens a real window (window.open: Playwright sees a popup);
// messageParent in it reaches the opener's handlers through window.opener,
// as in Outlook on the web, and closing the window is event 12006.
//
// Fixture: {mode: 'compose' | 'read', mailbox: '1.14', language, user: {email, name},
// platform ('PC', 'Mac', 'OfficeOnline': Office.context.diagnostics.platform, and
// OpenBrowserWindowApi on PC and Mac as in Outlook; absent: no diagnostics),
// to, cc, bcc (addresses), subject, bodyType: 'html' | 'text', body,
// attachments: [{id, name, contentType, base64, isInline, attachmentType}],
// fail: {removeAttachment, setBody, prependBody} (error messages), silent: [method names that never answer]}
(() => {
  const fixture = window.__officeFixture ?? {};
  const KEY = '__officeDraft';
  const calls = (window.__officeCalls = []);
  const load = () => JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
  const save = (draft) => sessionStorage.setItem(KEY, JSON.stringify(draft));
  if (!load()) {
    save({
      body: fixture.body ?? '',
      bodyType: fixture.bodyType ?? 'html',
      // Only ids here: the content stays in the fixture (sessionStorage holds about 5 MB).
      attachments: (fixture.attachments ?? []).map((a) => ({ isInline: false, attachmentType: 'file', ...a, base64: undefined })),
      sessionData: {},
      customProperties: {},
      subject: fixture.subject ?? '',
    });
  }
  window.__officeDraft = load;

  const ok = (value) => ({ status: 'succeeded', value });
  const failed = (message) => ({ status: 'failed', error: { code: 9999, name: 'Failure', message } });
  const answer = (name, cb, produce) => {
    calls.push(name);
    if ((fixture.silent ?? []).includes(name)) return; // a host that never calls back
    setTimeout(() => {
      // sessionStorage `__officeFail` (JSON) overrides the fixture's failures, so a test can heal Outlook.
      const fail = JSON.parse(sessionStorage.getItem('__officeFail') ?? 'null') ?? fixture.fail ?? {};
      const message = fail[name];
      cb(message ? failed(message) : ok(produce()));
    }, 5);
  };
  const update = (change) => {
    const draft = load();
    change(draft);
    save(draft);
  };

  const textOf = (draft) => {
    if (draft.bodyType !== 'html') return draft.body;
    // Style attributes dropped first: the page's CSP would report each one as it is parsed.
    const doc = new DOMParser().parseFromString(draft.body.replace(/\sstyle="[^"]*"/g, ''), 'text/html');
    for (const a of doc.querySelectorAll('a[href]')) a.append(` <${a.getAttribute('href')}>`);
    for (const block of doc.querySelectorAll('p, div, br, li')) block.append('\n');
    return doc.body.textContent;
  };
  const recipients = (list) => ({
    getAsync: (cb) => answer('recipients.getAsync', cb, () => (list ?? []).map((emailAddress) => ({ emailAddress, displayName: emailAddress }))),
  });
  const content = (id) => (fixture.attachments ?? []).find((x) => x.id === id)?.base64 ?? '';
  const base64Size = (b64) => Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);

  const item = {
    itemType: 'message',
    to: recipients(fixture.to),
    cc: recipients(fixture.cc),
    bcc: recipients(fixture.bcc),
    subject: fixture.mode === 'read' ? fixture.subject ?? '' : { getAsync: (cb) => answer('subject.getAsync', cb, () => load().subject) },
    body: {
      getTypeAsync: (cb) => answer('body.getTypeAsync', cb, () => load().bodyType),
      getAsync: (type, cb) =>
        answer('body.getAsync', cb, () => {
          const draft = load();
          return type === 'html' && draft.bodyType === 'html' ? draft.body : textOf(draft);
        }),
      setAsync: (data, options, cb) => answer('setBody', cb, () => update((d) => { d.body = data; })),
      prependAsync: (data, options, cb) => answer('prependBody', cb, () => update((d) => { d.body = data + d.body; })),
    },
    getAttachmentsAsync: (cb) =>
      answer('getAttachmentsAsync', cb, () =>
        load().attachments.map((a) => ({ id: a.id, name: a.name, size: base64Size(content(a.id)), contentType: a.contentType, isInline: a.isInline, attachmentType: a.attachmentType })),
      ),
    getAttachmentContentAsync: (id, cb) =>
      answer('getAttachmentContentAsync', cb, () => {
        const a = load().attachments.find((x) => x.id === id);
        return { format: 'base64', content: a && content(id) };
      }),
    removeAttachmentAsync: (id, cb) => answer('removeAttachment', cb, () => update((d) => { d.attachments = d.attachments.filter((a) => a.id !== id); })),
    sessionData: {
      getAsync: (key, cb) => answer('sessionData.getAsync', cb, () => load().sessionData[key] ?? null),
      setAsync: (key, value, cb) => answer('sessionData.setAsync', cb, () => update((d) => { d.sessionData[key] = value; })),
      removeAsync: (key, cb) => answer('sessionData.removeAsync', cb, () => update((d) => { delete d.sessionData[key]; })),
    },
    loadCustomPropertiesAsync: (cb) =>
      answer('loadCustomPropertiesAsync', cb, () => {
        const values = { ...load().customProperties };
        return {
          get: (k) => values[k],
          set: (k, v) => { values[k] = v; },
          saveAsync: (done) => answer('customProperties.saveAsync', done, () => update((d) => { d.customProperties = values; })),
        };
      }),
  };
  const version = fixture.mailbox ?? '1.14';
  const atLeast = (v) => {
    const [a, b] = String(v).split('.').map(Number);
    const [x, y] = version.split('.').map(Number);
    return x > a || (x === a && y >= b);
  };
  // The dialog this window opened: its handlers by event type.
  let dialogHandlers = null;
  const displayDialogAsync = (url, options, cb) => {
    calls.push(`displayDialogAsync ${url}`);
    if (dialogHandlers) {
      setTimeout(() => cb({ status: 'failed', error: { code: 12007, name: 'Error', message: 'A dialog box is already opened.' } }), 5);
      return;
    }
    const size = `width=${Math.round((screen.availWidth * (options?.width ?? 80)) / 100)},height=${Math.round((screen.availHeight * (options?.height ?? 80)) / 100)}`;
    const popup = window.open(url, '_blank', `popup,${size}`);
    if (!popup) {
      setTimeout(() => cb({ status: 'failed', error: { code: 12011, name: 'Error', message: 'The pop-up was blocked.' } }), 5);
      return;
    }
    const handlers = (dialogHandlers = {});
    const fire = (type, arg) => (handlers[type] ?? []).forEach((handler) => handler({ type, ...arg }));
    const done = () => {
      clearInterval(watch);
      dialogHandlers = null;
    };
    // The user closing the window: Office reports 12006 (a close() by the add-in reports nothing).
    const watch = setInterval(() => {
      if (!popup.closed) return;
      done();
      fire(EventType.DialogEventReceived, { error: 12006 });
    }, 50);
    window.__officeDialogMessage = (message, origin) => fire(EventType.DialogMessageReceived, { message, origin });
    const dialog = {
      addEventHandler: (type, handler) => (handlers[type] ??= []).push(handler),
      close: () => {
        calls.push('dialog.close');
        done();
        popup.close();
      },
    };
    setTimeout(() => cb(ok(dialog)), 5);
  };
  const EventType = { DialogMessageReceived: 'dialogMessageReceived', DialogEventReceived: 'dialogEventReceived' };

  window.__officeActions = {};
  window.Office = {
    AsyncResultStatus: { Succeeded: 'succeeded', Failed: 'failed' },
    EventType,
    CoercionType: { Html: 'html', Text: 'text' },
    MailboxEnums: { SendModeOverride: { PromptUser: 'promptUser' } },
    onReady: () => Promise.resolve({ host: 'Outlook', platform: 'OfficeOnline' }),
    actions: { associate: (name, fn) => { window.__officeActions[name] = fn; } },
    context: {
      displayLanguage: fixture.language ?? 'en-US',
      partitionKey: fixture.partitionKey,
      requirements: {
        isSetSupported: (name, v) => (name === 'Mailbox' && atLeast(v)) || (name === 'OpenBrowserWindowApi' && ['PC', 'Mac'].includes(fixture.platform)),
      },
      diagnostics: fixture.platform ? { platform: fixture.platform } : undefined,
      ui: {
        openBrowserWindow: (url) => calls.push(`openBrowserWindow ${url}`),
        displayDialogAsync,
        // In the dialog: to the handlers of the pane that opened it (only a string, as Office takes).
        messageParent: (message) => {
          calls.push('messageParent');
          window.opener?.__officeDialogMessage?.(String(message), location.origin);
        },
      },
      mailbox: {
        userProfile: { emailAddress: fixture.user?.email ?? '', displayName: fixture.user?.name ?? '' },
        item,
      },
    },
  };
})();
