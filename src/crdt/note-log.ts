const MAX_NOTES = 256;

/** What a replica ignored and why (forged records, unsigned events), kept for the shell to log once each. */
export class NoteLog {
  #notes: string[] = [];
  readonly #noted = new Set<string>();

  note(what: string, reason: string): void {
    const key = `${what}\0${reason}`;
    if (this.#noted.has(key)) return;
    if (this.#noted.size >= 4 * MAX_NOTES) this.#noted.clear();
    this.#noted.add(key);
    if (this.#notes.length < MAX_NOTES) this.#notes.push(`${what}: ${reason}`);
  }

  /** What was noted since the last call. */
  drain(): string[] {
    const out = this.#notes;
    this.#notes = [];
    return out;
  }
}
