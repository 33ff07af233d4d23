/** Against the real local Docker Engine, which CI runs; the test image is busybox (test/support/docker.ts). */
import type Docker from 'dockerode';
import { LABELS } from '../../../src/node/drivers/docker-container-config.js';
import { DockerDriver } from '../../../src/node/drivers/docker-driver.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../../support/docker.js';
import { driverConformance, scriptFor } from './conformance.js';

let docker: Docker | undefined;

driverConformance(
  'docker',
  async () => {
    docker ??= await dockerWithTestImage();
    const engine = docker;
    const owners = new Set<string>();
    return {
      driver: (owner) => {
        owners.add(owner);
        return new DockerDriver({ owner, socketPath: DOCKER_SOCKET, callTimeoutMs: 10_000 });
      },
      task: (allocId, behaviour, jobVersion = 1) => ({
        allocId,
        job: 'web',
        jobVersion,
        driver: 'docker',
        image: TEST_IMAGE,
        command: 'sh',
        args: ['-c', scriptFor(behaviour)],
        env: {},
        network: 'host',
        ports: [],
        resources: { cpu: 100, memory: 32 },
      }),
      cleanup: async () => {
        for (const owner of owners) await removeByLabel(engine, `${LABELS.owner}=${owner}`);
      },
    };
  },
  { runsCommands: true },
);
