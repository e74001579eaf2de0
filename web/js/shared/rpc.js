// A tiny request/answer protocol between a page and a module Web Worker:
// the page calls `rpc.call(op, args, transfer)`, the worker answers from
// `serveRpc({op: handler})`. Errors keep their message and a `kind`.

/** Calls a worker's handler by message and resolves with its answer. */
export class WorkerRpc {
  #worker;
  #pending = new Map();
  #next = 0;

  constructor(url) {
    this.#worker = new Worker(url, { type: 'module' });
    this.#worker.onmessage = ({ data }) => {
      const job = this.#pending.get(data.id);
      if (!job) return;
      this.#pending.delete(data.id);
      if (data.ok) job.resolve(data.result);
      else job.reject(Object.assign(new Error(data.error), { kind: data.kind }));
    };
    this.#worker.onerror = (event) => {
      event.preventDefault?.();
      const error = new Error(event.message || 'the crypto worker failed to start');
      for (const job of this.#pending.values()) job.reject(error);
      this.#pending.clear();
    };
  }

  call(op, args = {}, transfer = []) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  terminate() {
    this.#worker.terminate();
    const error = new DOMException('Stopped', 'AbortError');
    for (const job of this.#pending.values()) job.reject(error);
    this.#pending.clear();
  }
}

/**
 * Worker side of WorkerRpc: `handlers[op](message)` returns `{result, transfer}` or a value.
 * A thrown error's `kind` (the wasm bindings' typed category) goes along.
 */
export function serveRpc(handlers) {
  self.onmessage = async ({ data }) => {
    try {
      const handler = handlers[data.op];
      if (!handler) throw new Error(`unknown operation ${data.op}`);
      const answer = (await handler(data)) ?? {};
      self.postMessage({ id: data.id, ok: true, result: answer.result }, answer.transfer ?? []);
    } catch (e) {
      const error = String(e?.message ?? e);
      self.postMessage({ id: data.id, ok: false, error, kind: e?.kind });
    }
  };
}
