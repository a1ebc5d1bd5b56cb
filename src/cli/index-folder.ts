/** `warmpool index <folder>`: splits the folder's .txt and .md files into passages and indexes them. */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { indexFolder, type FolderProgress } from '../collections/ingest.js';
import { addPoolFlags, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

interface IndexFlags extends PoolFlags {
  collection: string;
}

/**
 * Files done of files found, with passages written, their rate and the time left. The ETA is
 * cli-progress's, from the rate at which files complete: the number of passages is not known
 * until every file has been read.
 */
function progressBar(): { update(p: FolderProgress): void; finish(files: number): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'indexing [{bar}] {value}/{total} files | {passages} passages | {rate} passages/s | ETA {eta_formatted}',
      etaBuffer: 20,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let last: FolderProgress | undefined;
  const payload = (p: FolderProgress) => ({ passages: p.passages, rate: p.elapsedMs > 0 ? Math.round((p.passages * 1000) / p.elapsedMs) : 0 });
  return {
    update(p) {
      last = p;
      if (!started) {
        bar.start(p.filesTotal, p.filesDone, payload(p));
        started = true;
      } else bar.update(p.filesDone, payload(p));
    },
    // Files with no text have no passages and never count as done on their own.
    finish(files) {
      if (started && last) bar.update(files, payload(last));
    },
    stop() {
      if (started) bar.stop();
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
      .addHelpText('after', '\nExample:\n  warmpool index ./samples && warmpool search "what makes the dough rise?"'),
  ).action(async (folder: string, flags: IndexFlags) => {
    await withPool(poolOptionsFrom(flags), async (pool) => {
      // Progress goes to stderr: a bar on a terminal, whole lines otherwise (logs, pipes, CI).
      const bar = process.stderr.isTTY === true ? progressBar() : undefined;
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
      const { passages, files, seconds } = result;
      process.stdout.write(`indexed ${passages} passages from ${files} files into collection "${flags.collection}" (${pool.options.storePath}) in ${seconds.toFixed(1)} s\n`);
    });
  });
}
