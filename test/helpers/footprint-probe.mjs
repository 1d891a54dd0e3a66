// Preloaded into an agent by test/integration/agent-footprint.test.ts (node --import=...).
// When the file LOGSHIP_PROBE_DIR/go appears, it writes LOGSHIP_PROBE_DIR/result.json: whether
// node:crypto was ever loaded, and how many KiB of node's file-backed pages become resident on the
// first Date#toISOString (V8's time-zone cache: ICU zone data) and the first localeCompare (ICU
// collation), and on the first 3,000 calls into a WebAssembly function (V8 compiles the call
// wrapper and the function with TurboFan). A large figure means nothing in the agent had needed
// those pages so far.
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
    // (module (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))
    const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 9, 1, 7, 0, 32, 0, 65, 1, 106, 11]);
    const f = new WebAssembly.Instance(new WebAssembly.Module(wasm)).exports.f;
    let sum = 0;
    for (let i = 0; i < 3000; i++) sum += f(i);
    // Tier-up compiles on V8's background threads: give them a moment.
    setTimeout(() => {
      const d = rssFileKiB();
      writeFileSync(join(dir, 'result.json'), JSON.stringify({ crypto, timeZoneKiB: b - a, collationKiB: c - b, optimizingCompilerKiB: d - c, sum }));
    }, 500);
  }, 100);
  t.unref();
}
