/** The scheduler's public surface: pure placement, the local plan, and the reconnect rule. */
export { allocId, parseAllocId } from './alloc-id.js';
export { place } from './placement.js';
export { plan } from './plan.js';
export { reconcile, type SlotCopy } from './reconcile.js';
export type * from './types.js';
