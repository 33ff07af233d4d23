import { parseDocument } from 'yaml';
import { parseJson } from '../lib/json-text.js';

/**
 * A job file with its `image` replaced, as `meshctl job run` pins it to a digest before signing: JSON stays
 * JSON; YAML keeps its comments and layout, so the stored source still reads as the operator wrote it.
 */
export function withImage(source: string, fileName: string, image: string): string {
  if (fileName.toLowerCase().endsWith('.json'))
    return `${JSON.stringify({ ...(parseJson(source) as object), image }, null, 2)}\n`;
  const doc = parseDocument(source, { logLevel: 'silent' });
  doc.setIn(['image'], image);
  return doc.toString();
}
