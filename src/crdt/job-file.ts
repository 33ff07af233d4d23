/**
 * Job files as users write them (YAML, or JSON, which is YAML too) turned into a normalised `JobSpec`, or
 * into errors that name the field and point at the line and column to fix. Never throws: a job file is
 * untrusted input, and an agent or meshctl must answer a bad one with errors, not a crash.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Pair,
  parseAllDocuments,
  visit,
  type YAMLMap,
} from 'yaml';
import { MAX_JOB_FILE_BYTES } from './job-file-size.js';
import {
  type JobSpec,
  type JobSpecIssue,
  MAX_REPORTED_ISSUES,
  type PathSegment,
  validateJobSpec,
} from './job-spec.js';

/** Enough for anchors that share a block between a few fields; far too few for a "billion laughs" bomb. */
export { MAX_JOB_FILE_BYTES };

const MAX_ALIAS_COUNT = 64;
const MAX_FLOW_DEPTH = 32;
/**
 * Keys, values and list items a file may hold. The largest valid job (every list and map at its limit) has about
 * 12,000; beyond this the file is refused before validation, so its cost has a bound whatever its shape.
 */
export const MAX_JOB_FILE_NODES = 65_536;
const TOO_MANY_NODES = `file holds more than ${MAX_JOB_FILE_NODES} keys, values and items; a job needs a few hundred`;

/** `path` is empty for errors about the file as a whole (syntax, size); `line` and `column` are 1-based. */
export type JobFileError = { path: string; message: string; line: number; column: number };
export type JobFileResult = { ok: true; spec: JobSpec } | { ok: false; errors: JobFileError[] };

type Located = { path: string; message: string; offset: number };

export function parseJobFile(text: string, fileName?: string): JobFileResult {
  const located = locateProblems(text, fileName);
  if (!Array.isArray(located)) return located;
  const lineStarts = [0];
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lineStarts.push(at + 1);
  const errors = located
    .map(({ path, message, offset }) => ({ path, message, ...positionOf(lineStarts, offset, text.length) }))
    .sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, errors };
}

/** `app.yaml:12:5: update.maxParallel: must be >= 1`, one line per error. */
export function formatJobFileErrors(errors: readonly JobFileError[], fileName: string): string {
  return errors
    .map(
      ({ path, message, line, column }) =>
        `${fileName}:${line}:${column}: ${path === '' ? '' : `${path}: `}${message}`,
    )
    .join('\n');
}

export function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) return index === 0 ? segment : `.${segment}`;
      return `[${JSON.stringify(segment)}]`;
    })
    .join('');
}

/** 1-based line and column of a 0-based offset, with lines split at "\n" as YAML and editors count them. */
function positionOf(
  lineStarts: readonly number[],
  offset: number,
  length: number,
): { line: number; column: number } {
  const at = Math.min(Math.max(offset, 0), length);
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (lineStarts[middle]! <= at) low = middle;
    else high = middle - 1;
  }
  return { line: low + 1, column: at - lineStarts[low]! + 1 };
}

function locateProblems(text: string, fileName: string | undefined): JobFileResult | Located[] {
  const whole = (message: string, offset = 0): Located[] => [{ path: '', message, offset }];

  // UTF-16 length never exceeds UTF-8 length, so the cheap test settles large files without encoding them.
  const bytes = text.length > MAX_JOB_FILE_BYTES ? text.length : new TextEncoder().encode(text).byteLength;
  if (bytes > MAX_JOB_FILE_BYTES) {
    return whole(
      `file is ${Math.ceil(bytes / 1024)} KiB; a job file may be at most ${MAX_JOB_FILE_BYTES / 1024} KiB`,
    );
  }

  const shape = scanShape(text);
  if (shape.tooDeep !== undefined) {
    return whole(
      `nested deeper than ${MAX_FLOW_DEPTH} levels of [ ] or { }; a job needs a few at most`,
      shape.tooDeep,
    );
  }
  if (shape.tooMany !== undefined) return whole(TOO_MANY_NODES, shape.tooMany);

  // YAML accepts what JSON does not (trailing commas, empty values, bare words), so a .json file is held to JSON.
  if (fileName?.toLowerCase().endsWith('.json')) {
    const bad = jsonSyntaxError(text);
    if (bad !== undefined) return whole(`invalid JSON: ${bad.message}`, bad.offset);
  }

  const documents = parseAllDocuments(text, {
    prettyErrors: false,
    strict: true,
    // The parser's own check compares each key with every earlier one: seconds for 20,000 keys.
    uniqueKeys: false,
    logLevel: 'silent',
  });
  const syntax = documents.flatMap((doc) =>
    [...doc.errors, ...doc.warnings].map((e) => ({ path: '', message: e.message, offset: e.pos[0] })),
  );
  const [doc, second] = documents;
  if (second !== undefined) {
    syntax.push({
      path: '',
      message:
        'a job file holds one YAML document: remove the second "---" section or move it to its own file',
      offset: second.range[0],
    });
  }
  if (syntax.length > 0) return syntax;
  if (doc === undefined) return whole('file is empty: a job needs at least name and driver');
  const structure = checkStructure(doc);
  if (structure.length > 0) return structure;

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // Unresolvable or excessive aliases are only detected while resolving them.
    return whole(
      `cannot resolve aliases: ${error instanceof Error ? error.message : String(error)}`,
      firstAlias(doc),
    );
  }

  const result = validateJobSpec(value);
  if (result.ok) return result;
  const index = new WeakMap<YAMLMap, Map<string, Pair>>();
  const located: Located[] = result.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
    offset: offsetOf(doc, issue, index),
  }));
  if (result.omitted > 0) located.push(moreProblems(result.omitted, text.length));
  return located;
}

