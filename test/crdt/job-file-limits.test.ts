import { describe, expect, it } from 'vitest';
import { imageRefProblem } from '../../src/crdt/image-name.js';
import { type JobFileError, MAX_JOB_FILE_NODES, parseJobFile } from '../../src/crdt/job-file.js';
import { MAX_REPORTED_ISSUES, validateJobSpec } from '../../src/crdt/job-spec.js';
import { parseImageRef } from '../../src/registry-p2p/image-ref.js';

function errorsOf(text: string): JobFileError[] {
  const result = parseJobFile(text, 'job.yaml');
  if (result.ok) throw new Error(`expected errors, got ${JSON.stringify(result.spec)}`);
  return result.errors;
}

/** How many times longer `run(large)` takes than `run(small)`, each timed at its fastest of three runs. */
function growth(run: (n: number) => unknown, small: number, large: number): number {
  const fastest = (n: number) => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      run(n);
      best = Math.min(best, performance.now() - start);
    }
    return best;
  };
  fastest(small); // warm-up: the first call compiles the schema's code paths
  return fastest(large) / Math.max(fastest(small), 0.01);
}

function unknownFields(n: number): string {
  const lines = ['name: web', 'driver: exec', 'command: /bin/true'];
  for (let i = 0; i < n; i++) lines.push(`x${i}: 1`);
  return `${lines.join('\n')}\n`;
}

describe('cost of hostile job files', () => {
  it('unknown fields cost time in proportion to their number, and the errors are capped', () => {
    const text = unknownFields(20_000);
    expect(text.length).toBeLessThan(256 * 1024);
    // Quadratic, 20,000 fields took 3-6 s; linear, about 0.15 s (bench/job-file.ts has the figures). Ten times
    // the fields costing under 40 times the time (8-16 measured) tells the two apart on a loaded machine, where
    // a bound in seconds would not.
    expect(growth((n) => errorsOf(unknownFields(n)), 2_000, 20_000)).toBeLessThan(40);
    const errors = errorsOf(text);
    expect(errors).toHaveLength(MAX_REPORTED_ISSUES + 1);
    expect(errors[0]).toEqual({ path: 'x0', message: 'unknown field "x0"', line: 4, column: 1 });
    expect(errors.at(-1)?.message).toBe(
      `and ${20_000 - MAX_REPORTED_ISSUES} more problems like these; fix the ones above first`,
    );
  });

  it('validates the unknown fields of a JSON body in time proportional to their number', () => {
    const body = (n: number) => {
      const input: Record<string, unknown> = { name: 'web', driver: 'exec', command: '/bin/true' };
      for (let i = 0; i < n; i++) input[`x${i}`] = 1;
      return input;
    };
    const [small, large] = [body(2_000), body(20_000)];
    expect(growth((n) => validateJobSpec(n === 2_000 ? small : large), 2_000, 20_000)).toBeLessThan(40);
    expect(validateJobSpec(large)).toMatchObject({ ok: false, omitted: 20_000 - MAX_REPORTED_ISSUES });
  });

  it('refuses a file with more nodes than any job needs before parsing it', () => {
    const text = `name: web\ndriver: exec\ncommand: x\nargs: [${Array(MAX_JOB_FILE_NODES).fill('1').join(',')}]\n`;
    const start = performance.now();
    const errors = errorsOf(text);
    // Parsed, this flow list took 0.5-2 s; refused by the scan before the parser, a few milliseconds.
    expect(performance.now() - start).toBeLessThan(200);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      path: '',
      line: 4,
      message: expect.stringMatching(/more than 65536 keys/),
    });
  });

  it('counts the nodes the parser made, too: nested lists without a comma', () => {
    const text = `name: web\ndriver: exec\ncommand: x\nargs:\n${'- - 1\n'.repeat(33_000)}`;
    expect(text.length).toBeLessThan(256 * 1024);
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/more than 65536 keys/);
  });

  it('still finds duplicate keys, nested and in flow style, at their second occurrence', () => {
    expect(errorsOf('name: web\ndriver: exec\ncommand: x\nenv:\n  A: "1"\n  A: "2"\n')).toEqual([
      { path: '', message: 'duplicate key "A" in this mapping: keep one', line: 6, column: 3 },
    ]);
    expect(errorsOf('{name: web, driver: exec, command: x, name: api}')).toEqual([
      { path: '', message: 'duplicate key "name" in this mapping: keep one', line: 1, column: 39 },
    ]);
  });
});

describe('values that look right and are not', () => {
  it('refuses hexadecimal and octal numbers, naming the field', () => {
    expect(errorsOf('name: web\ndriver: exec\ncommand: x\ncount: 0x10\n')).toEqual([
      { path: 'count', message: 'write numbers in decimal: 0x10 is read as 16', line: 4, column: 8 },
    ]);
    expect(errorsOf('name: web\ndriver: exec\ncommand: x\nports: [{name: a, host: 0o17}]\n')).toEqual([
      { path: 'ports[0].host', message: 'write numbers in decimal: 0o17 is read as 15', line: 4, column: 25 },
    ]);
    // A quoted string is a string, and decimal stays fine.
    expect(parseJobFile('name: web\ndriver: exec\ncommand: x\ncount: 10\nargs: ["0x10"]\n').ok).toBe(true);
  });

  it('refuses a NUL in an environment value, a command or an argument', () => {
    const errors = errorsOf('name: web\ndriver: exec\ncommand: "a\\0b"\nargs: ["x\\0"]\nenv: {A: "x\\0y"}\n');
    expect(errors.map((e) => [e.path, e.line])).toEqual([
      ['command', 3],
      ['args[0]', 4],
      ['env.A', 5],
    ]);
    expect(errors[0]?.message).toMatch(/must not contain a NUL character/);
  });

  it.each([
    '--privileged',
    '../../etc/passwd',
    '../etc/passwd',
    'Nginx',
    'nginx:',
    'nginx:-x',
    'nginx@sha256:abc',
    '/nginx',
    'a//b',
    'bad_host.example.com:5000:1/x',
  ])('refuses the image %j', (image) => {
    const errors = errorsOf(`name: web\ndriver: docker\nimage: "${image}"\n`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: 'image', line: 3, column: 8 });
    expect(imageRefProblem(image)).toBeDefined();
  });

  it.each([
    'nginx',
    'nginx:1.27-alpine',
    'library/nginx:latest',
    'localhost:5000/team/app:v1',
    'registry.example.com/team/app',
    '127.0.0.1:5050/docker.io/library/busybox:1',
    `ghcr.io/org/app@sha256:${'a'.repeat(64)}`,
    'my_org/my-app__x.y:1_0',
  ])('accepts the image %j, as the registry code does', (image) => {
    expect(imageRefProblem(image)).toBeUndefined();
    expect(parseImageRef(image)).toBeDefined();
    expect(parseJobFile(`name: web\ndriver: docker\nimage: "${image}"\n`).ok).toBe(true);
  });
});
