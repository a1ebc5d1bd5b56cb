/**
 * The commands' `--url` mode: instead of starting a pool, talk to a running `warmpool serve`
 * (which may hold the store's lock, so a second pool could not open it). One small client for
 * the few routes the commands use; a server's error is shown as its own message, an unreachable
 * server says so.
 */
import type { Command } from 'commander';
import { SERVER_ENV_VARS } from '../server/options.js';
import { UsageError } from './exit-codes.js';
import { POOL_FLAG_NAMES } from './pool-flags.js';

/** The variable that stands for `--url` on every command that takes it. */
export const URL_ENV = 'WARMPOOL_URL';

export interface RemoteFlags {
  url?: string;
  apiKey?: string;
}

/** Adds `--url` and `--api-key`, as `stats` has them, to a command. */
export function addRemoteFlags(command: Command): Command {
  return command
    .option('--url <url>', `talk to a running \`warmpool serve\` at this address instead of starting a pool (env ${URL_ENV})`)
    .option('--api-key <key>', `the server's API key, with --url (env ${SERVER_ENV_VARS.apiKey})`);
}

/**
 * The server to talk to: `--url`, else `WARMPOOL_URL`; undefined when neither is set, or set
 * empty (`--url ''` runs a local pool whatever the variable says). Pool flags given on the
 * command line have no meaning there (the server runs its own pool) and are refused.
 */
export function remoteServer(flags: RemoteFlags, command: Command): Server | undefined {
  const url = flags.url ?? process.env[URL_ENV];
  if (url === undefined || url === '') return undefined;
  const given = command.options
    .filter((o) => o.long !== undefined && POOL_FLAG_NAMES.has(o.long) && command.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long!);
  if (given.length > 0) {
    const via = flags.url !== undefined ? '--url' : `--url (from ${URL_ENV})`;
    throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'does' : 'do'} not apply with ${via}: the server runs its own pool`);
  }
  let base: URL;
  try {
    base = new URL(url.endsWith('/') ? url : `${url}/`);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http');
  } catch {
    const source = flags.url !== undefined ? '--url' : URL_ENV;
    throw new UsageError(`${source} must be a URL such as http://127.0.0.1:8080, received ${JSON.stringify(url)}`);
  }
  return new Server(base, flags.apiKey ?? process.env[SERVER_ENV_VARS.apiKey]);
}

/** The message of an error body: OpenAI's `{ error: { message, code } }`, TEI's `{ error, error_type }`, or the text. */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const error = body.error;
    if (typeof error === 'string') return error;
    if (typeof error === 'object' && error !== null) {
      const { message, code } = error as { message?: unknown; code?: unknown };
      if (typeof message === 'string') return typeof code === 'string' && code !== '' ? `${message} (${code})` : message;
    }
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: the text as it came
  }
  return text.trim().slice(0, 500) || '(empty body)';
}

/** A running `warmpool serve`, by its base URL. */
export class Server {
  readonly base: URL;
  readonly #apiKey: string | undefined;

  constructor(base: URL, apiKey: string | undefined) {
    this.base = base;
    this.#apiKey = apiKey;
  }

  /** The server's address, as given (without the trailing slash). */
  get url(): string {
    return this.base.href.replace(/\/$/, '');
  }

  /**
   * One request; resolves to the parsed JSON answer. A 4xx or 5xx answer is an `Error` with the
   * server's message; no answer at all (refused, unknown host) one that says the server cannot be
   * reached and how to do without it. `notFound`: the value to resolve to on a 404 instead.
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, notFound?: T): Promise<T> {
    const target = new URL(path, this.base);
    const headers: Record<string, string> = {};
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(target, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : String(cause?.message ?? (error as Error).message);
      throw new Error(
        `cannot reach a warmpool server at ${this.url} (${why}); start one there with \`warmpool serve\`, or drop --url (and unset ${URL_ENV}) to run a pool here`,
      );
    }
    const text = await res.text();
    if (res.status === 404 && notFound !== undefined) return notFound;
    if (!res.ok) throw new Error(`${target.href} answered ${res.status}: ${serverMessage(text)}`);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`${target.href} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

/** A collection's path under `/v1/collections/`, its name escaped. */
export const collectionPath = (name: string, rest = ''): string => `v1/collections/${encodeURIComponent(name)}${rest}`;
