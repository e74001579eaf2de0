// Saving one file of an opened package or inbox item to disk, shown in its
// row of the file list: where it goes (a folder picked for "download all",
// a save dialog, the browser's downloads, memory as a last resort), the
// streaming decrypt of downloader.js, progress, retries and what a failure
// means. Shared by the recipient page, the inbox, the Sent page and the
// Outlook task pane (which saves in memory: see saveRow's `inMemory`).
import { DownloadError, downloadFile } from './downloader.js';
import { formatDuration, t } from './i18n.js';
import { describeError } from './messages.js';
import { canPickFiles, FileSink, MemorySink, ServiceWorkerSink } from './sinks.js';
import { Rate } from './ui.js';

/** Where a file goes: the folder picked for "download all", a save dialog, or the browser's downloads. */
async function sinkFor(row, folder, inMemory) {
  if (inMemory) return new MemorySink(row.name);
  if (folder) return folder.sink(row.name);
  if (canPickFiles) return FileSink.pick(row.name); // first, while the click still counts as one
  if (await ServiceWorkerSink.available()) return ServiceWorkerSink.open(row.name, row.file.size);
  return new MemorySink(row.name);
}

/**
 * Saves `blob` (a ciphertext to fetch with `token` and decrypt with
 * `identity`) as the file of `row`. `messages`: the page's words for the
 * failures `session` and `gone`. `inMemory`: the file is collected in
 * memory and handed to the browser as a download at the end (for webviews
 * that can neither pick files nor stream downloads; mind the size).
 * Resolves with {ok, code}: code is the DownloadError's when it failed,
 * null when the save dialog was cancelled.
 */
export async function saveRow(row, { blob, identity, token, folder = null, inMemory = false, messages, onDamaged = () => {} }) {
  let sink;
  try {
    sink = await sinkFor(row, folder, inMemory);
  } catch (e) {
    row.state.textContent = t('receive.cannotSave', { message: e.message });
    row.state.className = 'download-state error';
    return { ok: false, code: 'cannot_save' };
  }
  if (!sink) return { ok: false, code: null }; // the save dialog was cancelled
  const controller = new AbortController();
  row.controller = controller;
  row.button.textContent = t('receive.stop');
  row.button.setAttribute('aria-label', t('receive.stopFile', { name: row.name }));
  row.progress.hidden = false;
  row.progress.value = 0;
  row.item.classList.remove('done', 'failed');
  row.state.className = 'download-state';
  row.state.textContent = t('receive.downloading');
  const rate = new Rate(blob.size);
  let ok = false;
  let code = null;
  try {
    await downloadFile(blob, {
      identity,
      token,
      sink,
      expected: row.file,
      signal: controller.signal,
      onProgress(received) {
        rate.update(received);
        row.progress.value = Math.round((received / blob.size) * 1000);
        row.stats.textContent = rate.describe();
      },
      onRetry(seconds) {
        rate.reset();
        row.stats.textContent = t('progress.retryIn', { time: formatDuration(seconds) });
        if (row.state.textContent !== t('progress.retrying')) row.state.textContent = t('progress.retrying');
      },
    });
    ok = true;
    row.progress.value = 1000;
    row.stats.textContent = '';
    row.state.textContent = !inMemory && (canPickFiles || folder) ? t('receive.saved') : t('receive.savedDownloads');
    row.state.className = 'download-state success';
    row.item.classList.add('done');
  } catch (e) {
    row.item.classList.add('failed');
    row.progress.hidden = true;
    row.stats.textContent = '';
    row.state.className = 'download-state error';
    code = e instanceof DownloadError ? e.code : 'server';
    const words = {
      damaged: t('receive.damaged'),
      network: t('receive.networkLost'),
      cancelled: t('receive.stopped'),
      ...messages,
    };
    row.state.textContent = words[code] ?? describeError(e.cause ?? e);
    if (code === 'damaged') onDamaged(`${row.name}: ${row.state.textContent}`);
  } finally {
    row.controller = null;
    row.button.textContent = ok ? t('receive.downloadAgain') : t('receive.download');
    row.button.setAttribute('aria-label', t('receive.downloadFile', { name: row.name }));
  }
  return { ok, code };
}
