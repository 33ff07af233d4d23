/**
 * The service catalog as template data (workloads/copy-templates.ts): under `services`, each service by name
 * with its instances, so `{{#services.web}}{{address}}:{{port}}{{/services.web}}` lists web's instances from
 * this agent's own catalog. Re-read whenever the replica or the liveness view changes.
 */
import type { TemplateDataProvider } from '../workloads/copy-templates.js';
import type { CatalogReader } from './catalog-reader.js';

/** `reader`: absent until the agent has one (it needs placement's spec cache): no services yet. */
export function serviceTemplateData(
  reader: () => CatalogReader | undefined,
  onChange: (listener: () => void) => () => void,
): TemplateDataProvider {
  return {
    key: 'services',
    read: () =>
      Object.fromEntries(
        (reader()?.services() ?? []).map((s) => [
          s.name,
          s.instances.map((i) => ({
            address: i.address,
            port: i.port,
            protocol: i.protocol,
            node: i.node,
            nodeName: i.nodeName,
            allocId: i.allocId,
            job: i.job,
            health: i.health,
            tags: [...i.tags],
          })),
        ]),
      ),
    onChange,
  };
}
