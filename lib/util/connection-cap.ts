/**
 * A cap on the connections a listening server holds open: node closes one more as it is accepted,
 * before any byte is read (`server.maxConnections`, the 'drop' event). Every refusal is counted;
 * the report (a log line saying what to do) comes at most once per REPORT_MS with how many were
 * refused since the last one, so a flood costs one line a minute, not one per connection. Used by
 * the aggregator's listeners (limits.max_connections) and the agent's status listener.
 */
import type { Server } from 'node:net';

/** How often, at most, a server reports the connections it refused at its cap. */
export const REPORT_MS = 60_000;

export function capConnections(
  server: Server,
  max: number,
  o: {
    /** each refused connection */
    count(): void;
    /** at most once per REPORT_MS: connections refused since the last report, and the last one's address */
    report(refused: number, lastFrom: string | undefined): void;
  },
): void {
  server.maxConnections = max;
  let refused = 0;
  let reportedAt = -Infinity;
  server.on('drop', (d?: { remoteAddress?: string }) => {
    o.count();
    refused++;
    const now = performance.now();
    if (now - reportedAt < REPORT_MS) return;
    reportedAt = now;
    o.report(refused, d?.remoteAddress);
    refused = 0;
  });
}
