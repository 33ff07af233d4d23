import type { Agent } from '../agent.js';
import type { Route } from './control-api.js';

/** The control API's endpoints over one agent. Later parts of the agent add their routes beside these. */
export function agentRoutes(agent: Agent): Route[] {
  return [
    { method: 'GET', path: '/v1/status', handler: () => ({ json: agent.status() }) },
    { method: 'GET', path: '/v1/peers', handler: () => ({ json: agent.peers() }) },
    { method: 'GET', path: '/healthz', handler: () => ({ json: { ok: true } }) },
    {
      method: 'GET',
      path: '/metrics',
      handler: async () => ({
        text: await agent.metrics.registry.metrics(),
        contentType: 'text/plain; version=0.0.4',
      }),
    },
  ];
}
