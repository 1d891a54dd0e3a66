#!/usr/bin/env node
// Reads vitest's JSON report and decides whether the run passed. CI must not
// be able to say "all green" when tests did not run, so this fails on:
//   - a missing or unparsable report, or one without the fields we read;
//   - any failed test, any failed file (a throwing beforeAll/afterAll, an
//     import error) and any failed suite (a hook inside describe);
//   - any skipped, todo or pending test not on the allow-list (a failing
//     beforeAll turns its tests into "skipped": that file also fails);
//   - report.success === false, or a vitest exit status other than 0;
//   - fewer tests than the floor kept in the repo.
// Every reason is printed as a "CI: ..." line; the last line is always
// "N passed, M failed, K skipped".
//
// usage: node .ci/check-report.mjs REPORT [--allow FILE] [--floor FILE] [--exit-status N]
//
// Allow-list format (one entry a line): `path/to/file.test.ts > full test name  # why`.
// The reason after `#` is required; lines starting with `#` are comments.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const args = process.argv.slice(2);
const reportPath = args[0];
const opt = (name) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : undefined;
};
const allowPath = opt('--allow');
const floorPath = opt('--floor');
const exitStatus = opt('--exit-status');

const reasons = [];
function finish(passed, failed, skipped) {
  for (const r of reasons) console.log(`CI: ${r}`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(reasons.length > 0 ? 1 : 0);
}

if (!reportPath) {
  reasons.push('check-report: no report path given (usage: check-report.mjs REPORT [--allow FILE] [--floor FILE] [--exit-status N])');
  finish(0, 1, 0);
}
if (!existsSync(reportPath)) {
  reasons.push(`no test report at ${reportPath}: the build or the test runner failed before vitest wrote it${exitStatus ? ` (exit ${exitStatus})` : ''}`);
  finish(0, 1, 0);
}
let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch (err) {
  reasons.push(`test report ${reportPath} is not valid JSON (${err.message}): the runner crashed while writing it`);
  finish(0, 1, 0);
}
if (!report || typeof report !== 'object' || !Array.isArray(report.testResults) || typeof report.success !== 'boolean' || typeof report.numFailedTestSuites !== 'number') {
  reasons.push(`test report ${reportPath} lacks testResults[], success or numFailedTestSuites: not a vitest JSON report this script understands`);
  finish(0, 1, 0);
}

const allowed = new Map();
if (allowPath) {
  if (!existsSync(allowPath)) reasons.push(`allow-list ${allowPath} is missing`);
  else {
    readFileSync(allowPath, 'utf8').split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const hash = line.indexOf('#');
      const entry = (hash < 0 ? line : line.slice(0, hash)).trim();
      const why = hash < 0 ? '' : line.slice(hash + 1).trim();
      if (why === '') reasons.push(`${allowPath}:${i + 1}: allow-list entry "${entry}" has no "# reason"`);
      else allowed.set(entry, { why, used: false });
    });
  }
}

const root = process.cwd();
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of report.testResults) {
  const name = relative(root, String(file.name ?? '?'));
  const tests = Array.isArray(file.assertionResults) ? file.assertionResults : [];
  let failedHere = 0;
  for (const t of tests) {
    const full = `${name} > ${t.fullName ?? t.title ?? '?'}`;
    if (t.status === 'passed') passed++;
    else if (t.status === 'failed') {
      failed++;
      failedHere++;
      reasons.push(`failed: ${full}`);
    } else {
      // skipped, pending (only / never finished) and todo all mean "did not check anything"
      skipped++;
      const a = allowed.get(full);
      if (a) a.used = true;
      else reasons.push(`${t.status} (not on the allow-list${allowPath ? ` ${allowPath}` : ''}): ${full}`);
    }
  }
  // A file fails without a failed test when a hook (beforeAll/afterAll) or the
  // import itself threw; its message is the first error.
  if (file.status === 'failed' && failedHere === 0) {
    failed++;
    const msg = String(file.message ?? '').split('\n')[0] || 'a beforeAll/afterAll hook threw (the report keeps no message; see the vitest log above)';
    reasons.push(`file failed outside any test: ${name}: ${msg}`);
  } else if (file.status !== 'passed' && file.status !== 'failed') {
    failed++;
    reasons.push(`file has status "${file.status}": ${name}`);
  }
}
// A failed hook inside a describe marks the suite failed; the file usually
// fails too, but the suite count is authoritative.
if (report.numFailedTestSuites > 0 && failed === 0) {
  failed += report.numFailedTestSuites;
  reasons.push(`${report.numFailedTestSuites} suite(s) failed (a hook inside describe) although no test or file is marked failed`);
}
if (report.success !== true && failed === 0) {
  failed++;
  reasons.push('the report says success: false although no test, file or suite is marked failed');
}
// vitest also fails the run on an unhandled error or rejection, which the JSON report does not show
if (exitStatus !== undefined && exitStatus !== '0' && failed === 0) {
  failed++;
  reasons.push(`vitest exited with status ${exitStatus} although the report shows no failure: an unhandled error or rejection (see "Unhandled Errors" in the log above)`);
}
for (const [entry, a] of allowed) if (!a.used) console.log(`CI: note: allow-list entry no longer skipped, remove it: ${entry}`);

const total = passed + failed + skipped;
if (report.testResults.length === 0 || passed + report.numFailedTestSuites + failed === 0) reasons.push('no test ran');
if (floorPath) {
  const floorText = existsSync(floorPath) ? readFileSync(floorPath, 'utf8').split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) : undefined;
  const floor = floorText === undefined ? NaN : Number(floorText.trim());
  if (!Number.isInteger(floor) || floor < 0) reasons.push(`test floor ${floorPath} is missing or not a whole number`);
  else if (total < floor) reasons.push(`${total} tests in the report, fewer than the floor of ${floor} in ${floorPath}: tests were lost (lower the floor in the same commit if a test was removed on purpose)`);
}
finish(passed, failed, skipped);
