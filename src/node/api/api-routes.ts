import type { Route } from './control-api.js';
import type { AgentStatus, PeerInfo } from './types.js';

/** What the agent's own routes read: its status, its peers, its metrics. */
export interface AgentRoutesDeps {
  status(): AgentStatus;
  peers(): PeerInfo[];
  readonly metrics: { scrape(): Promise<string> };
}

/** The agent's own endpoints; every wing's routes join them in `Agent.routes()`. */
export function agentRoutes(agent: AgentRoutesDeps): Route[] {
  return [
    { method: 'GET', path: '/v1/status', handler: () => ({ json: agent.status() }) },
    { method: 'GET', path: '/v1/peers', handler: () => ({ json: agent.peers() }) },
    { method: 'GET', path: '/healthz', handler: () => ({ json: { ok: true } }) },
    {
      method: 'GET',
      path: '/metrics',
      handler: async () => ({
        text: await agent.metrics.scrape(),
        contentType: 'text/plain; version=0.0.4',
      }),
    },
  ];
}
