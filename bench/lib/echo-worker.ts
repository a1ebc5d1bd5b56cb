import { Worker } from 'node:worker_threads';
import { BENCH_WORKERS } from './paths.js';

/** A bare worker_threads Worker answering postMessage round trips, many in flight, matched by id. */
export class EchoWorker {
  readonly #worker = new Worker(`${BENCH_WORKERS}echo.mjs`);
  readonly #pending = new Map<number, (value: unknown) => void>();
  #next = 0;

  constructor() {
    this.#worker.on('message', (message: { id: number; value: unknown }) => {
      const resolve = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      resolve?.(message.value);
    });
  }

  call(value: unknown): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#worker.postMessage({ id, value });
    });
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}
