/**
 * What a copy needs on this device besides its driver, before each start and while it runs: host ports for its
 * dynamic ports (port-allocator.ts) and its templates (copy-templates.ts). One per reconciler.
 */
import type { AllocStatus } from '../../crdt/records.js';
import type { PortAllocator, PortRequest } from './port-allocator.js';
import type { CopySetup, PreparedCopy, RunningCopy, SetupCopy } from './runner-context.js';

/** The templates' side of a copy's setup; absent, the copy has none rendered. */
export interface CopyTemplates {
  /** Renders the copy's templates before a start, and says where; throws when one cannot be written. */
  render(copy: SetupCopy, ports: Readonly<Record<string, number>>): Promise<string | undefined>;
  follow(copy: RunningCopy): void;
  unfollow(allocId: string): void;
  /** The copy ended: what was rendered for it alone may go. */
  ended(allocId: string): Promise<void>;
}

export class DeviceCopySetup implements CopySetup {
  constructor(
    private readonly ports: PortAllocator,
    private readonly templates?: CopyTemplates,
  ) {}

  async prepare(copy: SetupCopy, recorded: AllocStatus['ports']): Promise<PreparedCopy> {
    const ports = await this.ports.claim(copy.allocId, requests(copy), recorded ?? {});
    const copyDir = await this.templates?.render(copy, ports);
    return copyDir === undefined ? { ports } : { ports, copyDir };
  }

  adopt(copy: SetupCopy, recorded: AllocStatus['ports']): void {
    this.ports.adopt(copy.allocId, requests(copy), recorded ?? {});
  }

  running(copy: RunningCopy): void {
    this.templates?.follow(copy);
  }

  paused(allocId: string): void {
    this.templates?.unfollow(allocId);
  }

  ended(allocId: string): void {
    void this.templates?.ended(allocId);
    this.ports.release(allocId);
  }
}

function requests(copy: SetupCopy): PortRequest[] {
  return copy.spec.ports.map(({ name, host, protocol }) => ({ name, host, protocol }));
}
