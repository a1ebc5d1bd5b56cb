// Sandboxed preload: it cannot load npm packages, so it only hands the port to the page.
// A MessagePort cannot cross contextBridge; window.postMessage with a transfer list can.
const { ipcRenderer } = require('electron');

ipcRenderer.on('warmpool:port', (event) => {
  window.postMessage('warmpool:port', '*', event.ports);
});
