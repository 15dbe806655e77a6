// The two kernel builds. Node 20 validates the relaxed-SIMD build only with
// --experimental-wasm-relaxed-simd (Node 22+ and current Chromium without a flag), so this
// suite runs the WASM, Winograd and thread suites again in a child process with that flag, and
// checks what the loader reports and refuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const FLAG = '--experimental-wasm-relaxed-simd';
const index = new URL('../src/index.js', import.meta.url).href;
const suites = ['wasm', 'winograd', 'threads'].map((s) =>
  fileURLToPath(new URL(`./${s}.test.js`, import.meta.url)),
);

/** What the loader says in a fresh Node with these flags and NORMKIT_WASM_BUILD. */
function loaded(flags: string[], build?: string): { build: string | null; error: string | null } {
  const r = spawnSync(
    process.execPath,
    [
      ...flags,
      '--input-type=module',
      '-e',
      `const nk = await import(${JSON.stringify(index)});` +
        'console.log(JSON.stringify({ build: nk.wasmBuild(), error: nk.wasmLoadError() }));',
    ],
    { encoding: 'utf8', env: { ...process.env, NORMKIT_WASM_BUILD: build ?? '' } },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('kernel builds', () => {
  it('loads the relaxed-SIMD build where the engine validates it, the plain one elsewhere', () => {
    assert.deepEqual(loaded([]), { build: 'simd', error: null });
    assert.deepEqual(loaded([FLAG]), { build: 'relaxed-simd', error: null });
    assert.deepEqual(loaded([FLAG], 'simd'), { build: 'simd', error: null });
  });

  it('says why when the build asked for cannot load', () => {
    const r = loaded([], 'relaxed-simd');
    assert.equal(r.build, null);
    assert.match(r.error!, /relaxed-simd: this engine does not validate normkit-relaxed\.wasm/);
    assert.match(
      loaded([], 'avx')!.error!,
      /NORMKIT_WASM_BUILD: expected simd or relaxed-simd, got avx/,
    );
  });

  it('the relaxed-SIMD build passes the WASM, Winograd and thread suites', (t) => {
    // The flag alone selects the relaxed build (first test); child processes that the thread
    // suite starts without the flag load the plain one, as they would anywhere.
    // Without NODE_TEST_CONTEXT (set by the parent runner) the child prints its own TAP.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, [FLAG, '--test', '--test-reporter=tap', ...suites], {
      encoding: 'utf8',
      env,
    });
    const summary = r.stdout.split('\n').filter((l) => /^# (tests|pass|fail)/.test(l));
    assert.equal(r.status, 0, `${summary.join(', ')}\n${r.stdout.slice(-3000)}${r.stderr}`);
    assert.match(summary.join(' '), /# fail 0/);
    assert.match(summary.join(' '), /# pass [1-9]/);
    t.diagnostic(`relaxed-SIMD build: ${summary.join(', ')}`);
  });
});
