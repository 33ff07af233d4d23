// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
/** What a job's workload is told about itself: the MYCEL_* identity variables of task-spec.ts. */
import { describe, expect, it } from 'vitest';
import { validateJobSpec } from '../../../src/crdt/job-spec.js';
import { taskSpecFor } from '../../../src/node/workloads/task-spec.js';
import { shJobSpec } from '../../support/reconciler.js';

const identity = {
  allocId: 'cam.2.0.00000000',
  jobVersion: 3,
  owner: 'peer-x',
  node: { name: 'gate-1', labels: { zone: 'north' }, arch: 'arm64', os: 'linux' },
  ports: {},
};

describe('task spec', () => {
  it('maps a job spec to the driver task, with identity variables the job cannot override', () => {
    const result = validateJobSpec({
      name: 'cam',
      driver: 'docker',
      image: 'local/busybox:1',
      args: ['-f'],
      env: { A: '1', MYCEL_NODE: 'liar', MYCEL_NODE_ID: 'liar too' },
      network: 'bridge',
      ports: [{ name: 'http', host: 8080, container: 80 }],
      resources: { cpu: 250, memory: 64 },
    });
    if (!result.ok) throw new Error('invalid');
    expect(taskSpecFor(result.spec, identity)).toEqual({
      driver: 'docker',
      allocId: 'cam.2.0.00000000',
      job: 'cam',
      jobVersion: 3,
      image: 'local/busybox:1',
      args: ['-f'],
      env: {
        A: '1',
        MYCEL_ALLOC_ID: 'cam.2.0.00000000',
        MYCEL_JOB: 'cam',
        MYCEL_JOB_VERSION: '3',
        MYCEL_NODE: 'gate-1',
        MYCEL_NODE_ID: 'peer-x',
        MYCEL_PORT_HTTP: '80',
        MYCEL_HOST_PORT_HTTP: '8080',
      },
      network: 'bridge',
      ports: [{ name: 'http', host: 8080, container: 80, protocol: 'tcp' }],
      resources: { cpu: 250, memory: 64 },
    });
  });

  it('gives a dynamic port its device port: mapped, in MYCEL_PORT_<NAME> and ${alloc.port.<name>}', () => {
    const result = validateJobSpec({
      name: 'cam',
      driver: 'docker',
      image: 'local/busybox:1',
      args: ['--listen=:${alloc.port.admin-ui}'],
      env: { URL: 'http://${node.name}:${alloc.port.http}/' },
      network: 'bridge',
      ports: [{ name: 'http', container: 80 }, { name: 'admin-ui' }],
    });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const task = taskSpecFor(result.spec, { ...identity, ports: { http: 20_100, 'admin-ui': 20_101 } });
    expect(task.ports).toEqual([
      { name: 'http', host: 20_100, container: 80, protocol: 'tcp' },
      { name: 'admin-ui', host: 20_101, container: 20_101, protocol: 'tcp' },
    ]);
    expect(task.args).toEqual(['--listen=:20101']);
    expect(task.env).toMatchObject({
      URL: 'http://gate-1:20100/',
      MYCEL_PORT_HTTP: '80',
      MYCEL_HOST_PORT_HTTP: '20100',
      MYCEL_PORT_ADMIN_UI: '20101',
      MYCEL_HOST_PORT_ADMIN_UI: '20101',
    });
  });

  it('gives an exec job the same identity: the node by name, its peer id apart', () => {
    const task = taskSpecFor(shJobSpec({ script: 'true' }), identity);
    expect(task).toMatchObject({ driver: 'exec', command: 'sh', args: ['-c', 'true'] });
    expect(task.env).toMatchObject({ MYCEL_NODE: 'gate-1', MYCEL_NODE_ID: 'peer-x' });
  });

  it('fills ${...} in args and env values with this device’s values; names stay as written', () => {
    const result = validateJobSpec({
      name: 'cam',
      driver: 'exec',
      command: 'sh',
      args: ['-c', 'echo "$$1" $${HOME}', '${node.name}/${alloc.index}'],
      env: {
        ZONE: '${node.label.zone}',
        WHO: '${job.name} v${job.version} on ${node.id} (${node.arch}/${node.os})',
      },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const task = taskSpecFor(result.spec, identity);
    expect(task.args).toEqual(['-c', 'echo "$$1" ${HOME}', 'gate-1/2']);
    expect(task.env).toMatchObject({ ZONE: 'north', WHO: 'cam v3 on peer-x (arm64/linux)' });
  });

  it('gives ${alloc.index} as 0 to system and periodic copies, whose id numbers are a position and a run time', () => {
    const base = {
      name: 'cam',
      driver: 'exec',
      command: 'sh',
      args: ['${alloc.index}'],
      env: { I: '${alloc.index}' },
    };
    const system = validateJobSpec({ ...base, type: 'system' });
    const periodic = validateJobSpec({ ...base, type: 'periodic', schedule: '*/5 * * * * *' });
    const batch = validateJobSpec({ ...base, type: 'batch', count: 4 });
    if (!system.ok || !periodic.ok || !batch.ok) throw new Error('invalid');
    // A system copy created as the fourth eligible device's, and a periodic run at second 796654185.
    const sys = taskSpecFor(system.spec, { ...identity, allocId: 'cam.3.0.00000000' });
    const run = taskSpecFor(periodic.spec, { ...identity, allocId: 'cam.796654185.0.00000000' });
    expect([sys.args, sys.env.I, run.args, run.env.I]).toEqual([['0'], '0', ['0'], '0']);
    expect(taskSpecFor(batch.spec, { ...identity, allocId: 'cam.3.1.00000000' }).args).toEqual(['3']);
  });
});
