/**
 * The YAML package for callers that load it lazily: `await import('yaml')` reaches its CommonJS build, whose
 * named exports are lost once the bundle splits it into a chunk of its own. A static import here keeps them.
 */
export { parse, stringify } from 'yaml';
