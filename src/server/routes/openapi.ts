/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of the built-in routes, `docs/openapi.json` as the
 * package ships it. It is read once, on the first request, so a server never pays for it unless
 * asked, and a copy of the package without it still starts (the route then answers 500).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { WarmpoolRoute } from '../options.js';

/**
 * Where the document lies, from this module's own URL: built, this file is
 * `dist/src/server/routes/openapi.js`, four folders below the package root; run from source
 * (tsx), it is `src/server/routes/openapi.ts`, three below.
 */
export function openapiPath(moduleUrl: string = import.meta.url): string {
  const candidates = ['../../../../docs/openapi.json', '../../../docs/openapi.json'].map((p) => fileURLToPath(new URL(p, moduleUrl)));
  return candidates.find((path) => existsSync(path)) ?? candidates[0]!;
}

export const openapi: WarmpoolRoute = async (app) => {
  let text: Promise<string> | undefined;

  app.get('/openapi.json', async (_request, reply) => {
    text ??= readFile(openapiPath(), 'utf8');
    // Kept as text: it is sent as it is on disk, never parsed and serialised again.
    const body = await text.catch((error: unknown) => {
      text = undefined;
      throw error;
    });
    reply.type('application/json; charset=utf-8');
    return body;
  });
};
