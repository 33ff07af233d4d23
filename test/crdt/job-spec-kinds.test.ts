/** `type: system` and `type: periodic` in a job file (issue 19). */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import { jobSpecToInput, validateJobSpec } from '../../src/crdt/job-spec.js';

const base = ['name: tick', 'driver: exec', 'command: /bin/true'];
const parse = (...lines: string[]) => parseJobFile([...base, ...lines, ''].join('\n'), 'tick.yaml');
const problems = (...lines: string[]) => {
  const r = parse(...lines);
  return r.ok ? [] : r.errors.map((p) => `${p.path}: ${p.message}`);
};

describe('type: system', () => {
  it('takes no count, and stores 0 (placement gives it one copy per eligible device)', () => {
    const r = parse('type: system');
    expect(r.ok && r.spec.count).toBe(0);
    expect(problems('type: system', 'count: 3')).toEqual([
      'count: a system job runs one copy on every eligible device: remove count',
    ]);
  });

  it('survives the written form without a count', () => {
    const r = parse('type: system', 'update: { maxParallel: 2 }');
    if (!r.ok) throw new Error('expected a spec');
    const input = jobSpecToInput(r.spec);
    expect('count' in input).toBe(false);
    const again = validateJobSpec(input);
    expect(again.ok && again.spec).toEqual(r.spec);
  });
});

describe('type: periodic', () => {
  it('fills in UTC and prohibitOverlap, and keeps the schedule', () => {
    const r = parse('type: periodic', 'schedule: "*/15 * * * *"');
    expect(r.ok && { ...r.spec }).toMatchObject({
      count: 1,
      schedule: '*/15 * * * *',
      timeZone: 'UTC',
      prohibitOverlap: true,
      restart: { attempts: 3 },
    });
    const berlin = parse(
      'type: periodic',
      'schedule: "*/5 * * * * *"',
      'timeZone: Europe/Berlin',
      'prohibitOverlap: false',
    );
    expect(berlin.ok && [berlin.spec.timeZone, berlin.spec.prohibitOverlap]).toEqual([
      'Europe/Berlin',
      false,
    ]);
    if (!berlin.ok) return;
    const again = validateJobSpec(jobSpecToInput(berlin.spec));
    expect(again.ok && again.spec).toEqual(berlin.spec);
  });

  it('says what is wrong with a schedule or a time zone', () => {
    expect(problems('type: periodic')).toEqual([
      'schedule: a periodic job needs a schedule, e.g. "*/15 * * * *"',
    ]);
    expect(problems('type: periodic', 'schedule: "61 * * * *"')).toEqual([
      'schedule: Invalid value for minute: 61',
    ]);
    expect(problems('type: periodic', 'schedule: "* * *"')).toEqual([
      'schedule: needs 5 fields (minute hour day month weekday) or 6 (seconds first), not 3',
    ]);
    expect(problems('type: periodic', 'schedule: "0 0 30 2 *"')).toEqual(['schedule: never fires']);
    expect(problems('type: periodic', 'schedule: "* * * * *"', 'timeZone: Mars/Olympus')).toEqual([
      'timeZone: unknown time zone "Mars/Olympus": use an IANA name such as "UTC" or "Europe/Berlin"',
    ]);
    // An overlong zone is said to be too long, once, and not quoted back.
    expect(problems('type: periodic', 'schedule: "* * * * *"', `timeZone: ${'A'.repeat(5000)}`)).toEqual([
      'timeZone: must be at most 64 characters',
    ]);
    expect(problems('type: periodic', 'schedule: "* * * * *"', 'count: 2')).toEqual([
      'count: each run of a periodic job is one copy: remove count',
    ]);
  });

  it('is refused on other types, and leaves their stored form (and hash) as it was', () => {
    expect(problems('schedule: "* * * * *"')).toEqual([
      'schedule: only a periodic job takes schedule (this one is service)',
    ]);
    expect(problems('type: batch', 'prohibitOverlap: true')).toEqual([
      'prohibitOverlap: only a periodic job takes prohibitOverlap (this one is batch)',
    ]);
    const r = parse();
    expect(r.ok && Object.keys(r.spec).sort()).not.toContain('timeZone');
    expect(r.ok && canonicalJson(r.spec)).not.toContain('schedule');
  });
});
