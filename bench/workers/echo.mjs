// A bare worker_threads Worker that answers every message at once: the floor of a thread round trip.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (message) => parentPort.postMessage(message));
