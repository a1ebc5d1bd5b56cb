/**
 * `warmpool rerank`: scores documents against a query with a rerank model (a cross-encoder) and
 * prints one JSON object per line, best first: `{ "index", "score", "document" }`.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ENV_VARS } from '../options.js';
import { UsageError } from './exit-codes.js';
import { addPoolFlags, oneShot, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { addRemoteFlags, remoteServer, type RemoteFlags } from './remote.js';
import { withPool } from './with-pool.js';

interface RerankFlags extends PoolFlags, RemoteFlags {
  file?: string;
  top?: number;
  rawScores?: boolean;
  truncate: boolean;
}

/** The bundled reranker: what `warmpool rerank` loads unless `--model` says otherwise. */
export const DEFAULT_RERANKER = 'glove-rerank';

const lines = (text: string): string[] => text.split(/\r?\n/).filter((line) => line.trim() !== '');

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--top takes a positive integer, received ${JSON.stringify(value)}`);
  return n;
};

export function register(program: Command): void {
  addPoolFlags(
    addRemoteFlags(
      program
        .command('rerank')
        .description('score documents against a query with a rerank model; one JSON object per line, best first: {"index", "score", "document"}')
        .argument('<query>', 'the query')
        .argument('[document...]', 'the documents; or --file')
        .option('-f, --file <path>', 'one document per non-empty line of a file ("-" for stdin)')
        .option('--top <n>', 'print only the best n', positiveInt)
        .option('--raw-scores', "print the model's logits instead of sigmoid scores in (0, 1)")
        .option('--no-truncate', 'fail on a query and document longer than the model takes instead of cutting them')
        .addHelpText(
          'after',
          `\nThe model is the bundled reranker (${DEFAULT_RERANKER}) unless --model names another cross-encoder.\n\nExamples:\n  warmpool rerank "how do I sort a list?" "sorted() returns a new list" "the weather is fine"\n  warmpool rerank --top 3 "how do I sort a list?" --file docs.txt\n  warmpool rerank --url http://127.0.0.1:8080 "how do I sort a list?" --file docs.txt   # the server's reranker`,
        ),
    ),
  ).action(async (query: string, args: string[], flags: RerankFlags, command: Command) => {
    let documents = args;
    if (flags.file !== undefined) {
      if (args.length > 0) throw new UsageError('give documents as arguments or --file, not both');
      try {
        documents = lines(readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8'));
      } catch (error) {
        throw new Error(`cannot read ${flags.file === '-' ? 'stdin' : flags.file}: ${(error as Error).message}`);
      }
    }
    if (documents.length === 0) throw new UsageError('give at least one document, or --file <path>');
    const print = (results: { index: number; score: number; document?: string }[]): void => {
      let out = '';
      for (const r of results) out += `${JSON.stringify({ index: r.index, score: r.score, document: r.document })}\n`;
      process.stdout.write(out);
    };
    const server = remoteServer(flags, command);
    if (server) {
      // TEI's /rerank: the server's first rerank model, results best first; TEI has no top_n.
      const ranked = await server.request<{ index: number; score: number; text?: string }[]>('POST', 'rerank', {
        query,
        texts: documents,
        truncate: flags.truncate,
        raw_scores: flags.rawScores === true,
        return_text: true,
      });
      print((flags.top ? ranked.slice(0, flags.top) : ranked).map((r) => ({ index: r.index, score: r.score, document: r.text })));
      return;
    }
    const defaults = {
      model: DEFAULT_RERANKER,
      task: 'rerank' as const,
      // One model load serves a command line's worth of documents.
      ...(process.env[ENV_VARS.maxThreads] === undefined && { threads: 1 }),
    };
    // An explicit task beats WARMPOOL_TASK: `--model` alone names a reranker here.
    const options = poolOptionsFrom(flags, oneShot(defaults));
    await withPool(options, async (pool) => {
      print(await pool.rerank(query, documents, { returnDocuments: true, truncate: flags.truncate, ...(flags.top && { topN: flags.top }), ...(flags.rawScores && { rawScores: true }) }));
    });
  });
}