/**
 * Duplicate keys (checked here, in one pass, instead of by the parser) and the node budget. A duplicate is
 * reported at its second occurrence, where the user has to remove it.
 */
function checkStructure(doc: Document.Parsed): Located[] {
  const problems: Located[] = [];
  let omitted = 0;
  // Finding a path costs a scan of each list on it: only the reported problems get one.
  const report = (problem: () => Located) => {
    if (problems.length < MAX_REPORTED_ISSUES) problems.push(problem());
    else omitted++;
  };
  let nodes = 0;
  let overBudget: number | undefined;
  visit(doc, {
    Node(_, node, ancestors) {
      if (++nodes > MAX_JOB_FILE_NODES) {
        overBudget = startOf(node) ?? 0;
        return visit.BREAK;
      }
      // YAML reads 0x10 as 16 and 0o17 as 15: a count or a port that is not what it looks like.
      if (isScalar(node) && typeof node.value === 'number' && NON_DECIMAL.has(node.format ?? '')) {
        report(() => ({
          path: formatPath(pathOf(ancestors, node)),
          message: `write numbers in decimal: ${node.source ?? ''} is read as ${node.value}`,
          offset: startOf(node) ?? 0,
        }));
      }
      if (!isMap(node)) return undefined;
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(key)) {
          report(() => ({
            path: '',
            message: `duplicate key ${JSON.stringify(String(key))} in this mapping: keep one`,
            offset: startOf(pair.key) ?? startOf(node) ?? 0,
          }));
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  if (overBudget !== undefined) {
    return [
      {
        path: '',
        message: TOO_MANY_NODES,
        offset: overBudget,
      },
    ];
  }
  if (omitted > 0) problems.push(moreProblems(omitted, doc.range[1]));
  return problems;
}

function moreProblems(omitted: number, offset: number): Located {
  return { path: '', message: `and ${omitted} more problems like these; fix the ones above first`, offset };
}

/**
 * Where in the source the issue lies: the value at fault, the key of an unknown field, or, for a field that
 * is missing, the mapping that should hold it. `index` holds each mapping's keys once looked up, so many issues
 * in one large mapping cost one pass over it, not one each.
 */
function offsetOf(
  doc: Document.Parsed,
  issue: JobSpecIssue,
  index: WeakMap<YAMLMap, Map<string, Pair>>,
): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? doc.range[0];
  for (const [position, segment] of issue.path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = keysOf(node, index).get(String(segment));
      if (pair === undefined) return offset;
      const keyOffset = startOf(pair.key) ?? offset;
      const valueOffset = startOf(pair.value);
      const last = position === issue.path.length - 1;
      // An empty value (`image:`) has no text of its own; its key is what the user will look for.
      if (last && (issue.target === 'name' || valueOffset === undefined)) return keyOffset;
      node = pair.value;
      offset = valueOffset ?? keyOffset;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      node = node.items[segment];
      offset = startOf(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

const NON_DECIMAL = new Set(['HEX', 'OCT', 'BIN']);

/** The field path of `node` from the ancestors `visit` gives: pairs give keys, sequences give indexes. */
function pathOf(ancestors: readonly unknown[], node: unknown): PathSegment[] {
  const path: PathSegment[] = [];
  const chain = [...ancestors, node];
  for (const [i, step] of chain.entries()) {
    if (isPair(step) && isScalar(step.key) && step.key !== chain[i + 1]) path.push(String(step.key.value));
    else if (isSeq(step)) path.push(step.items.indexOf(chain[i + 1] as never));
  }
  return path;
}

function keysOf(map: YAMLMap, index: WeakMap<YAMLMap, Map<string, Pair>>): Map<string, Pair> {
  let keys = index.get(map);
  if (keys === undefined) {
    keys = new Map();
    for (const pair of map.items) {
      // The first of equal keys wins, as a search from the start would find it.
      if (isScalar(pair.key) && !keys.has(String(pair.key.value))) keys.set(String(pair.key.value), pair);
    }
    index.set(map, keys);
  }
  return keys;
}

function startOf(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = node.range as [number, number, number] | null | undefined;
  if (range === null || range === undefined) return undefined;
  if (isScalar(node) && node.value === null && range[0] === range[1]) return undefined;
  return range[0];
}

function firstAlias(doc: Document.Parsed): number {
  let offset = doc.range[0];
  visit(doc, {
    Alias(_, alias) {
      offset = alias.range?.[0] ?? offset;
      return visit.BREAK;
    },
  });
  return offset;
}

/**
 * One pass over the text, skipping quoted strings and comments, before the YAML parser sees it:
 * - `tooDeep`, the first bracket nested deeper than MAX_FLOW_DEPTH: the parser slows down steeply with depth
 *   (seconds for a 256 KiB file of "["), and no job comes near it;
 * - `tooMany`, where the commas and line breaks pass MAX_JOB_FILE_NODES: each starts at least one node, and the
 *   parser spends some microseconds on every node (a second for a 240 KB flow list of 120,000 items).
 */
function scanShape(text: string): { tooDeep?: number; tooMany?: number } {
  let depth = 0;
  let separators = 0;
  let quote: string | undefined;
  for (let at = 0; at < text.length; at++) {
    const char = text[at];
    if (char === '\n' && ++separators > MAX_JOB_FILE_NODES) return { tooMany: at };
    if (quote !== undefined) {
      if (char === '\\' && quote === '"') at++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === '#' && (at === 0 || /\s/.test(text[at - 1]!))) {
      const end = text.indexOf('\n', at);
      at = end === -1 ? text.length : end - 1;
    } else if (char === '[' || char === '{') {
      if (++depth > MAX_FLOW_DEPTH) return { tooDeep: at };
    } else if (char === ']' || char === '}') {
      depth = Math.max(0, depth - 1);
    } else if (char === ',' && ++separators > MAX_JOB_FILE_NODES) {
      return { tooMany: at };
    }
  }
  return {};
}

const JSON_SPACE = /[ \t\n\r]*/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings.
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const JSON_LITERAL = /true|false|null/y;

/**
 * Where and why `text` is not JSON. JSON.parse cannot say where for several errors, and the YAML parser
 * accepts them; an explicit stack, not recursion, so deep nesting cannot overflow the call stack.
 */
function jsonSyntaxError(text: string): { offset: number; message: string } | undefined {
  const closers: ('}' | ']')[] = [];
  let at = text.startsWith('\uFEFF') ? 1 : 0;
  let expect: 'value' | 'key' | 'after' = 'value';
  const take = (pattern: RegExp): boolean => {
    pattern.lastIndex = at;
    if (!pattern.test(text)) return false;
    at = pattern.lastIndex;
    return true;
  };
  for (;;) {
    take(JSON_SPACE);
    const char = text[at];
    if (expect === 'value') {
      if (char === '{' || char === '[') {
        at++;
        const closer = char === '{' ? '}' : ']';
        take(JSON_SPACE);
        if (text[at] === closer) {
          at++;
          expect = 'after';
        } else {
          closers.push(closer);
          expect = closer === '}' ? 'key' : 'value';
        }
      } else if (take(JSON_STRING) || take(JSON_NUMBER) || take(JSON_LITERAL)) {
        expect = 'after';
      } else {
        return {
          offset: at,
          message: char === undefined ? 'unexpected end, expected a value' : 'expected a value',
        };
      }
    } else if (expect === 'key') {
      if (!take(JSON_STRING)) return { offset: at, message: 'expected a double-quoted property name' };
      take(JSON_SPACE);
      if (text[at] !== ':') return { offset: at, message: 'expected ":" after the property name' };
      at++;
      expect = 'value';
    } else {
      const closer = closers.at(-1);
      if (closer === undefined) {
        return at < text.length
          ? { offset: at, message: 'unexpected text after the end of the value' }
          : undefined;
      }
      if (char === ',') {
        at++;
        expect = closer === '}' ? 'key' : 'value';
      } else if (char === closer) {
        at++;
        closers.pop();
      } else {
        return { offset: at, message: `expected "," or "${closer}"` };
      }
    }
  }
}
