// Electron main process: owns the window and the utility process, never the model.
// The pool lives in a utility process, so model loading and inference can never stall the
// main process (which runs every window's UI plumbing), and a crash there cannot take the app down.
import { app, BrowserWindow, MessageChannelMain, utilityProcess } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let host; // the utility process hosting the pool
let quitting = false;

function startHost() {
  // The pool's collections live in the app's own data folder (the working directory may not be writable).
  const env = { ...process.env, WARMPOOL_STORE_PATH: join(app.getPath('userData'), 'warmpool') };
  host = utilityProcess.fork(join(here, 'pool-host.mjs'), [], { serviceName: 'warmpool', stdio: 'inherit', env });
  host.once('exit', () => {
    host = undefined;
  });
}

/** A fresh channel per page load: one port to the pool host, the other to the renderer. */
function connect(win) {
  const { port1, port2 } = new MessageChannelMain();
  host.postMessage({ type: 'connect' }, [port1]);
  win.webContents.postMessage('warmpool:port', null, [port2]);
}

app.whenReady().then(() => {
  startHost();
  const win = new BrowserWindow({
    width: 800,
    height: 600,
    webPreferences: { preload: join(here, 'preload.cjs'), contextIsolation: true, sandbox: true },
  });
  win.webContents.on('did-finish-load', () => connect(win));
  void win.loadFile(join(here, 'index.html'));
});

app.on('window-all-closed', () => app.quit());

// Let the pool finish what it is doing and free its workers before the app exits.
app.on('before-quit', (event) => {
  if (!host || quitting) return;
  event.preventDefault();
  quitting = true;
  const child = host;
  const force = setTimeout(() => child.kill(), 15_000);
  child.once('exit', () => {
    clearTimeout(force);
    app.quit();
  });
  child.postMessage({ type: 'shutdown' });
});
