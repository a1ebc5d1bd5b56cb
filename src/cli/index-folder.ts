/** `warmpool index <folder>`: splits the folder's .txt and .md files into passages and indexes them. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { indexFolder, type FolderProgress } from '../collections/ingest.js';
import { formatRate, Pace, startProgressBar, type ProgressBar, type ProgressFigures } from './progress.js';
import { addPoolFlags, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

interface IndexFlags extends PoolFlags {
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

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('index')
      .description("split a folder's .txt and .md files into passages and index them into a collection")
      .argument('<folder>', 'folder of .txt / .md files (searched recursively)')
      .option('--collection <name>', 'collection to index into', 'default')
      .option('--json', 'print what was indexed as one JSON object on stdout (progress stays on stderr)')
      .option('--progress', 'show the progress bar on stderr even when it is not a terminal (default: a bar on a terminal, whole lines otherwise)')
      .addHelpText('after', '\nExample:\n  warmpool index ./samples && warmpool search "what makes the dough rise?"'),
  ).action(async (folder: string, flags: IndexFlags) => {
    await withPool(poolOptionsFrom(flags), async (pool) => {
      // From the pool's start: the model's load is part of what indexing took.
      const started = performance.now();
      // Progress goes to stderr: a bar on a terminal (or with --progress), whole lines otherwise (logs, pipes, CI).
      const showBar = flags.progress ?? process.stderr.isTTY === true;
      // The bar's rate counts from a warm pool: the model's load is not indexing time.
      if (showBar) await pool.ready();
      const bar = showBar ? progressBar() : undefined;
      let result;
      try {
        result = await indexFolder(pool, folder, flags.collection, (line, progress) => {
          if (bar) bar.update(progress);
          else process.stderr.write(`${line}\n`);
        });
        bar?.finish(result.files);
      } finally {
        bar?.stop();
      }
      const { passages, files } = result;
      const elapsedMs = performance.now() - started;
      if (flags.json) {
        const documents = await pool.count({ collection: flags.collection });
        const summary = {
          collection: flags.collection,
          store: resolve(pool.options.storePath),
          folder: resolve(folder),
          files,
          passages,
          documents,
          model: pool.options.model,
          dims: pool.model?.dims,
          elapsedMs: Math.round(elapsedMs),
        };
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        process.stdout.write(`indexed ${passages} passages from ${files} files into collection "${flags.collection}" (${pool.options.storePath}) in ${(elapsedMs / 1000).toFixed(1)} s\n`);
      }
    });
  });
}
