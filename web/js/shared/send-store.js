// Unfinished sends in IndexedDB, so an upload continues after a reload.
//
// A record holds secrets (the link secret L, the server share S, the
// stretched password and each blob's encryption state): it lives only
// until the package is finalized or cancelled, then it is deleted.
//
// Record: {id, owner, createdAt, server, linkSecret, serverShare,
// stretched (Uint8Array|null), subject, message, recipients,
// files: [{name, size, lastModified, type}], sizes: [blob sizes],
// blobs: [{uploadUrl, resumeState (Uint8Array), done, header (the blob's header hash)}], and for
// the add-in: addin {attachments, message, verify, expiresInDays} and,
// once final, link (kept until the link is in the mail)}.
// Blob 0 is the manifest, blob i + 1 is file i.

const DB = 'kluis-send';
const STORE = 'packages';

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'id' });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export function saveSend(record) {
  return transact('readwrite', (store) => store.put(record));
}

export function deleteSend(id) {
  return transact('readwrite', (store) => store.delete(id));
}

/** Unfinished sends of `owner` (an e-mail address), newest first. */
export async function listSends(owner) {
  const all = (await transact('readonly', (store) => store.getAll())) ?? [];
  return all.filter((r) => r.owner === owner).sort((a, b) => b.createdAt - a.createdAt);
}

/** Whether `file` is the one a record describes (same name, size and modification time). */
export function sameFile(file, described) {
  return file.name === described.name && file.size === described.size && file.lastModified === described.lastModified;
}
