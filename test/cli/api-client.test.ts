import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, CliError } from '../../src/cli/api-client.js';
import {
  type HostileUpstream,
  startHostileUpstream,
  streamForever,
} from '../registry-p2p/hostile-upstream.js';

let server: HostileUpstream;

beforeAll(async () => {
  server = await startHostileUpstream();
});

afterAll(async () => {
  await server?.stop();
});

describe('meshctl talking to something that is not the agent', () => {
  for (const status of [200, 500]) {
    it(`stops reading an endless ${status} answer at its limit and hangs up`, async () => {
      server.aborted = 0;
      server.written = 0;
      server.handler = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        streamForever(server, res, new Uint8Array(256 * 1024).fill(0x20));
      };
      const err = await apiClient(`http://${server.host}`)
        .get('/v1/status')
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(CliError);
      expect((err as Error).message).toMatch(
        /the answer from http:\/\/127\.0\.0\.1:\d+ is larger than the 67108864 bytes allowed: is meshd what listens there\?/,
      );
      await expect.poll(() => server.aborted).toBe(1);
      expect(server.written).toBeLessThan(64 * 1024 * 1024 + 32 * 1024 * 1024);
    });
  }
});

describe('a stream the agent breaks off', () => {
  it('says the agent broke it off, not "aborted"', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"seq":1}\n', () => res.socket?.destroy());
    };
    const body = await apiClient(`http://${server.host}`).stream('/v1/events?follow=true');
    const chunks: string[] = [];
    const err = await (async () => {
      for await (const chunk of body) chunks.push(new TextDecoder().decode(chunk));
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(chunks.join('')).toBe('{"seq":1}\n');
    expect(err).toBeInstanceOf(CliError);
    expect((err as Error).message).toMatch(
      /^the agent at http:\/\/127\.0\.0\.1:\d+ broke off the stream \(.+\): is meshd still running\?$/,
    );
  });
});
