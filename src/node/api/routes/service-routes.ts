import type { CatalogReader } from '../../services/catalog-reader.js';
import { ApiError, type Route } from '../control-api.js';
import type { ServiceInfo } from '../types.js';

const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * `GET /v1/services`: every service a running job declares, with its healthy instances, from this agent's own
 * replica and liveness view. `GET /v1/services/:name`: one of them; 404 when no running job declares it.
 */
export function serviceRoutes(agent: { readonly catalog: CatalogReader }): Route[] {
  const { catalog } = agent;
  return [
    {
      method: 'GET',
      path: '/v1/services',
      handler: () => ({ json: catalog.services() satisfies ServiceInfo[] }),
    },
    {
      method: 'GET',
      path: '/v1/services/:name',
      handler: (req) => {
        const name = req.params.name ?? '';
        if (!SERVICE_NAME.test(name))
          throw new ApiError(
            400,
            `"${name}" is not a service name (a DNS label: lowercase letters, digits, "-")`,
          );
        const service = catalog.service(name);
        if (service === undefined) throw new ApiError(404, `no running job declares service "${name}"`);
        return { json: service satisfies ServiceInfo };
      },
    },
  ];
}
