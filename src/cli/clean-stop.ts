import type { Agent } from '../node/agent.js';

/**
 * What meshd does on SIGTERM or SIGINT: announce the leave, then stop. The announcement goes first because the
 * stop closes the host that would carry it; a failed announcement still stops the agent (peers then fall back to
 * the lost period).
 *
 * The copies this agent runs are left running, as on any agent stop (an upgrade restarts the agent, and a device
 * powering off stops them anyway): peers replace them at once, and should the same agent come back, its record
 * loses the mark and the reconnect rule keeps exactly `count` copies, adopting rather than restarting the ones it
 * keeps here and stopping the rest as duplicates.
 */
export async function leaveAndStop(agent: Agent): Promise<void> {
  try {
    await agent.state.announceLeave();
  } catch (err) {
    agent.log.warn({ err: String(err) }, 'could not announce the leave; peers will wait out the lost period');
  }
  await agent.stop();
}
