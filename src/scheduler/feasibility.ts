/**
 * Static feasibility: what a node is, independent of what it runs. The answer depends only on the job's
 * driver, constraints, devices and host paths, so placement computes it once per distinct class of those.
 */
import { isUnder } from '../lib/host-path.js';
import type { SchedConstraint, SchedJob, SchedNode } from './types.js';

/** Multi-valued because a node offers several drivers; a missing attribute is an empty list. */
function attributeValues(node: SchedNode, attribute: string): readonly string[] {
  switch (attribute) {
    case 'arch':
      return [node.arch];
    case 'os':
      return [node.os];
    case 'name':
      return [node.name];
    case 'driver':
      return node.drivers;
  }
  if (attribute.startsWith('label.')) {
    const value = node.labels[attribute.slice('label.'.length)];
    return value === undefined ? [] : [value];
  }
  if (attribute.startsWith('device.')) {
    return node.devices?.includes(attribute.slice('device.'.length)) ? ['true'] : [];
  }
  return [];
}

/** `=` and `in` hold when some value of the attribute is listed; `!=` and `not_in` when none is (Nomad: a
 * missing attribute satisfies `!=`). */
export function matches(node: SchedNode, c: SchedConstraint): boolean {
  const wanted = typeof c.value === 'string' ? [c.value] : c.value;
  const found = attributeValues(node, c.attribute).some((v) => wanted.includes(v));
  return c.operator === '=' || c.operator === 'in' ? found : !found;
}

export function describeConstraint(c: SchedConstraint): string {
  const value = typeof c.value === 'string' ? c.value : `[${c.value.join(',')}]`;
  return `${c.attribute} ${c.operator} ${value}`;
}

/** The first static filter the node fails, as text, or undefined when the job may run there. */
export function staticFilter(job: SchedJob, node: SchedNode): string | undefined {
  if (!node.drivers.includes(job.driver)) return `missing driver ${job.driver}`;
  for (const device of job.devices ?? []) {
    if (!node.devices?.includes(device)) return `missing device ${device}`;
  }
  for (const path of job.hostPaths ?? []) {
    if (!node.hostPaths?.some((prefix) => isUnder(path, prefix))) return `host path ${path} not allowed`;
  }
  for (const c of job.constraints ?? []) {
    if (!matches(node, c)) return describeConstraint(c);
  }
  return undefined;
}

/** Jobs with equal keys are statically feasible on exactly the same nodes. */
export function feasibilityClass(job: SchedJob): string {
  return JSON.stringify([job.driver, job.constraints ?? [], job.devices ?? [], job.hostPaths ?? []]);
}
