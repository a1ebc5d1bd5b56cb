import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

type ErrorsModule = typeof import('../../dist/src/errors.js');
const url = pathToFileURL(join(ROOT, 'dist/src/errors.js')).href;
// Two copies of the module, as two copies of the package in one app would have: the query makes
// a second, separate module instance with classes of its own.
const a = (await import(url)) as ErrorsModule;
const b = (await import(`${url}?second-copy`)) as ErrorsModule;
const names = Object.keys(a.ERROR_CLASSES) as (keyof ErrorsModule['ERROR_CLASSES'])[];

describe('error classes', () => {
  it('are separate classes in the two copies', () => {
    expect(b.QueueFullError).not.toBe(a.QueueFullError);
    expect(names.length).toBe(21);
  });

  it.each(names)('%s: name, code, cause and instanceof across copies', (name) => {
    const error = new b.ERROR_CLASSES[name]('what happened', { cause: 'why' });
    expect(error.name).toBe(name);
    expect(error.message).toBe('what happened');
    expect(error.cause).toBe('why');
    expect(error.code).toBe(a.ERROR_CLASSES[name].code);
    expect(error.code).toMatch(/^ERR_WARMPOOL_[A-Z_]+$/);
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(a.WarmpoolError);
    expect(error).toBeInstanceOf(a.ERROR_CLASSES[name]);
    expect(error).toBeInstanceOf(b.ERROR_CLASSES[name]);
    // No other class of either copy claims it, but its parent.
    for (const other of names) {
      if (other === name || (name === 'JobLostError' && other === 'WorkerExitedError') || (name === 'LoadTimeoutError' && other === 'ModelLoadError')) continue;
      expect(error instanceof a.ERROR_CLASSES[other], other).toBe(false);
    }
    expect(String(error.stack)).toContain(`${name}: what happened`);
  });

  it('JobLostError is a WorkerExitedError with its code, in both copies', () => {
    const error = new b.JobLostError('gone');
    expect(error).toBeInstanceOf(a.WorkerExitedError);
    expect(error.code).toBe('ERR_WARMPOOL_WORKER_EXITED');
    expect(new a.WorkerExitedError('x')).not.toBeInstanceOf(b.JobLostError);
  });

  it('LoadTimeoutError is a ModelLoadError with a code of its own, and crosses the wire as itself', () => {
    const error = new b.LoadTimeoutError('too slow');
    expect(error).toBeInstanceOf(a.ModelLoadError);
    expect(error.code).toBe('ERR_WARMPOOL_LOAD_TIMEOUT');
    expect(new a.ModelLoadError('x')).not.toBeInstanceOf(b.LoadTimeoutError);
    expect(a.errorFromWire(b.errorToWire(error))).toBeInstanceOf(b.LoadTimeoutError);
  });

  it('gives a default message where the table has one, and the name otherwise', () => {
    expect(new a.PoolClosedError().message).toBe('the pool is closed');
    expect(new a.InferenceError().message).toBe('InferenceError');
  });

  it('lets a user class derive from one, with ordinary instanceof for the subclass', () => {
    class MyInputError extends a.InvalidInputError {}
    const mine = new MyInputError('mine');
    expect(mine).toBeInstanceOf(MyInputError);
    expect(mine).toBeInstanceOf(a.InvalidInputError);
    expect(mine).toBeInstanceOf(b.InvalidInputError);
    expect(new a.InvalidInputError('not mine')).not.toBeInstanceOf(MyInputError);
  });

  it('crosses a thread boundary as a wire object and comes back as the class of its code', () => {
    for (const name of names) {
      const wire = a.errorToWire(new a.ERROR_CLASSES[name]('over the wire', { cause: new Error('root') }));
      const back = b.errorFromWire(structuredClone(wire));
      expect(back.code).toBe(wire.code);
      expect(back.message).toBe('over the wire');
      expect(back.cause).toBe('Error: root');
      // A code shared by a class and its subclass comes back as the parent.
      expect(back).toBeInstanceOf(name === 'JobLostError' ? a.WorkerExitedError : a.ERROR_CLASSES[name]);
    }
    expect(b.errorFromWire({ code: 'ERR_SOMETHING_ELSE', message: 'm' })).toBeInstanceOf(a.InferenceError);
  });

  it('does not take plain objects or other errors for its own', () => {
    expect({ code: 'ERR_WARMPOOL_QUEUE_FULL' } instanceof a.QueueFullError).toBe(false);
    expect(new Error('x') instanceof a.WarmpoolError).toBe(false);
    expect((null as unknown as object) instanceof a.QueueFullError).toBe(false);
  });
});
