import { describe, expect, it } from 'vitest';
import { remoteRequestPath } from '../../../src/node/api/control-protocol.js';

describe('remote control paths', () => {
  it('serves reads and the signed writes, normalised', () => {
    expect(remoteRequestPath('GET', '/v1/status')).toBe('/v1/status');
    expect(remoteRequestPath('GET', '/v1/jobs?x=1')).toBe('/v1/jobs?x=1');
    expect(remoteRequestPath('POST', '/v1/jobs/web/plan')).toBe('/v1/jobs/web/plan');
    expect(remoteRequestPath('POST', '/v1/trust')).toBe('/v1/trust');
    expect(remoteRequestPath('POST', '/v1/job-plans')).toBe('/v1/job-plans');
    // `job run` from a remote meshctl pins its image through the agent before it signs.
    expect(remoteRequestPath('POST', '/v1/images/resolve')).toBe('/v1/images/resolve');
  });

  it('serves logs that end with their history, never a follow however it is spelled', () => {
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs?follow=false&tail=5')).toBe(
      '/v1/allocs/a/logs?follow=false&tail=5',
    );
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs?tail=5')).toBe('/v1/allocs/a/logs?tail=5');
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs?follow=true')).toBeUndefined();
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs?tail=1&follow=%74rue')).toBeUndefined();
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs?follow=false&follow=true')).toBeUndefined();
  });

  it('refuses a path that would pass the allow-list raw but run another route', () => {
    expect(remoteRequestPath('POST', '/v1/jobs/..\\..\\v1\\images\\prepull#/plan')).toBeUndefined();
    expect(remoteRequestPath('POST', '/v1/jobs/x/../../images/prepull/plan/..')).toBeUndefined();
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs#')).toBeUndefined();
    expect(remoteRequestPath('GET', '/v1/allocs/a/logs/.')).toBeUndefined();
    expect(remoteRequestPath('GET', '//evil/v1/status')).toBeUndefined();
    expect(remoteRequestPath('POST', '/v1/jobs')).toBeUndefined();
  });
});
