import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withStore } from './collections-helpers.js';
import { AbortError, createPool, InvalidInputError, withTestHooks, ErrorCodes, MigrationRunningError, ModelMismatchError, ROOT, type WarmPool } from './helpers.js';
import { startServer } from './server-helpers.js';

const CHILD = join(ROOT, 'test/fixtures/model-child.mjs');
const glove = (dir: string) => createPool({ threads: 1, storePath: dir, env: false });
const minilm = (dir: string) => createPool({ model: 'minilm-shape', threads: 1, storePath: dir, env: false, preallocate: false });
const docs = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ id: `d${from + i}`, text: `document ${from + i} about music rivers and mountains`, metadata: { i: from + i } }));

async function withPool<T>(pool: WarmPool, body: (pool: WarmPool) => Promise<T>): Promise<T> {
  try {
    return await body(pool);
  } finally {
    await pool.close();
  }
}

const hidden = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.'));

/** Runs the child fixture; `killWhen` sees each stdout line and may kill it (SIGKILL). */
function child(args: string[], env: Record<string, string> = {}, killWhen?: (line: string) => boolean) {
  const proc = spawn(process.execPath, [CHILD, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let rest = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      if (killWhen?.(line)) proc.kill('SIGKILL');
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: string[]; stderr: string }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, lines, stderr })),
  );
}

