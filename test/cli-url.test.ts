/**
 * The commands' `--url` mode against a real `warmpool serve` child: the same output as a local
 * pool, the server's errors passed on, and a store held by the server refused with a message
 * that says what to do.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'warmpool-cli-url-'));
const served = join(tmp, 'served');
const local = join(tmp, 'local');
const folder = join(tmp, 'corpus');

const ENV: Record<string, string | undefined> = { ...process.env, WARMPOOL_THREADS: '1', WARMPOOL_STORE_PATH: local };
delete ENV.WARMPOOL_URL;
delete ENV.WARMPOOL_API_KEY;

const cli = (args: string[], env: Record<string, string> = {}, input?: string) =>
  spawnSync(process.execPath, ['dist/src/cli.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...ENV, ...env },
    ...(input !== undefined && { input }),
  });

let server: ReturnType<typeof spawn>;
let url = '';

beforeAll(async () => {
  mkdirSync(join(folder, 'sub'), { recursive: true });
  writeFileSync(join(folder, 'a.md'), '# Guitars\n\nA man is playing a guitar on a stage in front of a crowd.\n\nThe drummer keeps the beat.');
  writeFileSync(join(folder, 'sub', 'b.txt'), 'The stock market fell sharply today as investors sold shares.');
  writeFileSync(join(folder, 'c.txt'), 'Bees dance to tell the hive where the flowers are.\n\nYeast makes the dough rise.');
  // A server on its own store, with the bundled reranker beside the embedding model.
  server = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', '--store', served, '--with', 'rerank=rerank:glove-rerank', '--api-key', 'k1'], {
    cwd: ROOT,
    env: ENV,
  });
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    let found = '';
    createInterface({ input: server.stdout! }).on('line', (line) => {
      const m = /^listening on (\S+)/.exec(line);
      if (m) found = m[1]!;
      if (line.startsWith('ready')) resolve(found);
    });
    server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
});

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const KEY = { WARMPOOL_API_KEY: 'k1' };

describe('--url: through a running server', () => {
  it('index --url then search --url give what a local pool gives over another store of the same folder', () => {
    const remote = cli(['index', folder, '--collection', 'notes', '--url', url], KEY);
    expect(remote.status, remote.stderr).toBe(0);
    expect(remote.stdout).toMatch(new RegExp(`^indexed 3 passages from 3 files into collection "notes" \\(${url.replace(/[.]/g, '\\.')}\\) in [\\d.]+ s\\n$`));
    expect(remote.stderr).toMatch(/indexed 3 passages from 3\/3 files/);
    const here = cli(['index', folder, '--collection', 'notes']);
    expect(here.status, here.stderr).toBe(0);

    for (const question of ['shares dropped on wall street', 'how do bees find flowers?']) {
      for (const extra of [['--json'], ['-k', '2']]) {
        const a = cli(['search', question, '--collection', 'notes', ...extra, '--url', url], KEY);
        const b = cli(['search', question, '--collection', 'notes', ...extra]);
        expect(a.status, a.stderr).toBe(0);
        expect(b.status, b.stderr).toBe(0);
        expect(a.stdout, `${question} ${extra.join(' ')}`).toBe(b.stdout);
      }
    }
    const hits = JSON.parse(cli(['search', 'shares dropped', '--collection', 'notes', '--json', '--url', url], KEY).stdout) as { id: string }[];
    expect(hits[0]!.id).toBe('sub/b.txt#0');

    // Again, with --json: the passages are replaced, not added; the store is the server.
    const json = cli(['index', folder, '--collection', 'notes', '--json', '--url', url], KEY);
    expect(json.status, json.stderr).toBe(0);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(Object.keys(summary).sort()).toEqual(['collection', 'dims', 'documents', 'elapsedMs', 'files', 'folder', 'model', 'passages', 'store'].sort());
    expect(summary).toMatchObject({ collection: 'notes', store: url, folder, files: 3, passages: 3, documents: 3, model: 'glove-100d', dims: 100 });
  }, 120_000);

  it('search without --url on the store the server holds exits 1, names the holder and says what to do', () => {
    // The server took the store's lock when the previous test indexed through it.
    const started = Date.now();
    const r = cli(['search', 'anything', '--collection', 'notes'], { WARMPOOL_STORE_PATH: served });
    expect(r.status, r.stderr).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`is in use by process ${server.pid}`);
    expect(r.stderr).toContain('a warmpool server or another process holds this store; pass --url http://host:port (or set WARMPOOL_URL) to go through the server, or stop it');
    const index = cli(['index', folder, '--collection', 'notes'], { WARMPOOL_STORE_PATH: served });
    expect(index.status).toBe(1);
    expect(index.stderr).toContain('pass --url http://host:port');
  });

  it("WARMPOOL_URL stands for --url, and --url '' runs a local pool despite it", () => {
    const a = cli(['search', 'a guitar on stage', '--collection', 'notes', '--json'], { ...KEY, WARMPOOL_URL: url, WARMPOOL_STORE_PATH: served });
    expect(a.status, a.stderr).toBe(0);
    const b = cli(['search', 'a guitar on stage', '--collection', 'notes', '--json', '--url', ''], { WARMPOOL_URL: url });
    expect(b.status, b.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('embed --url prints the same lines as a local pool, normalised or not', () => {
    const texts = ['A man is playing a guitar.', 'Someone plays an instrument.', 'The stock market fell.'];
    for (const extra of [[], ['--no-normalize'], ['--chunk', '1']]) {
      const a = cli(['embed', ...extra, '--url', url, ...texts], KEY);
      const b = cli(['embed', ...extra, ...texts]);
      expect(a.status, a.stderr).toBe(0);
      expect(b.status, b.stderr).toBe(0);
      expect(a.stdout.trim().split('\n')).toHaveLength(3);
      expect(a.stdout, extra.join(' ')).toBe(b.stdout);
    }
    const stdin = cli(['embed', '-', '--url', url], KEY, 'one\n\ntwo\n');
    expect(stdin.status, stdin.stderr).toBe(0);
    expect(stdin.stdout).toBe(cli(['embed', '-'], {}, 'one\n\ntwo\n').stdout);
  });

  it('rerank --url prints the same lines as a local pool', () => {
    const docs = ['The cat sat on the mat.', 'To sort a list in place, call its sort method.', 'Heavy rain is expected tonight.'];
    for (const extra of [[], ['--top', '2'], ['--raw-scores']]) {
      const a = cli(['rerank', ...extra, '--url', url, 'how do I sort a list?', ...docs], KEY);
      const b = cli(['rerank', ...extra, 'how do I sort a list?', ...docs]);
      expect(a.status, a.stderr).toBe(0);
      expect(a.stdout, extra.join(' ')).toBe(b.stdout);
    }
  });
});

describe('--url: errors', () => {
  it("exits 1 with the server's message for a bad or unknown collection, and a refused request", () => {
    const bad = cli(['search', 'x', '--collection', 'bad name!', '--url', url], KEY);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/answered 400: collection must be 1-128 letters, digits, .* received "bad name!"/);
    const missing = cli(['search', 'x', '--collection', 'nothing-here', '--url', url], KEY);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('answered 404: no collection named "nothing-here"');
    const indexBad = cli(['index', folder, '--collection', '.hidden', '--url', url], KEY);
    expect(indexBad.status).toBe(1);
    expect(indexBad.stderr).toMatch(/answered 400: collection must be/);
    const unauthorised = cli(['embed', 'x', '--url', url]);
    expect(unauthorised.status).toBe(1);
    expect(unauthorised.stderr).toMatch(/answered 401/);
  });

  it('exits 1 for a server that cannot be reached, suggesting to drop --url', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    for (const args of [['search', 'x'], ['embed', 'x'], ['index', folder], ['rerank', 'q', 'd']]) {
      const r = cli([...args, '--url', `http://127.0.0.1:${port}`]);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`cannot reach a warmpool server at http://127.0.0.1:${port} (ECONNREFUSED)`);
      expect(r.stderr).toContain('drop --url (and unset WARMPOOL_URL) to run a pool here');
    }
  });

  it('exits 2 for a URL that is not one, and for pool flags given with --url', () => {
    const notUrl = cli(['search', 'x', '--url', 'not a url']);
    expect(notUrl.status).toBe(2);
    expect(notUrl.stderr).toContain('--url must be a URL such as http://127.0.0.1:8080, received "not a url"');
    const flags = cli(['embed', 'x', '--threads', '2', '--model', 'glove-100d', '--url', url], KEY);
    expect(flags.status).toBe(2);
    expect(flags.stderr).toContain('--model, --threads do not apply with --url: the server runs its own pool');
    const pooling = cli(['embed', 'x', '--pooling', 'cls', '--url', url], KEY);
    expect(pooling.status).toBe(2);
    expect(pooling.stderr).toContain('--pooling does not apply with --url');
  });
});
