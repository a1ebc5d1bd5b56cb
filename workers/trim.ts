/**
 * Gives back the memory a worker's load left behind. Loading a model through transformers.js
 * leaves its isolate's heap grown with garbage (the tokenizer's JSON text and what parsing it
 * built, the library's start-up), which V8 keeps committed until a full collection happens to run:
 * about 10 MB a worker, counted once per worker. One full collection after the load, through the
 * inspector protocol (a public API, no `--expose-gc` needed), gives those pages back. Best effort:
 * where the inspector is not available, nothing happens.
 */
export async function collectGarbage(): Promise<boolean> {
  try {
    const { Session } = await import('node:inspector');
    const session = new Session();
    session.connect();
    try {
      await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (error) => (error ? reject(error) : resolve())));
    } finally {
      session.disconnect();
    }
    return true;
  } catch {
    return false;
  }
}
