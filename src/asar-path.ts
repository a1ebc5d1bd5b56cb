/**
 * Electron packs an app's files into an `app.asar` archive. Node's fs is patched to read inside
 * it, but native code (onnxruntime loading its shared library, a model read by path) needs real
 * files: those are unpacked beside the archive, in `app.asar.unpacked`, and paths must point there.
 */
import { existsSync } from 'node:fs';

// A path segment that names an archive (`app.asar`, or any `*.asar`), followed by a separator.
const ASAR_SEGMENT = /([\\/][^\\/]+\.asar)(?=[\\/])/;

/**
 * Maps a path inside an asar archive to the same path in its `.asar.unpacked` folder; any other
 * path is returned unchanged, so it is safe to call outside Electron.
 *
 * @example
 * unpackedPath('/opt/App/resources/app.asar/node_modules/warmpool/dist/workers/embed-worker.js')
 * // '/opt/App/resources/app.asar.unpacked/node_modules/warmpool/dist/workers/embed-worker.js'
 */
export function unpackedPath(path: string): string {
  return path.replace(ASAR_SEGMENT, '$1.unpacked');
}

/**
 * The unpacked copy of a path when the app was packaged with it unpacked, else the path itself
 * (recent Electron versions can also start worker threads from inside the archive).
 */
export function preferUnpacked(path: string): string {
  const unpacked = unpackedPath(path);
  return unpacked !== path && existsSync(unpacked) ? unpacked : path;
}
