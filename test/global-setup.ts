import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The benchmark-shaped model is ~90 MB and git-ignored: generate it once if it is missing. */
export default function setup(): void {
  if (!existsSync(`${root}dist/src/index.js`)) {
    throw new Error('dist/ is missing: the tests run against the built package; run `npm test` (it builds first)');
  }
  if (!existsSync(`${root}models/minilm-shape/onnx/model.onnx`)) {
    execFileSync(process.execPath, ['--import', 'tsx', 'models/build-minilm-shape.ts'], { cwd: root, stdio: 'inherit' });
  }
}
