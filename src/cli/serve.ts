/**
 * `warmpool serve`: the HTTP server over a warm pool. On SIGTERM or SIGINT it stops accepting,
 * lets requests in flight finish, closes the pool and exits 0; a second signal ends it at once.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
// Type-only imports of Fastify: this file loads no server code until `serve` runs.
import { resolveServerOptions, SERVER_DEFAULTS, SERVER_LOG_LEVELS, type ServerOptions } from '../server/options.js';
import { UsageError } from './exit-codes.js';
import { addPoolFlags, poolOptionsFrom, type PoolFlags } from './pool-flags.js';
import { withPool } from './with-pool.js';

/** The server flags are the server's own options, under the same names. */
interface ServeFlags
  extends PoolFlags,
    Pick<ServerOptions, 'host' | 'port' | 'apiKey' | 'bodyLimit' | 'maxInputs' | 'modelName' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'logLevel'> {}

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
      .option('--host <host>', `interface to listen on (env WARMPOOL_HOST; default ${SERVER_DEFAULTS.host})`)
      .option('--port <port>', `TCP port, 0 for any free one (env WARMPOOL_PORT; default ${SERVER_DEFAULTS.port})`, int('--port'))
      .option('--api-key <key>', 'require "Authorization: Bearer <key>" (env WARMPOOL_API_KEY, which keeps the key out of `ps`)')
      .option('--body-limit <bytes>', `largest request body (env WARMPOOL_BODY_LIMIT; default ${SERVER_DEFAULTS.bodyLimit})`, int('--body-limit'))
      .option('--max-inputs <n>', `most texts per request (env WARMPOOL_MAX_INPUTS; default ${SERVER_DEFAULTS.maxInputs})`, int('--max-inputs'))
      .option('--model-name <name>', 'the model name answers report (env WARMPOOL_MODEL_NAME; default the model option)')
      .option('--headers-timeout <ms>', `most time a client may take to send a request's headers, else 408 (env WARMPOOL_HEADERS_TIMEOUT; default ${SERVER_DEFAULTS.headersTimeout})`, int('--headers-timeout'))
      .option('--request-timeout <ms>', `most time a client may take to send a whole request, else 408; 0: no limit (env WARMPOOL_REQUEST_TIMEOUT; default ${SERVER_DEFAULTS.requestTimeout})`, int('--request-timeout'))
      .option('--keep-alive-timeout <ms>', `how long an idle keep-alive connection stays open (env WARMPOOL_KEEP_ALIVE_TIMEOUT; default ${SERVER_DEFAULTS.keepAliveTimeout})`, int('--keep-alive-timeout'))
      .addOption(
        new Option('--log-level <level>', `log errors (full messages) and requests to stderr as JSON lines (env WARMPOOL_LOG_LEVEL; default ${SERVER_DEFAULTS.logLevel})`).choices(SERVER_LOG_LEVELS),
      )
      .addHelpText('after', '\nPrints "listening on <url>" when the port is open and "ready" once the workers are warm.\nSIGTERM/SIGINT: finish requests in flight, close the pool, exit 0.'),
  ).action(async (flags: ServeFlags) => {
    const serverOptions = serverOptionsFrom(flags);
    const { startServer } = await import('../server/create-server.js');
    await withPool(poolOptionsFrom(flags), async (pool) => {
      const signalled = waitForSignal();
      const running = await startServer(pool, serverOptions);
      process.stdout.write(`listening on ${running.url}\n`);
      try {
        // Up before warm, so probes can see /health at once and /ready turn 200.
        const outcome = await Promise.race([pool.ready().then(() => 'ready' as const), signalled]);
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
