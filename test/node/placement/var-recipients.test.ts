// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { validateJobSpec } from '../../../src/crdt/job-spec.js';
import { readJobSpec } from '../../../src/crdt/job-specs.js';
import type { NodeRecord } from '../../../src/crdt/records.js';
import { x25519PublicKey } from '../../../src/crdt/sealed-box.js';
import type { VarView } from '../../../src/crdt/var-entries.js';
import { deviceRecipients } from '../../../src/node/placement/var-recipients.js';
import { chosenSealer } from '../../../src/node/placement/var-resealer.js';
import { nodeRecord, replica } from '../../crdt/replicas.js';

const key = () => Buffer.from(x25519PublicKey(new Uint8Array(randomBytes(32)))).toString('base64');

function node(peerId: string, patch: Partial<NodeRecord>): NodeRecord {
  return { ...nodeRecord(peerId), sealKey: key(), ...patch };
}

function jobs() {
  const state = replica('self');
  const spec = (input: unknown) => {
    const result = validateJobSpec(input);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    return result.spec;
  };
  state.submitJob(
    'app',
    spec({
      name: 'app',
      driver: 'exec',
      command: '/bin/app',
      vars: ['app/db'],
      env: { P: '${var:app/db:password}' },
      constraints: [{ attribute: 'label.zone', operator: '=', value: 'north' }],
    }),
    'op',
    1,
  );
  state.submitJob('plain', spec({ name: 'plain', driver: 'exec', command: '/bin/true' }), 'op', 1);
  return state.jobs();
}

describe('who a variable is sealed to', () => {
  it('exactly the devices a granted job could be placed on, with a usable seal key', () => {
    const nodes = [
      node('fits', {}),
      node('south', { labels: { zone: 'south' } }),
      node('no-key', { sealKey: undefined }),
      node('low-order', { sealKey: Buffer.alloc(32).toString('base64') }),
      node('docker-only', { drivers: ['docker'] }),
    ];
    const views = { jobs: jobs(), nodes, allocations: [] };
    expect(deviceRecipients('app/db', views, readJobSpec).map((r) => r.id)).toEqual(['fits']);
    expect(deviceRecipients('app/other', views, readJobSpec)).toEqual([]);
    // A device of another trust root is not placed on, so it is not sealed to either.
    const rooted = { ...views, trustRoot: 'root-a', nodes: [node('fits', { trustRoot: 'root-b' })] };
    expect(deviceRecipients('app/db', rooted, readJobSpec)).toEqual([]);
  });

  it('one holder is chosen per newcomer, the same whatever order the holders are listed in', () => {
    const view = { id: 'a'.repeat(64) } as VarView;
    const holders = ['h1', 'h2', 'h3', 'h4'];
    const chosen = holders.map((_, i) =>
      chosenSealer(view, 'new', [...holders.slice(i), ...holders.slice(0, i)]),
    );
    expect(new Set(chosen).size).toBe(1);
    const spread = new Set(
      ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'].map((n) => chosenSealer(view, n, holders)),
    );
    expect(spread.size).toBeGreaterThan(1);
    expect(chosenSealer(view, 'new', [])).toBeUndefined();
  });
});
