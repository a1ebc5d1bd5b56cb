import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

export const CHILD = join(ROOT, 'test/fixtures/collections-child.mjs');

export function tempStore(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'warmpool-collections-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `body` with a fresh temporary store, removed afterwards whatever the body does. */
export async function withStore<T>(body: (store: { dir: string }) => Promise<T>): Promise<T> {
  const store = tempStore();
  try {
    return await body(store);
  } finally {
    store.cleanup();
  }
}

/** Starts the child; `onLine` sees each stdout line and may return true to stop waiting. */
export function runChild(args: string[], env: Record<string, string> = {}): { child: ChildProcess; lines: string[]; until: (pred: (line: string, lines: string[]) => boolean) => Promise<void>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn(process.execPath, [CHILD, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { pred: (line: string, lines: string[]) => boolean; resolve: () => void }[] = [];
  let stderr = '';
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line, lines)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  const until = (pred: (line: string, lines: string[]) => boolean): Promise<void> =>
    Promise.race([
      new Promise<void>((resolve) => waiters.push({ pred, resolve })),
      exited.then((e) => {
        throw new Error(`child exited (${e.code ?? e.signal}) before the expected output: ${e.stderr}`);
      }),
    ]);
  return { child, lines, until, exited };
}

/** Where a log segment's records end: its bytes up to the last non-zero one (segments are allocated ahead, with zeros). */
export function dataLength(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}
