/** The `templates:` field (job-spec-templates.ts): bounded, parsed, and kept inside the copy's directory. */
import { describe, expect, it } from 'vitest';
import { jobSpecToInput } from '../../src/crdt/job-spec.js';
import { TEMPLATE_LIMITS } from '../../src/crdt/job-spec-templates.js';
import { expectIssue, specOf } from '../support/job-spec-checks.js';

const job = { name: 'app', driver: 'exec', command: '/bin/app' } as const;
const conf = { destination: 'local/app.conf', data: 'port={{alloc.ports.http}}\n' };

describe('templates', () => {
  it('default to changeMode restart, round trip, and are absent when not given', () => {
    const spec = specOf({ ...job, templates: [conf] });
    expect(spec.templates).toEqual([{ ...conf, changeMode: 'restart' }]);
    expect(specOf(jobSpecToInput(spec))).toEqual(spec);
    expect(Object.hasOwn(specOf(job), 'templates')).toBe(false);
  });

  it.each([
    ['/etc/app.conf', /not absolute/],
    ['local/../../etc/passwd', /"\.\." is not allowed/],
    ['../x/app.conf', /"\.\." is not allowed/],
    ['app.conf', /inside a directory of the copy's/],
    ['local//app.conf', /no empty parts/],
    ['local/.hidden', /not starting with "\." or "-"/],
  ])('refuses destination %s with a reason', (destination, message) => {
    expectIssue({ ...job, templates: [{ ...conf, destination }] }, ['templates', 0, 'destination'], message);
  });

  it('refuses a template mustache cannot parse, and one past the size bound', () => {
    expectIssue(
      { ...job, templates: [{ ...conf, data: '{{#services.web}}open' }] },
      ['templates', 0, 'data'],
      /not a valid mustache template: Unclosed section "services.web"/,
    );
    expectIssue(
      { ...job, templates: [{ ...conf, data: 'x'.repeat(TEMPLATE_LIMITS.data + 1) }] },
      ['templates', 0, 'data'],
      /at most 16384/,
    );
    const many = Array.from({ length: TEMPLATE_LIMITS.templates + 1 }, (_, i) => ({
      ...conf,
      destination: `d/${i}`,
    }));
    expectIssue({ ...job, templates: many }, ['templates'], /at most 16/);
  });

  it('needs a signal for changeMode signal, and only then; one template per destination', () => {
    expectIssue(
      { ...job, templates: [{ ...conf, changeMode: 'signal' }] },
      ['templates', 0, 'changeSignal'],
      /needs a changeSignal/,
    );
    expectIssue(
      { ...job, templates: [{ ...conf, changeSignal: 'SIGHUP' }] },
      ['templates', 0, 'changeSignal'],
      /set changeMode signal/,
    );
    expectIssue(
      { ...job, templates: [{ ...conf, changeMode: 'signal', changeSignal: 'SIGKILL' }] },
      ['templates', 0, 'changeSignal'],
      /one of/,
    );
    expectIssue(
      { ...job, templates: [conf, conf] },
      ['templates', 1, 'destination'],
      /already renders local\/app.conf/,
    );
    expect(
      specOf({ ...job, templates: [{ ...conf, changeMode: 'signal', changeSignal: 'SIGHUP' }] }).templates,
    ).toHaveLength(1);
  });
});
