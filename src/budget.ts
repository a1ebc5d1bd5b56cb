/**
 * The pool's thread budget: how many workers, of every model together, may run a task at once.
 * With `intraOpThreads` sized from it, workers x intra-op threads stay within the cores however
 * the load is spread over the models. Idle workers cost memory, not cores, so the budget counts
 * busy workers, not live ones: a model left idle takes nothing from the others.
 */
export class CoreBudget {
  readonly limit: number;
  #busy = 0;
  readonly #waiters: (() => void)[] = [];
  /** Where the next wake-up starts, so that no model is always served last. */
  #turn = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get busy(): number {
    return this.#busy;
  }

  /** A worker may start running: true (and counted) when the budget has room. */
  tryAcquire(): boolean {
    if (this.#busy >= this.limit) return false;
    this.#busy++;
    return true;
  }

  /** A worker stopped running: every model with waiting tasks gets a chance at the freed room, taking turns. */
  release(): void {
    this.#busy--;
    const waiters = this.#waiters;
    const n = waiters.length;
    if (n === 0) return;
    const first = this.#turn++ % n;
    for (let i = 0; i < n && this.#busy < this.limit; i++) waiters[(first + i) % n]!();
  }

  /** `wake` is called whenever room frees up (a fleet's dispatch). */
  watch(wake: () => void): () => void {
    this.#waiters.push(wake);
    return () => {
      const i = this.#waiters.indexOf(wake);
      if (i >= 0) this.#waiters.splice(i, 1);
    };
  }
}
