/** GET /v1/sinks: every record sink with its state, lag per topic and its own figures (read scope). */
import type { ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import { sendJson } from './http-util.js';

export function handleSinks(ctx: ServerContext, res: ServerResponse): void {
  sendJson(res, 200, { sinks: ctx.sinks?.() ?? [] });
}
