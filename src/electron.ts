/**
 * `warmpool/electron`: paths inside a packaged Electron app. Files an app reads by path (a model
 * folder of its own) must come from `app.asar.unpacked`, not from the `app.asar` archive.
 */
export { unpackedPath } from './asar-path.js';
