/**
 * `warmpool embed`: texts from the arguments, a file (`--file`), or stdin (`-`), one JSON object
 * per line out: `{ "text", "dims", "embedding" }`, in input order.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ENV_VARS } from '../options.js';
import type { WarmPool } from '../pool.js';
import { POOLINGS, type Pooling } from '../types.js';
import { UsageError } from './exit-codes.js';
import { formatRate, Pace, startProgressBar, type ProgressBar } from './progress.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { addRemoteFlags, remoteServer, type RemoteFlags, type Server } from './remote.js';
import { withPool } from './with-pool.js';

interface EmbedFlags extends PoolFlags, RemoteFlags {
  file?: string;
  normalize: boolean;
  pooling?: Pooling;
  truncate: boolean;
  chunk: number;
  progress?: boolean;
}

const lines = (text: string): string[] => text.split(/\r?\n/).filter((line) => line.trim() !== '');

function readTexts(args: string[], file: string | undefined): string[] {
  if (file !== undefined) {
    if (args.length > 0) throw new UsageError('give texts as arguments or --file, not both');
    try {
      return lines(readFileSync(file === '-' ? 0 : file, 'utf8'));
    } catch (error) {
      throw new Error(`cannot read ${file === '-' ? 'stdin' : file}: ${(error as Error).message}`);
    }
  }
  if (args.length === 1 && args[0] === '-') return lines(readFileSync(0, 'utf8'));
  return args;
}

/** What {@link embedAll} embeds with: a local pool, or a server. */
interface Embedder {
  /** Resolves once embedding can start at full speed (the model loaded). */
  ready(): Promise<unknown>;
  embed(texts: string[]): Promise<ArrayLike<number>[]>;
  /** Chunks in flight at once. */
  window: number;
  /** Most texts in one chunk. */
  maxChunk: number;
}

function poolEmbedder(pool: WarmPool, flags: EmbedFlags): Embedder {
  const options = { normalize: flags.normalize, truncate: flags.truncate, ...(flags.pooling && { pooling: flags.pooling }) };
  return {
    ready: () => pool.ready(),
    embed: (texts) => pool.embed(texts, options),
    window: Math.max(1, pool.options.maxThreads * pool.options.concurrentTasksPerWorker),
    maxChunk: Infinity,
  };
}

/**
 * Embedding through a server's TEI route `POST /embed`, which takes `normalize` and `truncate`
 * as the local options do (the server's model pools as it was loaded: `--pooling` is refused).
 * Chunks are capped at the texts the server takes per request (`max_client_batch_size` of `GET /info`).
 */
async function serverEmbedder(server: Server, flags: EmbedFlags): Promise<Embedder> {
  if (flags.pooling !== undefined) throw new UsageError("--pooling does not apply with --url: the server's model pools as it was loaded");
  const info = await server.request<{ max_client_batch_size: number }>('GET', 'info');
  return {
    ready: async () => {},
    embed: (texts) => server.request<number[][]>('POST', 'embed', { inputs: texts, normalize: flags.normalize, truncate: flags.truncate }),
    // Two requests at once: one on the wire while the server works on the other.
    window: 2,
    maxChunk: Math.max(1, info.max_client_batch_size),
  };
}

/** Embeds in chunks, a few at once so every worker is busy, and prints each chunk in order. */
async function embedAll(embedder: Embedder, texts: string[], flags: EmbedFlags): Promise<void> {
  const size = Math.min(flags.chunk, embedder.maxChunk);
  const chunks: string[][] = [];
  for (let i = 0; i < texts.length; i += size) chunks.push(texts.slice(i, i + size));
  const showProgress = flags.progress ?? (process.stderr.isTTY === true && chunks.length > 1);
  let done = 0;
  // Rate and ETA as of the last chunk printed.
  const pace = new Pace();
  let started = 0;
  let bar: ProgressBar | undefined;
  if (showProgress) {
    // The rate counts from a warm pool: the model's load is not embedding time.
    await embedder.ready();
    started = performance.now();
    bar = startProgressBar(() => {
      const rate = formatRate(pace.perSecond(), 'texts');
      const eta = pace.secondsLeft(texts.length);
      return { label: 'embedding', done, total: texts.length, unit: 'texts', ...(rate !== undefined && { rate }), ...(eta !== undefined && { etaSeconds: eta }) };
    });
  }
  const window = embedder.window;
  const pending: Promise<ArrayLike<number>[]>[] = [];
  try {
    for (let c = 0; c < chunks.length || pending.length > 0; ) {
      while (c < chunks.length && pending.length < window) pending.push(embedder.embed(chunks[c++]!));
      const chunkIndex = c - pending.length;
      const vectors = await pending.shift()!;
      const chunk = chunks[chunkIndex]!;
      let out = '';
      for (let i = 0; i < chunk.length; i++) out += `${JSON.stringify({ text: chunk[i], dims: vectors[i]!.length, embedding: Array.from(vectors[i]!) })}\n`;
      if (!process.stdout.write(out)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      done += chunk.length;
      if (bar) {
        pace.add(performance.now() - started, done);
        bar.update();
      }
    }
  } finally {
    bar?.stop();
    // Calls still in flight after a failure must not become unhandled rejections.
    for (const p of pending) p.catch(() => {});
  }
}

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--chunk takes a positive integer, received ${JSON.stringify(value)}`);
  return n;
};

export function register(program: Command): void {
  addPoolFlags(
    addRemoteFlags(
      program
        .command('embed')
        .description('embed texts and print one JSON object per line: {"text", "dims", "embedding"}')
        .argument('[text...]', 'texts to embed; "-" reads lines of stdin')
        .option('-f, --file <path>', 'embed each non-empty line of a file ("-" for stdin)')
        .option('--no-normalize', 'keep raw pooled vectors instead of unit length')
        .addOption(new Option('--pooling <how>', 'how token vectors are pooled (default mean)').choices(POOLINGS))
        .option('--no-truncate', 'fail on a text longer than the model takes instead of cutting it')
        .option('--chunk <n>', 'texts per call to the pool', positiveInt, 256)
        .option('--progress', 'show a progress bar on stderr (default: when stderr is a terminal and there are several chunks)')
        .addHelpText('after', '\nExamples:\n  warmpool embed "some text" "another text"\n  printf "one\\ntwo\\n" | warmpool embed -\n  warmpool embed --file corpus.txt > vectors.jsonl\n  warmpool embed --url http://127.0.0.1:8080 "some text"   # through a running `warmpool serve`'),
    ),
  ).action(async (args: string[], flags: EmbedFlags, command: Command) => {
    const texts = readTexts(args, flags.file);
    if (texts.length === 0) throw new UsageError('give at least one text, "-" to read lines from stdin, or --file <path>');
    const server = remoteServer(flags, command);
    if (server) return embedAll(await serverEmbedder(server, flags), texts, flags);
    // A handful of texts from the command line is best served by one worker (one model load);
    // files and stdin get the pool's default size unless told otherwise.
    const fromArgs = flags.file === undefined && !(args.length === 1 && args[0] === '-');
    const defaults = fromArgs && process.env[ENV_VARS.maxThreads] === undefined ? { threads: 1 } : {};
    await withPool(poolOptionsFrom(flags, oneShot(defaults)), (pool) => embedAll(poolEmbedder(pool, flags), texts, flags));
  });
}
