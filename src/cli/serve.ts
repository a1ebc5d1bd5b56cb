/**
 * `warmpool serve`: the HTTP server over a warm pool. On SIGTERM or SIGINT it stops accepting,
 * lets requests in flight finish, closes the pool and exits 0; a second signal ends it at once.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
// Type-only imports of Fastify: this file loads no server code until `serve` runs.
import { resolveServerOptions, SERVER_LOG_LEVELS, SERVER_OPTIONS as S, type ServerOptions } from '../server/options.js';
import { UsageError } from './exit-codes.js';
import { addPoolFlags, flagHelp, flagName, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';
import type { WarmPool } from '../pool.js';

/** The server flags are the server's own options, under the same names. */
interface ServeFlags
  extends PoolFlags,
    Pick<ServerOptions, 'host' | 'port' | 'apiKey' | 'bodyLimit' | 'maxInputs' | 'modelName' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'logLevel' | 'replicaOf' | 'replicaLog'> {}

const int = (flag: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} takes an integer, received ${JSON.stringify(value)}`);
  return n;
};

function serverOptionsFrom(flags: ServeFlags): ServerOptions {
  const options: ServerOptions = {};
  if (flags.host !== undefined) options.host = flags.host;
  if (flags.port !== undefined) options.port = flags.port;
  if (flags.apiKey !== undefined) options.apiKey = flags.apiKey;
  if (flags.bodyLimit !== undefined) options.bodyLimit = flags.bodyLimit;
  if (flags.maxInputs !== undefined) options.maxInputs = flags.maxInputs;
  if (flags.modelName !== undefined) options.modelName = flags.modelName;
  if (flags.headersTimeout !== undefined) options.headersTimeout = flags.headersTimeout;
  if (flags.requestTimeout !== undefined) options.requestTimeout = flags.requestTimeout;
  if (flags.keepAliveTimeout !== undefined) options.keepAliveTimeout = flags.keepAliveTimeout;
  if (flags.logLevel !== undefined) options.logLevel = flags.logLevel;
  if (flags.replicaOf !== undefined) options.replicaOf = flags.replicaOf;
  if (flags.replicaLog !== undefined) options.replicaLog = flags.replicaLog;
  try {
    resolveServerOptions(options);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return options;
}

const waitForSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });

export function register(program: Command): void {
  addPoolFlags(
    program
      .command('serve')
      .description('serve embeddings over HTTP (OpenAI /v1/embeddings, TEI /embed, /health, /ready, /metrics, /stats)')
      .option(S.host.flag, flagHelp(S.host, 'interface to listen on'))
      .option(S.port.flag, flagHelp(S.port, 'TCP port, 0 for any free one'), int(flagName(S.port)))
      .option(S.apiKey.flag, flagHelp(S.apiKey, 'require "Authorization: Bearer <key>"; prefer the variable, which keeps the key out of `ps`'))
      .option(S.bodyLimit.flag, flagHelp(S.bodyLimit, 'largest request body'), int(flagName(S.bodyLimit)))
      .option(S.maxInputs.flag, flagHelp(S.maxInputs, 'most texts per request'), int(flagName(S.maxInputs)))
      .option(S.modelName.flag, flagHelp(S.modelName, 'the model name answers report'))
      .option(S.headersTimeout.flag, flagHelp(S.headersTimeout, "most time a client may take to send a request's headers, else 408"), int(flagName(S.headersTimeout)))
      .option(S.requestTimeout.flag, flagHelp(S.requestTimeout, 'most time a client may take to send a whole request, else 408; 0: no limit'), int(flagName(S.requestTimeout)))
      .option(S.keepAliveTimeout.flag, flagHelp(S.keepAliveTimeout, 'how long an idle keep-alive connection stays open'), int(flagName(S.keepAliveTimeout)))
      .option(S.replicaOf.flag, flagHelp(S.replicaOf, 'serve the collections as a replica of a log in this Redis: writes go through the log, searches answer locally'))
      .option(S.replicaLog.flag, flagHelp(S.replicaLog, "the replicated log's name: servers with the same one share their collections"))
      .addOption(new Option(S.logLevel.flag, flagHelp(S.logLevel, 'log errors (full messages) and requests to stderr as JSON lines')).choices(SERVER_LOG_LEVELS))
      .addHelpText('after', '\nPrints "listening on <url>" when the port is open and "ready" once the workers are warm (and, with --replica-of, the replica has joined its log).\nSIGTERM/SIGINT: finish requests in flight, close the pool, exit 0.'),
  ).action(async (flags: ServeFlags) => {
    const serverOptions = serverOptionsFrom(flags);
    const { startServer } = await import('../server/create-server.js');
    await withPool(poolOptionsFrom(flags), async (pool) => {
      const signalled = waitForSignal();
      const running = await startServer(pool, serverOptions);
      process.stdout.write(`listening on ${running.url}\n`);
      try {
        // Up before warm, so probes can see /health at once and /ready turn 200.
        const outcome = await Promise.race([serverReady(pool, running.url, serverOptions.replicaOf !== undefined), signalled]);
        if (outcome === 'ready') {
          process.stdout.write(`ready: model ${pool.model!.model} (${pool.model!.dims}-d), ${pool.options.maxThreads} workers\n`);
        }
        const signal = await signalled;
        process.stderr.write(`warmpool serve: ${signal}: finishing requests in flight, then closing\n`);
      } finally {
        await running.close();
      }
    });
  });
}

/**
 * Resolves once the pool is warm and, for a replica, once the server's own `/ready` says it has
 * joined its log (before that it refuses every write).
 */
async function serverReady(pool: WarmPool, url: string, replica: boolean): Promise<'ready'> {
  await pool.ready();
  while (replica) {
    const status = await fetch(`${url}/ready`).then((r) => r.status, () => 0);
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return 'ready';
}
