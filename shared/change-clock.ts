// When each object of a list last changed, by this process's monotonic clock: what a replica
// judges another one alive by — its Lease renewed (aggregator/write-budget), its journal
// rewritten (aggregator/journal) — since resourceVersions move only when an object is written.
export class ChangeClock {
  #seen = new Map<string, { resourceVersion: string; changedMono: number }>();

  /**
   * Takes a fresh list in, read at `now`: a name new or with another resourceVersion changed
   * now; names not listed are forgotten.
   */
  observe(items: readonly { name: string; resourceVersion: string }[], now: number): void {
    const listed = new Set<string>();
    for (const { name, resourceVersion } of items) {
      listed.add(name);
      const prev = this.#seen.get(name);
      if (prev?.resourceVersion !== resourceVersion)
        this.#seen.set(name, { resourceVersion, changedMono: now });
    }
    for (const name of [...this.#seen.keys()]) if (!listed.has(name)) this.#seen.delete(name);
  }

  /** When `name` last changed (monotonic ms); undefined when the last list did not hold it. */
  changedAt(name: string): number | undefined {
    return this.#seen.get(name)?.changedMono;
  }

  /** Every listed name with when it last changed. */
  *changes(): IterableIterator<[name: string, changedMono: number]> {
    for (const [name, s] of this.#seen) yield [name, s.changedMono];
  }
}
