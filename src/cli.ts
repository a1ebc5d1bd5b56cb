#!/usr/bin/env node
/**
 * The `warmpool` command. Pool options come from the same WARMPOOL_* environment variables as
 * the library, or from the flags below.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { indexFolder } from './collections/ingest.js';
import type { SearchHit } from './collections/types.js';
import { WarmpoolError } from './errors.js';
import { createPool, type WarmPool } from './pool.js';
import type { PoolOptions } from './options.js';

const USAGE = `usage: warmpool <command> [options]

commands:
  embed <text...>     embed texts (or lines of stdin with "-") and print one JSON object per line
  index <folder>      split the folder's .txt and .md files into passages and index them
  search <question>   print the passages closest to the question
  demo                index the bundled samples/ folder and run a few searches
  info                print the resolved model and pool settings as JSON

options:
  --model <name|path|hub-id>   model to load (env WARMPOOL_MODEL; default glove-100d)
  --threads <n>                worker threads (env WARMPOOL_THREADS)
  --no-normalize               keep raw pooled vectors (embed)
  --store <dir>                collections directory (env WARMPOOL_STORE_PATH; default ./.warmpool)
  --collection <name>          collection to index into or search (default "default")
  -k <n>                       hits to print (search; default 5)
  -h, --help                   show this help
`;

const SAMPLES_DIR = fileURLToPath(new URL('../../samples/', import.meta.url));

const DEMO_QUESTIONS = [
  'How do bees tell each other where the flowers are?',
  'What makes the dough rise?',
  'What do the moon and the sun do to the sea?',
  'How far away did the lightning strike?',
  'How do runners train for a marathon?',
];

function printHits(hits: SearchHit[]): void {
  if (hits.length === 0) process.stdout.write('  (no hits)\n');
  hits.forEach((hit, i) => {
    const text = hit.text && hit.text.length > 160 ? `${hit.text.slice(0, 157)}...` : (hit.text ?? '');
    process.stdout.write(`  ${i + 1}. ${hit.score.toFixed(3)}  ${hit.id}\n     ${text}\n`);
  });
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      threads: { type: 'string' },
      'no-normalize': { type: 'boolean', default: false },
      store: { type: 'string' },
      collection: { type: 'string' },
      k: { type: 'string', short: 'k' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const options: PoolOptions = {};
  if (values.model !== undefined) options.model = values.model;
  if (values.threads !== undefined) options.threads = Number(values.threads);
  if (values.store !== undefined) options.storePath = values.store;
  const collection = values.collection ?? 'default';

  if (command === 'embed') {
    const texts = rest.length === 1 && rest[0] === '-' ? readFileSync(0, 'utf8').split('\n').filter((l) => l.trim() !== '') : rest;
    if (texts.length === 0) {
      process.stderr.write('warmpool embed: give at least one text, or "-" to read lines from stdin\n');
      return 2;
    }
    return withPool({ threads: 1, ...options }, async (pool) => {
      const vectors = await pool.embed(texts, { normalize: !values['no-normalize'] });
      for (let i = 0; i < texts.length; i++) {
        process.stdout.write(`${JSON.stringify({ text: texts[i], dims: vectors[i]!.length, embedding: Array.from(vectors[i]!) })}\n`);
      }
    });
  }
  if (command === 'index') {
    if (rest.length !== 1) {
      process.stderr.write('warmpool index: give one folder of .txt / .md files\n');
      return 2;
    }
    return withPool(options, async (pool) => {
      const { passages, files, seconds } = await indexFolder(pool, rest[0]!, collection, (line) => process.stderr.write(`\r${line}`));
      process.stderr.write('\n');
      process.stdout.write(`indexed ${passages} passages from ${files} files into collection "${collection}" (${pool.options.storePath}) in ${seconds.toFixed(1)} s\n`);
    });
  }
  if (command === 'search') {
    const question = rest.join(' ').trim();
    if (!question) {
      process.stderr.write('warmpool search: give a question\n');
      return 2;
    }
    const k = values.k === undefined ? 5 : Number(values.k);
    return withPool({ threads: 1, ...options }, async (pool) => {
      printHits(await pool.search(question, { collection, k }));
    });
  }
  if (command === 'demo') {
    return withPool(options, async (pool) => {
      const started = performance.now();
      const { passages, files } = await indexFolder(pool, SAMPLES_DIR, collection, () => {});
      process.stdout.write(
        `indexed ${passages} passages from ${files} files in samples/ into ${pool.options.storePath} (${pool.model!.model}, ${pool.model!.dims}-d) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      for (const question of DEMO_QUESTIONS) {
        const t0 = performance.now();
        const hits = await pool.search(question, { collection, k: 2 });
        process.stdout.write(`\n${question}  (${(performance.now() - t0).toFixed(1)} ms)\n`);
        printHits(hits);
      }
    });
  }
  if (command === 'info') {
    return withPool(options, async (pool) => {
      await pool.ready();
      process.stdout.write(`${JSON.stringify({ model: pool.model, options: pool.options }, null, 2)}\n`);
    });
  }
  process.stderr.write(`warmpool: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  return 2;
}

async function withPool(options: PoolOptions, body: (pool: WarmPool) => Promise<void>): Promise<number> {
  const pool = createPool(options);
  try {
    await body(pool);
    return 0;
  } finally {
    await pool.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof WarmpoolError ? `${error.name} [${error.code}]: ${error.message}` : String(error instanceof Error ? error.message : error);
    process.stderr.write(`warmpool: ${message}\n`);
    process.exitCode = 1;
  },
);