describe('collections that know their model', () => {
  it('records the model that made the vectors: a folder name and a content hash, never a path', async () => {
    await withStore(async ({ dir }) => {
      await withPool(glove(dir), async (pool) => {
        await pool.index(docs(5), { collection: 'notes' });
        const { model } = await pool.collections().info('notes');
        expect(model).toMatchObject({ model: 'glove-100d', dtype: pool.model!.dtype, pooling: pool.model!.pooling, normalize: true, dims: 100 });
        expect(model!.hash).toMatch(/^[0-9a-f]{64}$/);
        // Durable, in the collection's settings, and free of the machine's paths.
        const meta = readFileSync(join(dir, 'notes', 'meta.json'), 'utf8');
        expect(JSON.parse(meta).model).toEqual(model);
        expect(meta).not.toContain(ROOT);
        // A collection created empty with the model's dims records it too.
        expect((await pool.collections().create('empty')).model).toEqual(model);
      });
    });
  });

  it('refuses to index or search with another model: a ModelMismatchError naming both, what differs and how to migrate', async () => {
    await withStore(async ({ dir }) => {
      await withPool(glove(dir), (pool) => pool.index(docs(5), { collection: 'notes' }));
      await withPool(minilm(dir), async (pool) => {
        for (const call of [() => pool.search('music', { collection: 'notes' }), () => pool.index(docs(2, 100), { collection: 'notes' })]) {
          const error = await call().then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(ModelMismatchError);
          expect((error as ModelMismatchError).code).toBe(ErrorCodes.MODEL_MISMATCH);
          const { message } = error as Error;
          expect(message).toContain('glove-100d');
          expect(message).toContain('minilm-shape');
          expect(message).toMatch(/differ in model, weights,.*dims/);
          expect(message).toContain('migrate("notes")');
        }
        // Nothing was written, and a keyword search needs no model.
        expect(await pool.count({ collection: 'notes' })).toBe(5);
        expect((await pool.search('music', { collection: 'notes', mode: 'keyword', k: 2 })).length).toBe(2);
      });
    });
  });

  it('answers 409 with the typed error over HTTP', async () => {
    await withStore(async ({ dir }) => {
      await withPool(glove(dir), (pool) => pool.index(docs(5), { collection: 'notes' }));
      await withPool(minilm(dir), async (pool) => {
        const server = await startServer(pool, { port: 0, env: false });
        try {
          const res = await fetch(`${server.url}/v1/collections/notes/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'music' }) });
          expect(res.status).toBe(409);
          const body = (await res.json()) as { error: { code: string; message: string } };
          expect(body.error.code).toBe(ErrorCodes.MODEL_MISMATCH);
          expect(body.error.message).toContain('glove-100d');
          expect(body.error.message).not.toContain(dir);
        } finally {
          await server.close();
        }
      });
    });
  });

  it("adopts the first model that opens a collection with none recorded; vectors of one's own stay model-free", async () => {
    await withStore(async ({ dir }) => {
      await withPool(glove(dir), async (pool) => {
        await pool.index(docs(5), { collection: 'old' });
        const own = Array.from({ length: 3 }, (_, i) => ({ id: `v${i}`, text: `mine ${i}`, vector: Array.from({ length: 384 }, (_, j) => Math.sin(i + j)) }));
        await pool.index(own, { collection: 'own' });
      });
      // A collection written before fingerprints were kept: no model in its settings.
      const metaFile = join(dir, 'old', 'meta.json');
      const { model: _model, ...before } = JSON.parse(readFileSync(metaFile, 'utf8'));
      writeFileSync(metaFile, JSON.stringify(before));
      // A model of another width cannot have made it: refused, and nothing is recorded.
      await withPool(minilm(dir), async (pool) => {
        await expect(pool.search('music', { collection: 'old' })).rejects.toThrow(/no recorded model and 100-dimensional vectors/);
        expect((await pool.collections().info('old')).model).toBeUndefined();
        // Vectors of one's own have no model: a text search with any model is the caller's choice.
        expect((await pool.collections().info('own')).model).toBeNull();
        expect(await pool.search('mine', { collection: 'own', k: 1 })).toHaveLength(1);
        expect((await pool.collections().info('own')).model).toBeNull();
      });
      await withPool(glove(dir), async (pool) => {
        expect(await pool.search('music', { collection: 'old', k: 1 })).toHaveLength(1);
        expect((await pool.collections().info('old')).model).toMatchObject({ model: 'glove-100d' });
      });
      expect(JSON.parse(readFileSync(metaFile, 'utf8')).model).toMatchObject({ model: 'glove-100d', dims: 100 });
    });
  });
});

describe('#migrate', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(async () => {
    ({ dir, cleanup } = (await import('./collections-helpers.js')).tempStore());
  });
  afterAll(() => cleanup());

  it('re-embeds the stored texts in the background, answers searches meanwhile, refuses writes, and swaps the new collection in', async () => {
    await withPool(glove(dir), (pool) => pool.index(docs(200), { collection: 'docs' }));
    await withPool(minilm(dir), async (pool) => {
      const progress: number[] = [];
      const during: { hits: number; write: unknown; info: unknown }[] = [];
      let probing: Promise<void> | undefined;
      const migration = pool.collections().migrate('docs', {
        batchSize: 25,
        onProgress: (p) => {
          progress.push(p.migrated);
          expect(p.total).toBe(200);
          if (progress.length === 2) {
            probing = (async () => {
              const hits = await pool.search('document 7 music', { collection: 'docs', k: 3 });
              const write = await pool.index(docs(1, 500), { collection: 'docs' }).then(() => undefined, (e: unknown) => e);
              const info = await pool.collections().info('docs');
              during.push({ hits: hits.length, write, info });
            })();
          }
        },
      });
      const result = await migration;
      await probing;
      expect(progress.at(-1)).toBe(200);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(result).toMatchObject({ name: 'docs', migrated: true, count: 200, from: { model: 'glove-100d' }, to: { model: 'minilm-shape', dims: 384 } });
      // During the migration: the old collection answered (by keyword), a write was refused.
      expect(during).toHaveLength(1);
      expect(during[0]!.hits).toBe(3);
      expect(during[0]!.write).toBeInstanceOf(MigrationRunningError);
      expect((during[0]!.write as MigrationRunningError).code).toBe(ErrorCodes.MIGRATION_RUNNING);
      expect((during[0]!.info as { model: { model: string }; migration: { total: number } }).model.model).toBe('glove-100d');
      expect((during[0]!.info as { migration: { total: number } }).migration.total).toBe(200);
      // After: the new model's, whole, with the same texts and metadata, and searchable densely.
      const info = await pool.collections().info('docs');
      expect(info).toMatchObject({ count: 200, dims: 384, model: { model: 'minilm-shape' } });
      expect(info.migration).toBeUndefined();
      expect(await pool.get(['d7'], { collection: 'docs' })).toEqual([{ id: 'd7', text: 'document 7 about music rivers and mountains', metadata: { i: 7 } }]);
      expect(await pool.search('music', { collection: 'docs', mode: 'dense', k: 5 })).toHaveLength(5);
      await pool.index(docs(1, 500), { collection: 'docs' });
      expect(await pool.count({ collection: 'docs' })).toBe(201);
      // Already the pool's model: nothing to do.
      expect(await pool.collections().migrate('docs')).toMatchObject({ migrated: false, count: 201 });
    });
    expect(hidden(dir)).toEqual([]);
    // The swap is on disk: the old model's pool is now the one refused.
    await withPool(glove(dir), async (pool) => {
      await expect(pool.search('music', { collection: 'docs' })).rejects.toBeInstanceOf(ModelMismatchError);
    });
  });

  it('aborts on the signal: the new collection is removed and the old one is left as it was', async () => {
    await withPool(glove(dir), (pool) => pool.index(docs(100), { collection: 'abort' }));
    await withPool(minilm(dir), async (pool) => {
      const controller = new AbortController();
      const error = await pool
        .collections()
        .migrate('abort', { batchSize: 20, signal: controller.signal, onProgress: () => controller.abort(new Error('stop')) })
        .then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect((error as Error).message).toContain('after 20 documents');
      expect(await pool.collections().info('abort')).toMatchObject({ count: 100, dims: 100, model: { model: 'glove-100d' } });
      expect(hidden(dir)).toEqual([]);
      // Writes are accepted again (and refused for the model only).
      await expect(pool.delete('d1', { collection: 'abort' })).resolves.toBe(1);
      // Bad options are typed errors.
      await expect(pool.collections().migrate('abort', { batchSize: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(pool.collections().migrate('nope')).rejects.toMatchObject({ code: ErrorCodes.COLLECTION_NOT_FOUND });
    });
  });

  it("refuses to migrate a collection of vectors of one's own, or one with documents that have no text", async () => {
    await withPool(glove(dir), (pool) =>
      pool.index([{ id: 't', text: 'music' }, { id: 'v', text: '', vector: new Float32Array(100).fill(1) }], { collection: 'mixed' }),
    );
    await withPool(minilm(dir), async (pool) => {
      await pool.index([{ id: 'v', text: 'x', vector: new Float32Array(8).fill(1) }], { collection: 'own' });
      await expect(pool.collections().migrate('own')).rejects.toThrow(/vectors of its own/);
      const error = await pool.collections().migrate('mixed').then(() => undefined, (e: unknown) => e);
      expect((error as Error).message).toMatch(/1 document stored with a vector of its own and no text \("v"\)/);
      expect(await pool.collections().info('mixed')).toMatchObject({ count: 2, model: { model: 'glove-100d' } });
      expect(hidden(dir)).toEqual([]);
    });
  });

  it('starts over HTTP: POST /v1/collections/:name/migrate', async () => {
    await withPool(glove(dir), (pool) => pool.index(docs(60), { collection: 'http' }));
    await withPool(minilm(dir), async (pool) => {
      const server = await startServer(pool, { port: 0, env: false });
      try {
        const post = async (body: unknown) => {
          const res = await fetch(`${server.url}/v1/collections/http/migrate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          return { status: res.status, json: (await res.json()) as Record<string, any> };
        };
        expect((await post({ nope: 1 })).status).toBe(400);
        const started = await post({ batchSize: 20 });
        expect(started.status).toBe(202);
        expect(started.json).toMatchObject({ name: 'http', running: true, migration: { total: 60 } });
        // A second one while it runs is refused.
        const second = await post({ wait: true });
        expect([409, 200]).toContain(second.status);
        if (second.status === 409) expect(second.json.error.code).toBe(ErrorCodes.MIGRATION_RUNNING);
        for (let i = 0; i < 200 && (await pool.collections().info('http')).model?.model !== 'minilm-shape'; i++) await new Promise((r) => setTimeout(r, 100));
        expect(await pool.collections().info('http')).toMatchObject({ count: 60, model: { model: 'minilm-shape' } });
        const again = await post({ wait: true });
        expect(again).toMatchObject({ status: 200, json: { migrated: false, count: 60 } });
      } finally {
        await server.close();
      }
    });
  });
});

describe('#migrate when the index worker dies', () => {
  // Request 1 is an info call (the worker starts with the hook); then begin (2), read and write
  // twice (3-6), commit (7). The worker dies after handling the request, before answering it, and
  // the request is sent again to its replacement.
  const run = async (dir: string, indexCrash: number) => {
    await withPool(glove(dir), (pool) => pool.index(docs(40), { collection: 'docs' }));
    const pool = await withTestHooks({ indexCrash }, async () => {
      const p = minilm(dir);
      await p.collections().info('docs');
      return p;
    });
    return { pool, result: await pool.collections().migrate('docs', { batchSize: 20 }).then((r) => r, (e: unknown) => e) };
  };

  it('resolves when the worker dies after the swap, before answering the commit: its replacement finds the swap done', async () => {
    await withStore(async ({ dir }) => {
      const { pool, result } = await run(dir, 7);
      await withPool(pool, async () => {
        expect(pool.stats().indexRestarts).toBe(1);
        expect(result).toMatchObject({ migrated: true, count: 40, to: { model: 'minilm-shape' } });
        expect(await pool.collections().info('docs')).toMatchObject({ count: 40, model: { model: 'minilm-shape' } });
      });
    });
  });

  it('fails with a typed error when the worker dies mid-migration, and leaves the old collection whole', async () => {
    await withStore(async ({ dir }) => {
      const { pool, result } = await run(dir, 6);
      await withPool(pool, async () => {
        expect(pool.stats().indexRestarts).toBe(1);
        expect(result).toBeInstanceOf(InvalidInputError);
        expect((result as Error).message).toContain('no re-embed migration of collection "docs" is running');
        expect(await pool.collections().info('docs')).toMatchObject({ count: 40, model: { model: 'glove-100d' } });
        expect(hidden(dir)).toEqual([]);
        // It can be started again, and completes.
        expect(await pool.collections().migrate('docs')).toMatchObject({ migrated: true, count: 40 });
      });
    });
  });
});

describe('#migrate through the bridge', () => {
  it('migrates in the owner, and a mismatch crosses as its class', async () => {
    const { connectPool, exposePool } = await import('../dist/src/bridge/index.js');
    await withStore(async ({ dir }) => {
      await withPool(glove(dir), (pool) => pool.index(docs(30), { collection: 'bridged' }));
      await withPool(minilm(dir), async (pool) => {
        const { port1, port2 } = new MessageChannel();
        try {
          exposePool(pool, port1);
          const client = connectPool(port2);
          await expect(client.search('music', { collection: 'bridged' })).rejects.toBeInstanceOf(ModelMismatchError);
          const result = await client.collections().migrate('bridged', { batchSize: 10 });
          expect(result).toMatchObject({ name: 'bridged', migrated: true, count: 30, to: { model: 'minilm-shape' } });
          expect(await client.search('music', { collection: 'bridged', k: 2 })).toHaveLength(2);
        } finally {
          port1.close();
          port2.close();
        }
      });
    });
  });
});

describe('migration durability', () => {
  const fill = async (dir: string) => {
    const filled = await child([dir, 'fill', '200']);
    expect(filled.lines, filled.stderr).toContain('filled');
  };
  const expectOld = async (dir: string) => {
    await withPool(glove(dir), async (pool) => {
      expect(await pool.collections().info('docs')).toMatchObject({ count: 200, dims: 100, model: { model: 'glove-100d' } });
      expect(await pool.search('document 7', { collection: 'docs', k: 1 })).toHaveLength(1);
    });
    expect(hidden(dir)).toEqual([]);
  };
  const expectNew = async (dir: string) => {
    await withPool(minilm(dir), async (pool) => {
      expect(await pool.collections().info('docs')).toMatchObject({ count: 200, dims: 384, model: { model: 'minilm-shape' } });
      expect(await pool.get(['d199'], { collection: 'docs' })).toEqual([{ id: 'd199', text: 'document 199 about music rivers and mountains', metadata: { i: 199 } }]);
      expect(await pool.search('music', { collection: 'docs', mode: 'dense', k: 3 })).toHaveLength(3);
    });
    expect(hidden(dir)).toEqual([]);
  };

  it('keeps the old collection whole when the process is killed with SIGKILL mid-migration', async () => {
    await withStore(async ({ dir }) => {
      await fill(dir);
      const run = await child([dir, 'migrate'], {}, (line) => line === 'progress 60');
      expect(run.signal, run.stderr).toBe('SIGKILL');
      expect(run.lines).not.toContain('done 200');
      // The unfinished new collection is on disk until the next start, which removes it.
      expect(readdirSync(dir)).toContain('.migrating-docs');
      await expectOld(dir);
    });
  });

  for (const step of ['migrated', 'old-moved'] as const) {
    it(`finishes the swap at the next start when killed after the new collection is complete (${step})`, async () => {
      await withStore(async ({ dir }) => {
        await fill(dir);
        const run = await child([dir, 'migrate'], { WARMPOOL_TEST_HOOKS: JSON.stringify({ crashInMigration: step }) });
        expect(run.signal, run.stderr).toBe('SIGKILL');
        expect(run.lines).toContain('progress 200');
        expect(readdirSync(dir)).toContain('.migrated-docs');
        if (step === 'old-moved') expect(readdirSync(dir)).not.toContain('docs');
        await expectNew(dir);
      });
    });
  }
});

describe('warmpool migrate', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['dist/src/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, WARMPOOL_THREADS: '1' } });

  it('re-embeds a collection with --model, after which search with that model works and the old model is refused', async () => {
    await withStore(async ({ dir }) => {
      await withPool(glove(dir), (pool) => pool.index(docs(40), { collection: 'docs' }));
      const refused = cli(['search', 'music', '--collection', 'docs', '--model', 'minilm-shape', '--store', dir]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('warmpool migrate docs');
      const migrated = cli(['migrate', 'docs', '--model', 'minilm-shape', '--store', dir, '--docs-per-batch', '16', '--json']);
      expect(migrated.status, migrated.stderr).toBe(0);
      expect(JSON.parse(migrated.stdout)).toMatchObject({ name: 'docs', migrated: true, count: 40, from: { model: 'glove-100d' }, to: { model: 'minilm-shape' } });
      expect(migrated.stderr).toContain('migrating "docs": 40/40 documents');
      const found = cli(['search', 'music', '--collection', 'docs', '--model', 'minilm-shape', '--store', dir, '--json']);
      expect(found.status, found.stderr).toBe(0);
      expect(JSON.parse(found.stdout)).toHaveLength(5);
      const again = cli(['migrate', 'docs', '--model', 'minilm-shape', '--store', dir]);
      expect(again.stdout).toContain(`"docs" is already minilm-shape's: nothing to do`);
    });
  });
});

describe('fingerprint', () => {
  const fp = async () => import('../dist/src/collections/fingerprint.js');

  it('hashes the model folder by content: a copy elsewhere matches, a changed config or weights byte does not', async () => {
    const { folderHash } = await fp();
    await withStore(async ({ dir }) => {
      const copy = join(dir, 'elsewhere', 'glove-100d');
      cpSync(join(ROOT, 'models', 'glove-100d'), copy, { recursive: true });
      const original = await folderHash(join(ROOT, 'models', 'glove-100d'), 'fp32');
      expect(await folderHash(copy, 'fp32')).toBe(original);
      // README and licence files are not part of it.
      writeFileSync(join(copy, 'README.md'), 'changed');
      expect(await folderHash(copy, 'fp32')).toBe(original);
      const config = JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8'));
      writeFileSync(join(copy, 'config.json'), JSON.stringify({ ...config, note: 'another' }));
      const changed = await folderHash(copy, 'fp32');
      expect(changed).not.toBe(original);
      // A large weights file is hashed by samples: one changed byte inside a sampled block tells.
      const weights = join(dir, 'big', 'onnx', 'model.onnx');
      mkdirSync(join(dir, 'big', 'onnx'), { recursive: true });
      const bytes = Buffer.alloc(20 << 20, 7);
      writeFileSync(weights, bytes);
      const before = await folderHash(join(dir, 'big'), 'fp32');
      bytes[0] = 8;
      writeFileSync(weights, bytes);
      expect(await folderHash(join(dir, 'big'), 'fp32')).not.toBe(before);
    });
  });

  it('names each field that differs', async () => {
    const { fingerprintDiff, mismatchError } = await fp();
    const a = { model: 'm', hash: 'ab'.repeat(32), dtype: 'fp32', pooling: 'mean', normalize: true, documentPrompt: null, queryPrompt: 'query: ', dims: 8 };
    expect(fingerprintDiff(a, { ...a })).toEqual([]);
    expect(fingerprintDiff(a, { ...a, dtype: 'q8', queryPrompt: null })).toEqual(['dtype', 'queryPrompt']);
    const error = mismatchError('c', a, { ...a, pooling: 'cls' });
    expect(error).toBeInstanceOf(ModelMismatchError);
    expect(error.message).toContain('they differ in pooling');
    expect(error.message).toContain('query prompt "query: "');
  });
});
