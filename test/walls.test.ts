import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations; its exports are used as the lint step uses them.
import { checkWalls } from '../scripts/walls.mjs';

const check = (files: Record<string, string>): string[] => checkWalls(new Map(Object.entries(files)));

describe('the walls between wings', () => {
  it('lets a wing import the wings below it', () => {
    expect(
      check({
        'lib/result.ts': 'export type Result = 1;',
        'crdt/records.ts': "import type { Result } from '../lib/result.js';",
        'node/state/state-service.ts':
          "import { x } from '../../crdt/records.js';\nimport { y } from '../net/host.js';",
        'node/net/host.ts': "import { z } from '../../lib/result.js';",
      }),
    ).toEqual([]);
  });

  it('refuses an import of a wing above, type imports included', () => {
    const problems = check({
      'node/api/routes/state-routes.ts': "import type { Agent } from '../../agent.js';",
      'node/agent.ts': 'export class Agent {}',
      'registry-p2p/peer-client.ts': "import {\n  FramedStream,\n} from '../node/net/framed-stream.js';",
      'node/net/framed-stream.ts': '',
    });
    expect(problems).toEqual([
      'node/api/routes/state-routes.ts: node/api imports node/agent.ts (node/agent is not below node/api)',
      'registry-p2p/peer-client.ts: registry-p2p imports node/net/framed-stream.ts (node/net is not below registry-p2p)',
    ]);
  });

  it('keeps crdt and scheduler pure, also through lib', () => {
    const problems = check({
      'lib/logger.ts': "import { pino } from 'pino';",
      'lib/digest.ts': "import { createHash } from 'node:crypto';",
      'crdt/job-log.ts':
        "import { createLogger } from '../lib/logger.js';\nimport { sha256 } from '../lib/digest.js';",
      'scheduler/placement.ts': "import { readFileSync } from 'node:fs';",
    });
    expect(problems).toEqual([
      'crdt/job-log.ts: crdt must stay pure but reaches pino via lib/logger.ts',
      'scheduler/placement.ts: scheduler must stay pure but reaches node:fs',
    ]);
  });

  it('lets meshctl reach the agent only through the API types, and the daemon entry wire the agent', () => {
    const problems = check({
      'cli/commands/job.ts': "import type { JobDetail } from '../../node/api/routes/state-routes.js';",
      'cli/commands/node.ts': "import type { NodeInfo } from '../../node/api/types.js';",
      'cli/meshd.ts': "import { Agent } from '../node/agent.js';",
      'node/api/types.ts': '',
      'node/api/routes/state-routes.ts': '',
      'node/agent.ts': '',
    });
    expect(problems).toEqual([
      'cli/commands/job.ts: meshctl imports node/api/routes/state-routes.ts; the CLI reaches the agent only through node/api/types.ts, node/api/client.ts, node/api/client-keys.ts',
    ]);
  });

  it('finds import loops inside a wing', () => {
    const problems = check({
      'crdt/mesh-state.ts': "import { a } from './staged-write.js';",
      'crdt/staged-write.ts': "import type { B } from './mesh-state.js';",
    });
    expect(problems).toEqual(['import loop: crdt/mesh-state.ts -> crdt/staged-write.ts']);
  });
});
