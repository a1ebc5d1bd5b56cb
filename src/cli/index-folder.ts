/** `warmpool index <folder>`: splits the folder's .txt and .md files into passages and indexes them. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { indexFolder, type FolderProgress, type StreamIndexer } from '../collections/ingest.js';
import type { Doc, IndexStreamOptions } from '../collections/types.js';
import { formatRate, Pace, startProgressBar, type ProgressBar, type ProgressFigures } from './progress.js';
import { addPoolFlags, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { addRemoteFlags, collectionPath, remoteServer, type RemoteFlags, type Server } from './remote.js';
import { withPool } from './with-pool.js';

interface IndexFlags extends PoolFlags, RemoteFlags {
  collection: string;
  progress?: boolean;
  json?: boolean;
}

/**
 * Files done of files found, with passages written, their rate and the time left. The ETA is
 * from the pace at which files complete (the number of passages is not known until every file
 * has been read), so there is none until files have been completed.
 */
function progressBar(): { update(p: FolderProgress): void; finish(files: number): void; stop(): void } {
  const started = performance.now();
  let last: FolderProgress | undefined;
  let filesDone = 0;
  const files = new Pace();
  const passages = new Pace();
  let bar: ProgressBar | undefined;
  const figures = (): ProgressFigures => {
    const p = last!;
    const rate = formatRate(passages.perSecond(), 'passages');
    const eta = files.secondsLeft(p.filesTotal);
    return {
      label: 'indexing',
      done: filesDone,
      total: p.filesTotal,
      unit: 'files',
      extra: `${p.passages} passages`,
      ...(rate !== undefined && { rate }),
      ...(eta !== undefined && { etaSeconds: eta }),
    };
  };
  return {
    update(p) {
      last = p;
      filesDone = p.filesDone;
      const ms = performance.now() - started;
      files.add(ms, p.filesDone);
      passages.add(ms, p.passages);
      if (bar) bar.update();
      else bar = startProgressBar(figures, { hideCursor: true });
    },
    // Files with no text have no passages and never count as done on their own.
    finish(total) {
      filesDone = total;
      bar?.update();
    },
    stop() {
      bar?.stop();
    },
  };
}

/** What the server's `GET /info` tells of its main model. */
interface ServerInfo {
  model_id: string;
  dimensions?: number;
  max_client_batch_size: number;
}

/**
 * Indexing through a server: the passages, read and chunked here, go in batches to
 * `POST /v1/collections/:name/documents` (one batch at a time; each answered once durable).
 * The collection is created first when it does not exist, with the settings a local
 * `pool.index()` would give it (the server's model's dims, the default metric and index).
 */
function remoteIndexer(server: Server, maxInputs: number): StreamIndexer {
  return {
    async indexStream(source: AsyncIterable<Doc>, options: IndexStreamOptions) {
      const started = performance.now();
      const name = options.collection!;
      const exists = await server.request<object | null>('GET', collectionPath(name), undefined, null);
      if (exists === null) await server.request('POST', 'v1/collections', { name });
      const size = Math.max(1, Math.min(options.batchSize ?? 128, maxInputs));
      let indexed = 0;
      let batches = 0;
      let batch: Doc[] = [];
      const send = async (): Promise<void> => {
        const { count } = await server.request<{ count: number }>('POST', collectionPath(name, '/documents'), { documents: batch });
        indexed += count;
        batches++;
        batch = [];
        options.onProgress?.({ indexed, batches, elapsedMs: performance.now() - started });
      };
      for await (const doc of source) {
        batch.push(doc);
        if (batch.length >= size) await send();
      }
      if (batch.length > 0) await send();
      return { count: indexed, batches };
    },
  };
}

/** Progress goes to stderr: a bar on a terminal (or with --progress), whole lines otherwise (logs, pipes, CI). */
const showsBar = (flags: IndexFlags): boolean => flags.progress ?? process.stderr.isTTY === true;

/** Indexes the folder through a pool or a server, showing progress on stderr. */
async function run(indexer: StreamIndexer, folder: string, flags: IndexFlags): Promise<{ passages: number; files: number }> {
  const bar = showsBar(flags) ? progressBar() : undefined;
  try {
    const result = await indexFolder(indexer, folder, flags.collection, (line, progress) => {
      if (bar) bar.update(progress);
      else process.stderr.write(`${line}\n`);
    });
    bar?.finish(result.files);
    return result;
  } finally {
    bar?.stop();
  }
}

/** The last line on stdout, or with --json the summary object; `store` is a folder, or the server's URL. */
function report(
  flags: IndexFlags,
  folder: string,
  { passages, files }: { passages: number; files: number },
  elapsedMs: number,
  where: { store: string; remote?: boolean; model: string; dims: number | undefined; documents: number },
): void {
  if (flags.json) {
    const summary = {
      collection: flags.collection,
      store: where.remote ? where.store : resolve(where.store),
      folder: resolve(folder),
      files,
      passages,
      documents: where.documents,
      model: where.model,
      dims: where.dims,
      elapsedMs: Math.round(elapsedMs),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(`indexed ${passages} passages from ${files} files into collection "${flags.collection}" (${where.store}) in ${(elapsedMs / 1000).toFixed(1)} s\n`);
  }
}
export function register(program: Command): void {
  addPoolFlags(
    addRemoteFlags(
      program
        .command('index')
        .description("split a folder's .txt and .md files into passages and index them into a collection")
        .argument('<folder>', 'folder of .txt / .md files (searched recursively)')
        .option('--collection <name>', 'collection to index into', 'default')
        .option('--json', 'print what was indexed as one JSON object on stdout (progress stays on stderr)')
        .option('--progress', 'show the progress bar on stderr even when it is not a terminal (default: a bar on a terminal, whole lines otherwise)'),
    ).addHelpText(
      'after',
      '\nExamples:\n  warmpool index ./samples && warmpool search "what makes the dough rise?"\n  warmpool index ./samples --url http://127.0.0.1:8080   # through a running `warmpool serve`',
    ),
  ).action(async (folder: string, flags: IndexFlags, command: Command) => {
    const server = remoteServer(flags, command);
    if (server) {
      // From the command's start, as locally from the pool's.
      const started = performance.now();
      const info = await server.request<ServerInfo>('GET', 'info');
      const result = await run(remoteIndexer(server, info.max_client_batch_size), folder, flags);
      const elapsedMs = performance.now() - started;
      const documents = flags.json ? (await server.request<{ count: number }>('GET', collectionPath(flags.collection, '/count'))).count : 0;
      report(flags, folder, result, elapsedMs, { store: server.url, remote: true, model: info.model_id, dims: info.dimensions, documents });
      return;
    }
    await withPool(poolOptionsFrom(flags), async (pool) => {
      // From the pool's start: the model's load is part of what indexing took.
      const started = performance.now();
      // The bar's rate counts from a warm pool: the model's load is not indexing time.
      if (showsBar(flags)) await pool.ready();
      const result = await run(pool, folder, flags);
      const elapsedMs = performance.now() - started;
      const documents = flags.json ? await pool.count({ collection: flags.collection }) : 0;
      report(flags, folder, result, elapsedMs, { store: pool.options.storePath, model: pool.options.model, dims: pool.model?.dims, documents });
    });
  });
}
