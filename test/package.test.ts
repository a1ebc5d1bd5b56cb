/**
 * What `npm pack` ships: every source map's sources are in the package, so stack traces (with
 * --enable-source-maps), debuggers and "go to definition" land in TypeScript a user can read.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

describe('the packed package', () => {
  it("ships the .ts sources every .js.map and .d.ts.map points to, LICENSE, and the OpenAPI document GET /openapi.json serves", () => {
    // --ignore-scripts: the files of dist/ as built, without a build of its own.
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const packed = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    expect(packed.has('LICENSE')).toBe(true);
    expect(packed.has('docs/openapi.json')).toBe(true);
    const maps = [...packed].filter((p) => p.endsWith('.map'));
    expect(maps.some((p) => p.endsWith('.js.map'))).toBe(true);
    expect(maps.some((p) => p.endsWith('.d.ts.map'))).toBe(true);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(`${ROOT}${map}`, 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of sources) {
        const path = posix.normalize(posix.join(posix.dirname(map), sourceRoot ?? '', source));
        if (!packed.has(path)) missing.push(`${map} -> ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
