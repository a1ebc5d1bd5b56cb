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
import { withPool } from './with-pool.js';

interface EmbedFlags extends PoolFlags {
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

/** Embeds in chunks, a few at once so every worker is busy, and prints each chunk in order. */
async function embedAll(pool: WarmPool, texts: string[], flags: EmbedFlags): Promise<void> {
  const options = { normalize: flags.normalize, truncate: flags.truncate, ...(flags.pooling && { pooling: flags.pooling }) };
  const chunks: string[][] = [];
  for (let i = 0; i < texts.length; i += flags.chunk) chunks.push(texts.slice(i, i + flags.chunk));
  const showProgress = flags.progress ?? (process.stderr.isTTY === true && chunks.length > 1);
  let done = 0;
  // Rate and ETA as of the last chunk printed.
  const pace = new Pace();
  let started = 0;
  let bar: ProgressBar | undefined;
  if (showProgress) {
    // The rate counts from a warm pool: the model's load is not embedding time.
    await pool.ready();
    started = performance.now();
    bar = startProgressBar(() => {
      const rate = formatRate(pace.perSecond(), 'texts');
      const eta = pace.secondsLeft(texts.length);
      return { label: 'embedding', done, total: texts.length, unit: 'texts', ...(rate !== undefined && { rate }), ...(eta !== undefined && { etaSeconds: eta }) };
    });
  }
  const window = Math.max(1, pool.options.maxThreads * pool.options.concurrentTasksPerWorker);
  const pending: Promise<Float32Array[]>[] = [];
  try {
    for (let c = 0; c < chunks.length || pending.length > 0; ) {
      while (c < chunks.length && pending.length < window) pending.push(pool.embed(chunks[c++]!, options));
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
      .addHelpText('after', '\nExamples:\n  warmpool embed "some text" "another text"\n  printf "one\\ntwo\\n" | warmpool embed -\n  warmpool embed --file corpus.txt > vectors.jsonl'),
  ).action(async (args: string[], flags: EmbedFlags) => {
    const texts = readTexts(args, flags.file);
    if (texts.length === 0) throw new UsageError('give at least one text, "-" to read lines from stdin, or --file <path>');
    // A handful of texts from the command line is best served by one worker (one model load);
    // files and stdin get the pool's default size unless told otherwise.
    const fromArgs = flags.file === undefined && !(args.length === 1 && args[0] === '-');
    const defaults = fromArgs && process.env[ENV_VARS.maxThreads] === undefined ? { threads: 1 } : {};
    await withPool(poolOptionsFrom(flags, oneShot(defaults)), (pool) => embedAll(pool, texts, flags));
  });
}
