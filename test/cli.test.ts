import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { SLOW_TEXTS, ROOT, cosine } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'warmpool-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ENV = { ...process.env, WARMPOOL_THREADS: '1', WARMPOOL_STORE_PATH: join(tmp, 'store') };
const cli = (args: string[], input?: string) =>
  spawnSync(process.execPath, ['dist/src/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: ENV, ...(input !== undefined && { input }) });

type Line = { text: string; dims: number; embedding: number[] };
const parse = (stdout: string): Line[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);

/** What a terminal shows of output that redraws lines in place: escape sequences out, one entry per redraw. */
const screenLines = (out: string): string[] =>
  out
    .split(/\r|\n|\x1b\[1G/)
    .map((l) => l.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, ''))
    .filter((l) => l.trim() !== '');
/** Columns a line takes: every character the CLI prints is one column wide. */
const columns = (line: string): number => [...line].length;

/** A folder of `files` text files of about 50 passages each: more than one batch to index. */
function writeCorpus(folder: string, files: number): void {
  mkdirSync(folder, { recursive: true });
  const paragraph = 'Rivers carry water from the hills down to the sea, past towns and fields. ';
  for (let f = 0; f < files; f++) writeFileSync(join(folder, `f${f}.txt`), Array.from({ length: 200 }, () => paragraph).join('\n\n'));
}

describe('warmpool embed', () => {
  it('prints one JSON line per text', () => {
    const r = cli(['embed', 'A man is playing a guitar.', 'Someone plays an instrument.']);
    expect(r.status).toBe(0);
    const lines = parse(r.stdout);
    expect(lines.map((l) => l.text)).toEqual(['A man is playing a guitar.', 'Someone plays an instrument.']);
    expect(lines[0]!.dims).toBe(100);
    expect(cosine(Float32Array.from(lines[0]!.embedding), Float32Array.from(lines[1]!.embedding))).toBeGreaterThan(0.5);
  });

  it('reads lines from stdin with "-"', () => {
    const r = cli(['embed', '-'], 'one\n\ntwo\n');
    expect(r.status).toBe(0);
    expect(parse(r.stdout).map((l) => l.text)).toEqual(['one', 'two']);
  });

  it('reads a file with --file, in order, across chunks, the same vectors as from arguments', () => {
    const texts = Array.from({ length: 25 }, (_, i) => `line number ${i} about rivers and music`);
    const file = join(tmp, 'texts.txt');
    writeFileSync(file, `${texts.join('\n')}\n`);
    const r = cli(['embed', '--file', file, '--chunk', '4', '--threads', '2', '--progress']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/25\/25 texts \| [\d.]+ texts\/s \| ETA 0s/);
    for (const line of screenLines(r.stderr)) expect(columns(line), line).toBeLessThanOrEqual(80);
    const lines = parse(r.stdout);
    expect(lines.map((l) => l.text)).toEqual(texts);
    const direct = parse(cli(['embed', texts[7]!]).stdout)[0]!;
    expect(lines[7]!.embedding).toEqual(direct.embedding);
  });

  it('fails with exit code 1 and the typed error on stderr for a missing model or a missing file', () => {
    const r = cli(['embed', '--model', '/no/such/model', 'x']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/ModelLoadError \[ERR_WARMPOOL_MODEL_LOAD\]: model folder not found: \/no\/such\/model/);
    const f = cli(['embed', '--file', join(tmp, 'absent.txt')]);
    expect(f.status).toBe(1);
    expect(f.stderr).toMatch(/cannot read .*absent\.txt/);
  });
});

describe('warmpool rerank', () => {
  const docs = ['The cat sat on the mat.', 'To sort a list in place, call its sort method.', 'Heavy rain is expected tonight.'];

  it('prints one JSON line per document, best first, with the bundled reranker', () => {
    const r = cli(['rerank', 'how do I sort a list?', ...docs]);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { index: number; score: number; document: string });
    expect(rows.map((row) => row.index)).toHaveLength(3);
    expect(rows[0]).toEqual({ index: 1, score: expect.any(Number), document: docs[1] });
    expect(rows[0]!.score).toBeGreaterThan(rows[1]!.score);
  });

  it('reads documents from a file or stdin, keeps the best --top, and --raw-scores prints logits', () => {
    const top = cli(['rerank', '--top', '1', '--raw-scores', 'will it rain tonight?', '-f', '-'], docs.join('\n'));
    expect(top.status, top.stderr).toBe(0);
    const rows = top.stdout.trim().split('\n').map((line) => JSON.parse(line) as { index: number; score: number });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.index).toBe(2);
    // A logit, not a probability: the same pair's sigmoid is what the default prints.
    const plain = JSON.parse(cli(['rerank', 'will it rain tonight?', docs[2]!]).stdout) as { score: number };
    expect(1 / (1 + Math.exp(-rows[0]!.score))).toBeCloseTo(plain.score, 6);
  });

  it('exits 2 without documents or with a bad --top, and 1 when the model is not a reranker', () => {
    expect(cli(['rerank', 'q']).status).toBe(2);
    expect(cli(['rerank', '--top', '0', 'q', 'd']).status).toBe(2);
    const notReranker = cli(['rerank', '--model', 'glove-100d', 'q', 'd']);
    expect(notReranker.status).toBe(1);
    expect(notReranker.stderr).toMatch(/ModelLoadError \[ERR_WARMPOOL_MODEL_LOAD\]: .*cannot rerank/);
  });
});

