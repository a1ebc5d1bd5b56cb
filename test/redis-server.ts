import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { REDIS_MISSING, hasRedisServer } from './redis-check.js';

export interface RedisServer {
  url: string;
  port: number;
  /** The redis-server process now serving the port (a new one after `restart()`). */
  readonly process: ChildProcess;
  /** Stops it (resuming it first if paused). */
  stop(): Promise<void>;
  /** SIGSTOP: the server keeps its port and its connections but answers nothing. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** SIGKILL, as a crash: its connections drop and its data (never persisted) is gone. */
  kill(): Promise<void>;
  /** Kills the server if it still runs, then starts a new, empty one on the same port. */
  restart(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Spawns redis-server on `port` without persistence and waits until it answers PING. */
async function spawnRedis(port: number): Promise<Running> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 100; i++) {
    if (await ping(port)) break;
    if (!alive(child)) throw new Error(`redis-server exited with code ${child.exitCode} on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
    if (i === 99) throw new Error(`redis-server did not answer PING on port ${port} within 5 s`);
  }
  return { child, exited };
}

/** A real, throw-away redis-server on 127.0.0.1 and a free port, without persistence. */
export async function startRedis(): Promise<RedisServer> {
  // The global setup stops a run without it sooner; this is for a file run some other way.
  if (!hasRedisServer()) throw new Error(REDIS_MISSING);
  const port = await freePort();
  let current = await spawnRedis(port);
  const kill = async (): Promise<void> => {
    if (alive(current.child)) current.child.kill('SIGKILL');
    await current.exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get process() {
      return current.child;
    },
    async stop() {
      if (alive(current.child)) {
        current.child.kill('SIGCONT');
        current.child.kill('SIGTERM');
      }
      await current.exited;
    },
    pause() {
      current.child.kill('SIGSTOP');
    },
    resume() {
      current.child.kill('SIGCONT');
    },
    kill,
    async restart() {
      await kill();
      current = await spawnRedis(port);
    },
  };
}
