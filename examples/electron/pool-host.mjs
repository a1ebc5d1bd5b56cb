// Electron utility process: creates the pool once and serves it to every renderer that connects.
// Packaged, warmpool finds its worker and bundled model in app.asar.unpacked by itself.
import { createPool } from 'warmpool';
import { electronPortEndpoint, exposePool } from 'warmpool/bridge';

// Its collections go to WARMPOOL_STORE_PATH, which the main process sets to the app's data folder.
const pool = createPool({ threads: 2 });

process.parentPort.on('message', (event) => {
  const message = event.data;
  if (message?.type === 'connect') {
    // event.ports[0] is a MessagePortMain whose other end is in a renderer. Its 'message' events
    // carry { data }, unlike Node's ports: the adapter says so (and sends vectors by copy, the
    // only way a MessagePortMain can send them).
    exposePool(pool, electronPortEndpoint(event.ports[0]));
  } else if (message?.type === 'shutdown') {
    pool.close().finally(() => process.exit(0));
  }
});
