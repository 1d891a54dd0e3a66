// Preloaded into an agent by test/integration/agent-footprint.test.ts (NODE_OPTIONS=--import=...).
// When the file LOGSHIP_PROBE_DIR/go appears, it writes LOGSHIP_PROBE_DIR/result.json: whether
// node:crypto was ever loaded, and how many KiB of node's file-backed pages become resident on the
// first Date#toISOString (V8's time-zone cache: ICU zone data) and the first localeCompare (ICU
// collation). A large figure means nothing in the agent had needed that part of ICU so far.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.LOGSHIP_PROBE_DIR;
const rssFileKiB = () => Number(/RssFile:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
if (dir) {
  const t = setInterval(() => {
    if (!existsSync(join(dir, 'go'))) return;
    clearInterval(t);
    const crypto = process.moduleLoadList.filter((m) => m === 'NativeModule crypto' || m === 'Internal Binding crypto');
    const a = rssFileKiB();
    new Date(0).toISOString();
    const b = rssFileKiB();
    'a'.localeCompare('b');
    const c = rssFileKiB();
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ crypto, timeZoneKiB: b - a, collationKiB: c - b }));
  }, 100);
  t.unref();
}
