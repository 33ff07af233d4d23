import { describe, expect, test } from 'vitest';
import { trustRootOf } from '../../../src/crdt/trust.js';
import { placementInput } from '../../../src/node/placement/placement-input.js';
import { nodeRecord } from '../../crdt/replicas.js';

const OURS = trustRootOf(['op-1', 'op-2']);

const views = (trustRoot: string | undefined, ...nodes: ReturnType<typeof nodeRecord>[]) =>
  placementInput({ jobs: [], nodes, allocations: [], trustRoot }, [], 'a', 1_000);

describe('nodes that accept other operators are not placed on', () => {
  test('the root names the set of operators, whatever its order or repetition', () => {
    expect(trustRootOf(['op-2', 'op-1', 'op-2'])).toBe(OURS);
    expect(trustRootOf(['op-1'])).not.toBe(OURS);
    expect(trustRootOf(['thief'])).not.toBe(OURS);
  });

  test('a node declaring another root is left out; one declaring none (open mesh, older agent) is kept', () => {
    const input = views(
      OURS,
      { ...nodeRecord('a'), trustRoot: OURS },
      { ...nodeRecord('forged'), trustRoot: trustRootOf(['thief']) },
      nodeRecord('older'),
    );
    expect(input.nodes.map((n) => n.peerId)).toEqual(['a', 'older']);
  });

  test('an agent of an open mesh (no root of its own) places on every node', () => {
    const input = views(undefined, { ...nodeRecord('a'), trustRoot: OURS }, nodeRecord('b'));
    expect(input.nodes.map((n) => n.peerId)).toEqual(['a', 'b']);
  });
});
