// The progress of an upload (uploader.js PackageSender) on the page that
// runs it: the send page and the add-in's task pane share these elements
// (#progress-bar, #progress-stats, #progress-file, #progress-status).
import { formatDuration, t } from './i18n.js';
import { $, Rate } from './ui.js';

/** Shows `sender`'s progress and status until the returned function is called. */
export function showSendProgress(sender) {
  const files = sender.record.files;
  const rate = new Rate(sender.total);
  let lastAttempt = 0;
  const setStatus = (text) => {
    $('#progress-status').textContent = text;
  };
  const onProgress = (event) => {
    const { done, total, file, name } = event.detail;
    $('#progress-bar').value = Math.round((done / total) * 1000);
    rate.update(done);
    $('#progress-stats').textContent = rate.describe();
    $('#progress-file').textContent = name
      ? t('progress.file', { name, index: file + 1, count: files.length })
      : done >= total
        ? t('progress.finishing')
        : t('progress.fileList');
  };
  const onStatus = (event) => {
    const { state, seconds, attempt, reason } = event.detail;
    if (state === 'retrying') {
      // Said once per attempt (it is read out); the countdown is in the stats line.
      if (attempt !== lastAttempt) setStatus(t(reason === 'busy' ? 'progress.busy' : 'progress.retrying'));
      lastAttempt = attempt;
      $('#progress-stats').textContent = t('progress.retryIn', { time: formatDuration(seconds) });
      rate.reset();
    } else if (state === 'uploading') {
      lastAttempt = 0;
      setStatus(t('progress.uploading'));
    } else if (state === 'finalizing') {
      setStatus(t('progress.finalizing'));
    }
  };
  sender.addEventListener('progress', onProgress);
  sender.addEventListener('status', onStatus);
  return () => {
    sender.removeEventListener('progress', onProgress);
    sender.removeEventListener('status', onStatus);
  };
}
