import { createRequire } from 'node:module';
import type { Agent } from 'undici';

type AgentClass = typeof Agent;

let loaded: AgentClass | undefined;

/**
 * undici's `Agent`, the one part of undici this client uses. The package's entry point also loads fetch,
 * WebSocket, its caches and its mocks (about three times the start-up time of the agent alone, paid by every
 * command that makes a client); its own module for the agent is tried first, the entry point where a release
 * moved it.
 */
export function undiciAgent(): AgentClass {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    try {
      loaded = require('undici/lib/dispatcher/agent.js') as AgentClass;
    } catch {
      loaded = (require('undici') as { Agent: AgentClass }).Agent;
    }
  }
  return loaded;
}
