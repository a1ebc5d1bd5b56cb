import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const ENV = { ...process.env, WARMPOOL_THREADS: '1' };

describe('examples/fastify-server', () => {
  it('starts, answers its own route and the mounted API on 127.0.0.1, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['examples/fastify-server/server.mjs'], { cwd: ROOT, env: { ...ENV, PORT: '0' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      const post = (path: string, body: unknown) =>
        fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const close = (await (await post('/similarity', { a: 'A man is playing a guitar.', b: 'Someone plays an instrument.' })).json()) as { cosine: number };
      const far = (await (await post('/similarity', { a: 'A man is playing a guitar.', b: 'The stock market fell sharply today.' })).json()) as { cosine: number };
      expect(close.cosine).toBeGreaterThan(far.cosine);
      expect((await post('/similarity', { a: 1 })).status).toBe(400);
      expect((await fetch(`${url}/api/ready`)).status).toBe(200);
      const emb = (await (await post('/api/v1/embeddings', { input: 'hello', encoding_format: 'float' })).json()) as { data: { embedding: number[] }[] };
      expect(emb.data[0]!.embedding).toHaveLength(100);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('examples/cli', () => {
  it('nearest.mjs ranks the lines of a file against a query', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warmpool-example-'));
    try {
      const file = join(dir, 'lines.txt');
      writeFileSync(file, 'The stock market fell sharply today.\nA man is playing a guitar.\nHeavy rain is expected tonight.\n');
      const r = spawnSync(process.execPath, ['examples/cli/nearest.mjs', 'Someone plays an instrument.', file, '2'], { cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^0\.\d{3} {2}A man is playing a guitar\.$/);
      expect(spawnSync(process.execPath, ['examples/cli/nearest.mjs'], { cwd: ROOT }).status).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('examples/custom-task', () => {
  it('looks words up through a custom onnxruntime-node model in the pool', () => {
    const r = spawnSync(process.execPath, ['examples/custom-task/main.mjs', 'guitar', 'violin', 'parliament', 'zzzqqqxx'], { cwd: ROOT, encoding: 'utf8', env: ENV, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const rows = Object.fromEntries(r.stdout.trim().split('\n').map((line) => line.split('\t') as [string, string]));
    expect(Number(rows.guitar)).toBeCloseTo(1, 5);
    expect(Number(rows.violin)).toBeGreaterThan(Number(rows.parliament));
    expect(rows.zzzqqqxx).toBe('not in the vocabulary');
    expect(spawnSync(process.execPath, ['examples/custom-task/main.mjs'], { cwd: ROOT }).status).toBe(2);
  });
});

describe('examples/electron (Electron itself cannot run here)', () => {
  it('its files parse', () => {
    for (const file of ['main.mjs', 'pool-host.mjs', 'renderer.mjs', 'preload.cjs']) {
      execFileSync(process.execPath, ['--check', join(ROOT, 'examples/electron', file)]);
    }
  });

  it('a packaged layout works: main side in app.asar, the worker and model run from exactly what asarUnpack unpacks', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'examples/electron/package.json'), 'utf8')) as { build: { asarUnpack: string[] } };
    const unpackList = pkg.build.asarUnpack.map((glob) => /^node_modules\/(.+)\/\*\*$/.exec(glob)?.[1]);
    expect(unpackList.every(Boolean)).toBe(true);
    // Hard links (same file system as node_modules) make the copies instant. `app.asar` is a plain
    // folder here, standing in for the archive that Electron's fs shows as one.
    const base = join(ROOT, '.warmpool');
    mkdirSync(base, { recursive: true });
    const resources = mkdtempSync(join(base, 'asar-'));
    const link = (from: string, to: string) => {
      mkdirSync(join(to, '..'), { recursive: true });
      execFileSync('cp', ['-al', from, to]);
    };
    try {
      const asar = join(resources, 'app.asar');
      const unpacked = join(resources, 'app.asar.unpacked');
      // The archive: the app and what the main side imports (the archive lists unpacked files too).
      writeFileSync((mkdirSync(asar, { recursive: true }), join(asar, 'package.json')), '{"name":"app","type":"module","private":true}');
      link(join(ROOT, 'dist'), join(asar, 'node_modules/warmpool/dist'));
      link(join(ROOT, 'package.json'), join(asar, 'node_modules/warmpool/package.json'));
      mkdirSync(join(asar, 'node_modules/warmpool/models'));
      link(join(ROOT, 'node_modules/piscina'), join(asar, 'node_modules/piscina'));
      // The unpacked folder: only what the asarUnpack list names.
      for (const name of unpackList as string[]) {
        if (name === 'warmpool') {
          link(join(ROOT, 'dist'), join(unpacked, 'node_modules/warmpool/dist'));
          link(join(ROOT, 'package.json'), join(unpacked, 'node_modules/warmpool/package.json'));
          link(join(ROOT, 'models/glove-100d'), join(unpacked, 'node_modules/warmpool/models/glove-100d'));
        } else {
          link(join(ROOT, 'node_modules', name), join(unpacked, 'node_modules', name));
        }
      }
      writeFileSync(
        join(asar, 'main.mjs'),
        `import { createPool } from 'warmpool';
const pool = createPool({ threads: 1 });
const v = await pool.embed('A man is playing a guitar.');
console.log(JSON.stringify({ dims: v.length, model: pool.model.model }));
await pool.close();
`,
      );
      const r = spawnSync(process.execPath, [join(asar, 'main.mjs')], { cwd: asar, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WARMPOOL_MODEL: '' } });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { dims: number; model: string };
      expect(out.dims).toBe(100);
      expect(out.model).toBe(join(unpacked, 'node_modules/warmpool/models/glove-100d'));
    } finally {
      rmSync(resources, { recursive: true, force: true });
    }
  });
});
