import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

export * from '../dist/src/server/index.js';

/** POSTs JSON (or a raw string body) and returns the status, headers and parsed JSON answer. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readResponse(res);
}

/** Status, headers, body text, and the body parsed as JSON when it is JSON. */
async function readResponse(res: Response) {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as any, text };
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return readResponse(res);
}

/** A raw TCP client on 127.0.0.1 that writes at its own pace, to see when the server drops it. */
export interface SlowClient {
  /** Milliseconds from connect until the server closed the connection; rejects if it is still open after `deadlineMs`. */
  closed: Promise<number>;
  /** Everything the server sent. */
  received(): string;
  /** Milliseconds from connect until the server's first bytes arrived. */
  firstAnswerAt(): number | undefined;
}

/**
 * Connects to 127.0.0.1:`port`, writes `head` at once, then `trickle` one byte every `everyMs`
 * (a bounded loop: it stops at the end of `trickle` or when the connection closes). After
 * `deadlineMs` a connection still open is destroyed and `closed` rejects.
 */
export function slowClient(port: number, { head = '', trickle = '', everyMs = 100, deadlineMs }: { head?: string; trickle?: string; everyMs?: number; deadlineMs: number }): SlowClient {
  const socket = connect({ host: '127.0.0.1', port });
  let connectedAt = 0;
  let answerAt: number | undefined;
  let received = '';
  let isClosed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    answerAt ??= performance.now() - connectedAt;
    received += chunk;
  });
  socket.on('error', () => {}); // a reset after the server's answer is expected; 'close' follows
  const closed = new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server left the connection open for ${deadlineMs} ms; received ${JSON.stringify(received)}`));
    }, deadlineMs);
    socket.on('close', () => {
      isClosed = true;
      clearTimeout(deadline);
      resolve(performance.now() - connectedAt);
    });
  });
  closed.catch(() => {});
  socket.on('connect', () => {
    connectedAt = performance.now();
    if (head !== '') socket.write(head);
    void (async () => {
      for (let i = 0; i < trickle.length && !isClosed; i++) {
        await new Promise((r) => setTimeout(r, everyMs));
        if (!isClosed) socket.write(trickle[i]!);
      }
    })();
  });
  return { closed, received: () => received, firstAnswerAt: () => answerAt };
}
