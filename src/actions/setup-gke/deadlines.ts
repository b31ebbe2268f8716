import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Agent as UndiciAgent, setGlobalDispatcher } from 'undici';

/** Node's agents, with a socket that says nothing for timeoutMs destroyed (node-fetch has no deadline of its own). */
function deadlineAgent<A extends typeof http.Agent | typeof https.Agent>(
  Base: A,
  timeoutMs: number,
  deadline: AbortSignal,
): InstanceType<A> {
  const agent = new Base({ keepAlive: true }) as InstanceType<A>;
  const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket;
  (agent as unknown as { createConnection: (...args: unknown[]) => Socket }).createConnection = (
    ...args: unknown[]
  ) => {
    const socket = create(...args);
    // After the deadline no new connection lives (a library's own retry would open one and wait again).
    if (deadline.aborted)
      socket.destroy(Object.assign(new Error('the overall timeout ran out'), { code: 'ETIMEDOUT' }));
    else
      socket.setTimeout(timeoutMs, () =>
        socket.destroy(
          Object.assign(new Error(`no answer within ${Math.round(timeoutMs / 1000)}s`), { code: 'ETIMEDOUT' }),
        ),
      );
    return socket;
  };
  return agent;
}

/**
 * Every HTTP request of this process gets a deadline for each answer: fetch (the Container API) through
 * undici's global dispatcher, and Node's http/https agents (google-auth-library's token requests go
 * through node-fetch). When `deadline` aborts or the returned function is called, every connection
 * still open is closed and no new one lives, so the requests in flight (and any retry a library makes
 * on its own) end, and the process can exit.
 */
export function httpDeadlines(deadline: AbortSignal, requestTimeoutMs: number): () => void {
  const closed = new AbortController();
  const stop = AbortSignal.any([deadline, closed.signal]);
  const dispatcher = new UndiciAgent({
    connect: { timeout: Math.min(10_000, requestTimeoutMs) },
    headersTimeout: requestTimeoutMs,
    bodyTimeout: requestTimeoutMs,
  });
  const agents = [
    deadlineAgent(http.Agent, requestTimeoutMs, stop),
    deadlineAgent(https.Agent, requestTimeoutMs, stop),
  ] as const;
  setGlobalDispatcher(dispatcher);
  http.globalAgent = agents[0];
  https.globalAgent = agents[1];
  stop.addEventListener(
    'abort',
    () => {
      void dispatcher.destroy().catch(() => undefined);
      for (const a of agents) a.destroy();
    },
    { once: true },
  );
  return () => closed.abort();
}