describe('usage errors exit 2, help exits 0', () => {
  it('exits 2 for an unknown command, an unknown flag, a bad value, no text, or no command', () => {
    for (const args of [['frobnicate'], ['embed', '--frob', 'x'], ['embed', '--threads', 'x', 'a'], ['embed', '--threads', '0', 'a'], ['embed'], []]) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.length).toBeGreaterThan(0);
    }
    expect(cli(['frobnicate']).stderr).toContain("unknown command 'frobnicate'");
  });

  it('prints --help for the program and each command on stdout with exit 0', () => {
    const top = cli(['--help']);
    expect(top.status).toBe(0);
    for (const name of ['embed', 'index', 'search', 'serve', 'stats', 'info', 'demo']) expect(top.stdout).toContain(name);
    expect(top.stdout).toContain('Exit codes: 0 done, 1 runtime error');
    const serve = cli(['serve', '--help']);
    expect(serve.status).toBe(0);
    for (const flag of ['--host', '--port', '--api-key', '--max-inputs', '--model', '--threads', '--max-queue']) expect(serve.stdout).toContain(flag);
    for (const name of ['embed', 'index', 'search', 'stats', 'info', 'demo']) expect(cli([name, '--help']).status).toBe(0);
  });
});

describe('warmpool demo, info, stats', () => {
  it('demo indexes samples/ into the store and finds the right passage for each question', () => {
    const r = cli(['demo']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/indexed \d+ passages from 20 files in samples\//);
    expect(r.stdout).toMatch(/How do bees tell each other where the flowers are\?.*\n  1\. [\d.]+  honeybees\.md#/);
    expect(r.stdout).toMatch(/What makes the dough rise\?.*\n  1\. [\d.]+  bread\.md#/);
    expect(r.stdout).toMatch(/How do runners train for a marathon\?.*\n  1\. [\d.]+  marathon\.md#/);
  });

  it('index <folder> then search <question> over the on-disk collection', () => {
    const folder = join(tmp, 'corpus');
    mkdirSync(join(folder, 'sub'), { recursive: true });
    writeFileSync(join(folder, 'a.md'), '# Guitars\n\nA man is playing a guitar on a stage in front of a crowd.\n\nThe drummer keeps the beat.');
    writeFileSync(join(folder, 'sub', 'b.txt'), 'The stock market fell sharply today as investors sold shares.');
    writeFileSync(join(folder, 'ignored.json'), '{"not": "indexed"}');
    const indexed = cli(['index', folder, '--collection', 'cli']);
    expect(indexed.status, indexed.stderr).toBe(0);
    expect(indexed.stdout).toMatch(/indexed 2 passages from 2 files into collection "cli"/);
    expect(indexed.stderr).toMatch(/indexed 2 passages/);
    const found = cli(['search', 'shares dropped on wall street', '--collection', 'cli', '-k', '1']);
    expect(found.status, found.stderr).toBe(0);
    expect(found.stdout).toMatch(/^  1\. [\d.]+  sub\/b\.txt#0\n     The stock market fell sharply/);
    const json = cli(['search', 'a guitar on stage', '--collection', 'cli', '--json']);
    expect((JSON.parse(json.stdout) as { id: string }[])[0]!.id).toBe('a.md#0');
    // --mode keyword: only passages that share a word with the question.
    const keyword = cli(['search', 'drummer', '--collection', 'cli', '--mode', 'keyword', '--json']);
    expect((JSON.parse(keyword.stdout) as { id: string }[]).map((h) => h.id)).toEqual(['a.md#0']);
    expect(cli(['search', 'x', '--collection', 'cli', '--mode', 'fuzzy']).status).toBe(2);
    const missing = cli(['search', 'anything', '--collection', 'nothing-here']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/CollectionNotFoundError \[ERR_WARMPOOL_COLLECTION_NOT_FOUND\]/);
  });

  it('index --json prints one JSON object of what it indexed, and nothing else on stdout', () => {
    const folder = join(tmp, 'corpus-json');
    mkdirSync(join(folder, 'notes'), { recursive: true });
    writeFileSync(join(folder, 'a.md'), '# Tides\n\nThe moon pulls the sea into two bulges.\n\nThe sun adds its own, smaller pull.');
    writeFileSync(join(folder, 'notes', 'b.txt'), 'Yeast turns sugar into gas, and the gas makes the dough rise.');
    writeFileSync(join(folder, 'notes', 'empty.txt'), '');
    writeCorpus(join(folder, 'long'), 3);
    type Summary = { collection: string; store: string; folder: string; files: number; passages: number; documents: number; model: string; dims: number; elapsedMs: number };
    const run = () => {
      const r = cli(['index', folder, '--collection', 'json', '--json']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.endsWith('\n')).toBe(true);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      // Progress is on stderr, as without --json.
      expect(r.stderr).toMatch(/indexed \d+ passages from \d+\/6 files/);
      return JSON.parse(r.stdout) as Summary;
    };
    const first = run();
    expect(Object.keys(first).sort()).toEqual(['collection', 'dims', 'documents', 'elapsedMs', 'files', 'folder', 'model', 'passages', 'store'].sort());
    expect(first).toMatchObject({ collection: 'json', store: join(tmp, 'store'), folder, files: 6, model: 'glove-100d', dims: 100 });
    expect(first.passages).toBeGreaterThan(150);
    expect(first.documents).toBe(first.passages);
    expect(first.elapsedMs).toBeGreaterThan(0);
    // The same folder again replaces its passages: as many passages, no more documents.
    const again = run();
    expect(again.passages).toBe(first.passages);
    expect(again.documents).toBe(first.passages);
    const missing = cli(['index', join(tmp, 'no-such-folder'), '--json']);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe('');
  });

  // util-linux `script` runs the command on a real pseudo-terminal, so stderr is a TTY; `stty`
  // gives that terminal 80 columns.
  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasScript)('index shows a progress bar of files, passages, rate and ETA that fits an 80-column terminal', () => {
    const folder = join(tmp, 'corpus-tty');
    writeCorpus(folder, 3);
    const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
    const command = [process.execPath, 'dist/src/cli.js', 'index', folder, '--collection', 'tty'].map(quote).join(' ');
    const r = spawnSync('script', ['-qec', `stty cols 80; ${command}`, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: ENV });
    expect(r.status, r.stdout).toBe(0);
    const screens = screenLines(r.stdout).filter((l) => l.startsWith('indexing ['));
    expect(screens.length, r.stdout).toBeGreaterThan(0);
    for (const line of screens) expect(columns(line), line).toBeLessThanOrEqual(80);
    expect(screens.at(-1)).toMatch(/3\/3 files \| \d+ passages \| \d+ passages\/s \| ETA 0s$/);
    // Not the plain lines of a pipe.
    expect(r.stdout).not.toMatch(/indexed \d+ passages from \d+\/\d+ files/);
    expect(r.stdout).toMatch(/indexed \d+ passages from 3 files into collection "tty"/);
  });

  it('index --progress draws the bar where stderr is not a terminal, every line within 80 columns', () => {
    const folder = join(tmp, 'corpus-progress');
    writeCorpus(folder, 4);
    const r = cli(['index', folder, '--collection', 'progress', '--progress']);
    expect(r.status, r.stderr).toBe(0);
    const lines = screenLines(r.stderr);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(columns(line), line).toBeLessThanOrEqual(80);
    expect(lines.at(-1)).toMatch(/^indexing \[█+\] 4\/4 files \| \d+ passages \| \d+ passages\/s \| ETA 0s$/);
  });

  it('info prints the model and the resolved options', () => {
    const r = cli(['info', '--max-queue', '7']);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { model: { dims: number }; options: { maxQueue: number; maxThreads: number } };
    expect(info.model.dims).toBe(100);
    expect(info.options).toMatchObject({ maxQueue: 7, maxThreads: 1 });
  });

  it('--weights-cache names where the pool keeps models prepared for shared weights; off: each worker loads its own copy', () => {
    type Info = { model: { weights: { shared: boolean; cachePath?: string; reason?: string } }; options: { weightsCache: string | false } };
    const dir = join(tmp, 'weights');
    const r = cli(['info', '--weights-cache', dir]);
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as Info;
    expect(info.options.weightsCache).toBe(dir);
    expect(info.model.weights).toMatchObject({ shared: true });
    expect(info.model.weights.cachePath!.startsWith(`${dir}/`)).toBe(true);
    expect(readdirSync(dir)).toHaveLength(1);
    const off = cli(['info', '--weights-cache', 'off']);
    expect(off.status, off.stderr).toBe(0);
    const offInfo = JSON.parse(off.stdout) as Info;
    expect(offInfo.options.weightsCache).toBe(false);
    expect(offInfo.model.weights).toEqual({ shared: false, reason: 'weightsCache is false' });
  });

  it('one-shot commands skip the peak-arena run at load, unless WARMPOOL_PREALLOCATE says otherwise', () => {
    const options = (env?: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['dist/src/cli.js', 'info'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...ENV, ...env } });
      expect(r.status).toBe(0);
      return (JSON.parse(r.stdout) as { options: { preallocate: boolean } }).options;
    };
    expect(options().preallocate).toBe(false);
    expect(options({ WARMPOOL_PREALLOCATE: 'true' }).preallocate).toBe(true);
  });

  it('stats warms a pool and prints its snapshot', () => {
    const r = cli(['stats', '--threads', '2']);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as { workersReady: number; modelLoads: number; workers: unknown[] };
    expect(s.workersReady).toBe(2);
    expect(s.modelLoads).toBe(2);
  });
});

/** Starts `warmpool serve` and resolves once it prints "ready", with its URL. */
function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', ...args], { cwd: ROOT, env: { ...ENV, ...env } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    let found = '';
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const m = /^listening on (\S+)/.exec(line);
      if (m) found = m[1]!;
      if (line.startsWith('ready')) resolve(found);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  url.catch(() => {});
  return { child, url, exited, stderr: () => stderr };
}

describe('warmpool bench', () => {
  it('documents its flags in --help', () => {
    const r = cli(['bench', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['[names...]', '--quick', '--tiny', '--out <dir>', '--no-report', '--root <dir>']) expect(r.stdout).toContain(flag);
  });

  it('exits 1 with a clear message where there are no benchmark sources, as in an installed package', () => {
    const installed = join(tmp, 'installed-package');
    mkdirSync(join(installed, 'dist'), { recursive: true });
    const r = cli(['bench', '--quick', '--root', installed]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no benchmark sources in .*installed-package .*bench\/run\.ts is missing/);
    expect(r.stdout).toBe('');
  });

  it('passes names through to the suite, which refuses an unknown one with exit 2 before running anything', () => {
    const r = cli(['bench', 'no-such-benchmark', '--out', join(tmp, 'bench-out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown argument "no-such-benchmark"');
    expect(r.stderr).toContain('benchmarks: warm-cold');
  });
});

describe('warmpool serve', () => {
  it('serves, answers stats --url, and on SIGTERM finishes the request in flight, then exits 0', async () => {
    const s = serve(['--model', 'minilm-shape', '--api-key', 'k1'], {});
    try {
      const url = await s.url;
      const stats = spawnSync(process.execPath, ['dist/src/cli.js', 'stats', '--url', url], { cwd: ROOT, encoding: 'utf8', env: { ...ENV, WARMPOOL_API_KEY: 'k1' } });
      expect(stats.status, stats.stderr).toBe(0);
      expect(JSON.parse(stats.stdout)).toMatchObject({ workersReady: 1 });
      const unauthorised = spawnSync(process.execPath, ['dist/src/cli.js', 'stats', '--url', url], { cwd: ROOT, encoding: 'utf8', env: ENV });
      expect(unauthorised.status).toBe(1);
      expect(unauthorised.stderr).toMatch(/answered 401/);

      // About a second of work on the 6-layer model: still running when the signal arrives.
      const inFlight = fetch(`${url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k1' },
        body: JSON.stringify({ input: SLOW_TEXTS, encoding_format: 'float' }),
      });
      // Signal only once the server has the request running.
      const callsSoFar = async () =>
        ((await (await fetch(`${url}/stats`, { headers: { authorization: 'Bearer k1' } })).json()) as { requests: number }).requests;
      while ((await callsSoFar()) === 0) await new Promise((r) => setTimeout(r, 20));
      s.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: unknown[] }).data).toHaveLength(4);
      expect(await s.exited).toBe(0);
      expect(s.stderr()).toContain('SIGTERM: finishing requests in flight');
      await expect(fetch(`${url}/health`)).rejects.toThrow();
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  it('exits 1 when the model cannot be loaded, and 2 for a bad server flag', async () => {
    const bad = serve(['--model', '/no/such/model']);
    expect(await bad.exited).toBe(1);
    expect(bad.stderr()).toContain('ERR_WARMPOOL_MODEL_LOAD');
    const r = cli(['serve', '--port', '70000']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('options.port must be an integer from 0 to 65535, received 70000');
  });
});
