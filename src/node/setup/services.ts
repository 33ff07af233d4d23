/**
 * The agent's services, one shape for all (after js-libp2p's components): each is built from a short list of
 * what it needs, started in the order listed and stopped in the reverse order, by one loop.
 */
export interface Service {
  /** For logs and errors. */
  readonly name: string;
  start?(): void | Promise<void>;
  stop?(): void | Promise<void>;
}

/**
 * A service whose instance only exists once started (a static `start` builds and starts it): `value` throws
 * before its start, as a route asking too early should hear.
 */
export class Started<T extends { stop(): void | Promise<void> }> implements Service {
  readonly name: string;
  readonly #create: () => Promise<T>;
  #value: T | undefined;

  constructor(name: string, create: () => Promise<T>) {
    this.name = name;
    this.#create = create;
  }

  get started(): boolean {
    return this.#value !== undefined;
  }

  get value(): T {
    if (this.#value === undefined) throw new Error(`the agent has not started its ${this.name}`);
    return this.#value;
  }

  /** Undefined before the start. */
  get maybe(): T | undefined {
    return this.#value;
  }

  async start(): Promise<void> {
    this.#value = await this.#create();
  }

  async stop(): Promise<void> {
    await this.#value?.stop();
  }
}

/** Starts services in order; stops the started ones in reverse, also when a start fails part-way. */
export class Lifecycle {
  readonly #services: readonly Service[];
  readonly #started: Service[] = [];

  constructor(services: readonly Service[]) {
    this.#services = services;
  }

  async start(): Promise<void> {
    for (const service of this.#services) {
      try {
        await service.start?.();
      } catch (err) {
        await this.stop().catch(() => {});
        throw err;
      }
      this.#started.push(service);
    }
  }

  /** Every started service is asked to stop, even after one fails; the first failure is thrown at the end. */
  async stop(): Promise<void> {
    let failure: { err: unknown } | undefined;
    for (let service = this.#started.pop(); service; service = this.#started.pop()) {
      try {
        await service.stop?.();
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }
}
