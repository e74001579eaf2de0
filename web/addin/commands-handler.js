/* The send check (Outlook's OnMessageSend launch event, Smart Alerts).
 *
 * This file runs where classic Outlook for Windows runs event handlers: a
 * JavaScript-only runtime with ECMAScript 2016, no modules, no DOM, no
 * localStorage and no WebAssembly. So it is plain ES2016 (no async/await,
 * no spread, no ?. or ??), and the detectors are `KluisPolicy`, the same
 * Rust as everywhere else compiled to JavaScript (wasm2js), which xtask
 * puts in front of this file in /addin/commands.js. The server puts
 * `KLUIS_SERVER` (its public URL) in front of both.
 *
 * What it checks is what is still in the clear: the subject and body as
 * they are now, the text attachments (CSV, plain text, HTML, mail…) still
 * on the item, and whether any attachments go to outsiders. A draft secured
 * with "Send securely" passes because its attachments (and, if chosen,
 * its text) went into the package; text left in the body is still checked.
 */
'use strict';

var KluisSendCheck = (function () {
  var TOKEN_KEY = 'kluis.addin.token';
  var POLICY_KEY = 'kluis.policy';
  var WARNED_KEY = 'kluis.warned';
  var SECURED_KEY = 'kluis.secured';
  var SEND_SECURELY = 'kluisSendSecurelyButton';
  var CALL_TIMEOUT = 10000;
  var FETCH_TIMEOUT = 8000;
  var POLICY_FRESH_MS = 5 * 60 * 1000;

  function later(ms, value) {
    return new Promise(function (resolve) {
      setTimeout(function () { resolve(value); }, ms);
    });
  }

  function withTimeout(promise, ms, fallback) {
    return Promise.race([promise, later(ms, fallback)]);
  }

  /** An Office async call as a promise that settles within CALL_TIMEOUT (with `fallback` then). */
  function officeCall(start, fallback) {
    var call = new Promise(function (resolve) {
      try {
        start(function (result) {
          resolve(result && result.status === 'failed' ? fallback : result && result.value);
        });
      } catch (e) {
        resolve(fallback);
      }
    });
    return withTimeout(call, CALL_TIMEOUT, fallback);
  }

  function supports(version) {
    var req = Office.context && Office.context.requirements;
    return Boolean(req && req.isSetSupported && req.isSetSupported('Mailbox', version));
  }

  /**
   * Storage the task pane shares: localStorage (per partition) where the
   * handler runs in a browser; in classic Outlook's JavaScript-only runtime,
   * which has none, `OfficeRuntime.storage`, keyed by mailbox because it is
   * shared by every account in that Outlook.
   */
  function hasLocalStorage() {
    try {
      return typeof localStorage !== 'undefined' && localStorage !== null;
    } catch (e) {
      return false;
    }
  }

  function mailboxKey(key) {
    var profile = Office.context && Office.context.mailbox && Office.context.mailbox.userProfile;
    return key + ':' + ((profile && profile.emailAddress) || '').toLowerCase();
  }

  function storageGet(key) {
    if (hasLocalStorage()) {
      var partition = (Office.context && Office.context.partitionKey) || '';
      return Promise.resolve(localStorage.getItem(partition + key));
    }
    if (typeof OfficeRuntime !== 'undefined' && OfficeRuntime.storage) {
      return OfficeRuntime.storage.getItem(mailboxKey(key)).catch(function () { return null; });
    }
    return Promise.resolve(null);
  }

  function storageSet(key, value) {
    if (hasLocalStorage()) {
      try {
        var partition = (Office.context && Office.context.partitionKey) || '';
        localStorage.setItem(partition + key, value);
      } catch (e) {
        // full or refused: nothing kept
      }
      return Promise.resolve();
    }
    if (typeof OfficeRuntime !== 'undefined' && OfficeRuntime.storage) {
      return OfficeRuntime.storage.setItem(mailboxKey(key), value).catch(function () {});
    }
    return Promise.resolve();
  }

  function server() {
    return typeof KLUIS_SERVER === 'string' ? KLUIS_SERVER.replace(/\/+$/, '') : '';
  }

  function fetchJson(path, options) {
    if (typeof fetch !== 'function') return Promise.resolve(null);
    var request = fetch(server() + path, options).then(function (response) {
      return response.ok ? response.json() : null;
    }).catch(function () { return null; });
    return withTimeout(request, FETCH_TIMEOUT, null);
  }

  /**
   * The organisation's policy: the copy kept from the last five minutes,
   * else fresh from the server, else the last one seen, else the built-in
   * default (`{}`: advise mode, the standard detectors).
   */
  function loadPolicy() {
    return storageGet(POLICY_KEY).then(function (saved) {
      var cached = null;
      try {
        cached = saved ? JSON.parse(saved) : null;
      } catch (e) {
        cached = null; // damaged: fetch again
      }
      if (cached && cached.content && Date.now() - cached.at < POLICY_FRESH_MS) return cached.content;
      return fetchJson('/api/v1/policy', { method: 'GET' }).then(function (policy) {
        if (policy && policy.content) {
          return storageSet(POLICY_KEY, JSON.stringify({ at: Date.now(), content: policy.content })).then(function () {
            return policy.content;
          });
        }
        return cached && cached.content ? cached.content : {};
      });
    });
  }

  function addresses(list) {
    return (list || []).map(function (r) { return r.emailAddress; }).filter(Boolean);
  }

  /** Text attachments the check reads too (a CSV of client numbers is content like the body). */
  var TEXT_ATTACHMENT = /\.(txt|csv|tsv|md|htm|html|xml|json|eml|ics|vcf|log)$/i;
  var MAX_ATTACHMENT_TEXT = 4 * 1024 * 1024;
  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

  /** Base64 to a string of UTF-8 text, by hand: this runtime may have neither atob nor TextDecoder. */
  function base64Text(data) {
    var bytes = [];
    var buffer = 0;
    var bits = 0;
    for (var i = 0; i < data.length; i++) {
      var value = B64.indexOf(data.charAt(i));
      if (value < 0) continue; // padding, line breaks
      buffer = (buffer << 6) | value;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes.push((buffer >> bits) & 0xff);
      }
    }
    return utf8Text(bytes);
  }

  /** UTF-8 bytes to a string; a broken sequence becomes U+FFFD, as decoders do. */
  function utf8Text(bytes) {
    var out = [];
    var chunks = [];
    for (var i = 0; i < bytes.length; ) {
      var b = bytes[i];
      var need = b < 0x80 ? 0 : b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
      var cp = need === 0 ? b : need === 1 ? b & 0x1f : need === 2 ? b & 0x0f : b & 0x07;
      var ok = need >= 0 && i + need < bytes.length + (need === 0 ? 1 : 0);
      for (var k = 1; ok && k <= need; k++) {
        if ((bytes[i + k] & 0xc0) !== 0x80) ok = false;
        else cp = (cp << 6) | (bytes[i + k] & 0x3f);
      }
      if (!ok) {
        out.push(0xfffd);
        i += 1;
      } else {
        if (cp > 0xffff) {
          cp -= 0x10000;
          out.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
          out.push(cp);
        }
        i += need + 1;
      }
      if (out.length >= 8192) {
        chunks.push(String.fromCharCode.apply(null, out));
        out = [];
      }
    }
    chunks.push(String.fromCharCode.apply(null, out));
    return chunks.join('');
  }

  /** The text of the item's text attachments (Mailbox 1.8), one at a time, each within MAX_ATTACHMENT_TEXT. */
  function attachmentTexts(item, attachments) {
    if (!item.getAttachmentContentAsync || !supports('1.8')) return Promise.resolve('');
    var readable = attachments.filter(function (a) {
      return !a.isInline && a.size <= MAX_ATTACHMENT_TEXT && (TEXT_ATTACHMENT.test(a.name || '') || /^text\//i.test(a.contentType || ''));
    });
    var texts = [];
    return readable.reduce(function (previous, a) {
      return previous.then(function () {
        return officeCall(function (cb) { item.getAttachmentContentAsync(a.id, cb); }, null).then(function (content) {
          if (!content || typeof content.content !== 'string') return;
          var format = String(content.format || '').toLowerCase();
          texts.push(format === 'base64' ? base64Text(content.content) : content.content);
        });
      });
    }, Promise.resolve()).then(function () {
      return texts.join('\n');
    });
  }

  function sessionData(item) {
    return supports('1.11') && item.sessionData ? item.sessionData : null;
  }

  /** Recipients, attachments, subject and body, read one call at a time (web hosts allow three at once). */
  function gather(item) {
    var facts = { recipients: [], attachments: 0, secured: false };
    var text = '';
    var secured = null;
    var attached = [];
    function field(name) {
      if (!item[name] || !item[name].getAsync) return Promise.resolve();
      return officeCall(function (cb) { item[name].getAsync(cb); }, []).then(function (list) {
        facts.recipients = facts.recipients.concat(addresses(list));
      });
    }
    return field('to').then(function () { return field('cc'); }).then(function () { return field('bcc'); })
      .then(function () {
        if (!item.getAttachmentsAsync) return item.attachments || [];
        return officeCall(function (cb) { item.getAttachmentsAsync(cb); }, []);
      })
      .then(function (attachments) {
        // Inline images (logos in a signature) stay in the mail whatever happens; they do not count.
        attached = attachments || [];
        facts.attachments = attached.filter(function (a) { return !a.isInline; }).length;
        if (typeof item.subject === 'string') return item.subject;
        return officeCall(function (cb) { item.subject.getAsync(cb); }, '');
      })
      .then(function (subject) {
        text = (subject || '') + '\n';
        return officeCall(function (cb) { item.body.getAsync('text', cb); }, '');
      })
      .then(function (body) {
        text += body || '';
        return attachmentTexts(item, attached);
      })
      .then(function (attachmentText) {
        if (attachmentText) text += '\n' + attachmentText;
        var data = sessionData(item);
        if (!data) return null;
        return officeCall(function (cb) { data.getAsync(SECURED_KEY, cb); }, null);
      })
      .then(function (marker) {
        try {
          secured = marker ? JSON.parse(marker) : null;
        } catch (e) {
          secured = null;
        }
        return { facts: facts, text: text, secured: secured };
      });
  }

  var WORDS = {
    en: {
      bsn: 'a citizen service number (BSN)',
      iban: 'a bank account number (IBAN)',
      payment_card: 'a payment card number',
      nl_id_document: 'a passport or identity card number',
      email: 'e-mail addresses',
      keywords: function (list) { return 'words from the list "' + list + '"'; },
      attachments: 'attachments',
      found: function (what) { return 'This message contains ' + what + ' and goes to people outside your organisation.'; },
      attachmentsOnly: 'This message has attachments and goes to people outside your organisation.',
      block: ' Your organisation asks you to send it securely: choose "Send securely" (Kluis) and send it again.',
      warn: ' Consider sending it securely with Kluis ("Send securely").',
      warnAgain: ' Send again to send it as it is.',
      and: ' and ',
    },
    nl: {
      bsn: 'een burgerservicenummer (BSN)',
      iban: 'een rekeningnummer (IBAN)',
      payment_card: 'een betaalkaartnummer',
      nl_id_document: 'een paspoort- of identiteitskaartnummer',
      email: 'e-mailadressen',
      keywords: function (list) { return 'woorden uit de lijst "' + list + '"'; },
      attachments: 'bijlagen',
      found: function (what) { return 'Dit bericht bevat ' + what + ' en gaat naar mensen buiten uw organisatie.'; },
      attachmentsOnly: 'Dit bericht heeft bijlagen en gaat naar mensen buiten uw organisatie.',
      block: ' Uw organisatie vraagt u het beveiligd te versturen: kies "Veilig versturen" (Kluis) en verstuur het opnieuw.',
      warn: ' Overweeg het beveiligd te versturen met Kluis ("Veilig versturen").',
      warnAgain: ' Verstuur opnieuw om het zo te versturen.',
      and: ' en ',
    },
  };

  function language() {
    var display = (Office.context && Office.context.displayLanguage) || 'en';
    return display.toLowerCase().indexOf('nl') === 0 ? 'nl' : 'en';
  }

  /** The alert text (at most 500 characters): what kind of thing was found, never the thing itself. */
  function describe(verdict, lang, fallbackPrompt) {
    var words = WORDS[lang];
    var kinds = [];
    verdict.findings.forEach(function (f) {
      var phrase = f.kind === 'keywords' ? words.keywords(f.list || '') : words[f.kind];
      if (phrase && kinds.indexOf(phrase) < 0) kinds.push(phrase);
    });
    var text = kinds.length ? words.found(kinds.join(words.and)) : words.attachmentsOnly;
    if (verdict.action === 'block') text += words.block;
    else text += words.warn + (fallbackPrompt ? words.warnAgain : '');
    return text.length > 500 ? text.slice(0, 497) + '...' : text;
  }

  /**
   * What the check decided, for the audit log: kinds and counts only. A
   * plain mail that went out with nothing found is not worth a row.
   */
  function report(verdict, outcome, secured) {
    if (verdict.action === 'allow' && !verdict.findings.length && !secured) return Promise.resolve(null);
    return storageGet(TOKEN_KEY).then(function (saved) {
      var token;
      try {
        token = saved ? JSON.parse(saved).token : null;
      } catch (e) {
        token = null; // not ours, or damaged: no report
      }
      if (!token) return null;
      var body = {
        source: 'send_check',
        action: verdict.action,
        outcome: outcome,
        findings: verdict.findings.map(function (f) {
          var kind = { kind: f.kind, confidence: f.confidence, count: f.count };
          if (f.list) kind.list = f.list;
          return kind;
        }),
      };
      if (secured && secured.package) body.package_id = secured.package;
      return fetchJson('/api/v1/policy/verdicts', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
        body: JSON.stringify(body),
      });
    });
  }

  /** A short fingerprint of a verdict, so "send again" after a warning is recognised. */
  function fingerprint(verdict) {
    return verdict.action + ':' + verdict.findings.map(function (f) { return f.kind + (f.list || '') + f.count; }).join(',');
  }

  /**
   * Decides about `item` and returns {verdict, options} where options is
   * what `event.completed` gets. Exposed for tests.
   */
  function check(item) {
    return Promise.all([loadPolicy(), gather(item)]).then(function (both) {
      var policy = both[0];
      var message = both[1];
      var verdict = JSON.parse(KluisPolicy.check(JSON.stringify(policy), JSON.stringify(message.facts), message.text));
      var lang = language();
      if (verdict.action === 'allow') {
        return { verdict: verdict, outcome: 'sent', secured: message.secured, options: { allowEvent: true } };
      }
      var options = { allowEvent: false };
      var canPrompt = supports('1.14');
      if (canPrompt) options.commandId = SEND_SECURELY;
      if (verdict.action === 'block') {
        options.errorMessage = describe(verdict, lang, false);
        return { verdict: verdict, outcome: 'blocked', secured: message.secured, options: options };
      }
      // Advise: Outlook asks "send anyway?" itself from 1.14; before that a second send goes through.
      if (canPrompt) {
        options.sendModeOverride = Office.MailboxEnums.SendModeOverride.PromptUser;
        options.errorMessage = describe(verdict, lang, false);
        return { verdict: verdict, outcome: 'warned', secured: message.secured, options: options };
      }
      var data = sessionData(item);
      var print = fingerprint(verdict);
      var warned = data ? officeCall(function (cb) { data.getAsync(WARNED_KEY, cb); }, null) : Promise.resolve(null);
      return warned.then(function (before) {
        if (before === print) return { verdict: verdict, outcome: 'sent_anyway', secured: message.secured, options: { allowEvent: true } };
        // Saved before the event completes: the runtime may end right after.
        var remembered = data ? officeCall(function (cb) { data.setAsync(WARNED_KEY, print, cb); }, null) : Promise.resolve();
        return remembered.then(function () {
          options.errorMessage = describe(verdict, lang, Boolean(data));
          return { verdict: verdict, outcome: 'warned', secured: message.secured, options: options };
        });
      });
    });
  }

  /** The OnMessageSend handler. It always completes the event, whatever fails. */
  function onMessageSend(event) {
    var done = false;
    function complete(options) {
      if (done) return;
      done = true;
      event.completed(options);
    }
    check(Office.context.mailbox.item)
      .then(function (result) {
        return withTimeout(report(result.verdict, result.outcome, result.secured), FETCH_TIMEOUT, null).then(function () {
          complete(result.options);
        });
      })
      .catch(function () {
        // A broken check must not trap the mail: the server and the relay still enforce what they can.
        complete({ allowEvent: true });
      });
  }

  return { onMessageSend: onMessageSend, check: check, describe: describe };
})();

function onMessageSendHandler(event) {
  KluisSendCheck.onMessageSend(event);
}

if (typeof Office !== 'undefined' && Office.actions && Office.actions.associate) {
  Office.actions.associate('onMessageSendHandler', onMessageSendHandler);
}
