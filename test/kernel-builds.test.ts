// The two kernel builds. In Node the loader takes the relaxed-SIMD build, turning on V8's
// --experimental-wasm-relaxed-simd where the engine needs it (Node 20; Node 22+ validates the
// build without it), and NORMKIT_WASM_BUILD=simd keeps the plain build and V8's flags as they
// are. The other suites run on the default build; this one runs the WASM, Winograd and thread
// suites again on the plain build, and checks what the loader reports and refuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const FLAG = '--experimental-wasm-relaxed-simd';
const index = new URL('../src/index.js', import.meta.url).href;
const suites = ['wasm', 'winograd', 'threads'].map((s) =>
  fileURLToPath(new URL(`./${s}.test.js`, import.meta.url)),
);

interface Loaded {
  build: string | null;
  error: string | null;
  flagSet: boolean;
  /** Whether a relaxed-SIMD instruction validates in this process after the import. */
  engine: boolean;
}

/** What the loader says in a fresh Node with these flags and NORMKIT_WASM_BUILD. */
function loaded(flags: string[], build?: string): Loaded {
  // A module with one function: v128.const 0, v128.const 0, v128.const 0, f32x4.relaxed_madd.
  const relaxedModule =
    '[0,97,115,109,1,0,0,0,1,5,1,96,0,1,123,3,2,1,0,10,61,1,59,0,253,12,' +
    Array(16).fill(0).join(',') +
    ',253,12,' +
    Array(16).fill(0).join(',') +
    ',253,12,' +
    Array(16).fill(0).join(',') +
    ',253,133,2,11]';
  const r = spawnSync(
    process.execPath,
    [
      ...flags,
      '--input-type=module',
      '-e',
      `const nk = await import(${JSON.stringify(index)});` +
        `const engine = WebAssembly.validate(new Uint8Array(${relaxedModule}));` +
        'console.log(JSON.stringify({ build: nk.wasmBuild(), error: nk.wasmLoadError(), ' +
        'flagSet: nk.relaxedSimdFlagSet(), engine }));',
    ],
    { encoding: 'utf8', env: { ...process.env, NORMKIT_WASM_BUILD: build ?? '' } },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('kernel builds', () => {
  it('loads the relaxed-SIMD build, turning its V8 flag on only where the engine needs it', () => {
    const node20 = Number(process.versions.node.split('.')[0]) < 22;
    assert.deepEqual(loaded([]), {
      build: 'relaxed-simd',
      error: null,
      flagSet: node20,
      engine: true,
    });
    assert.deepEqual(loaded([FLAG]), {
      build: 'relaxed-simd',
      error: null,
      flagSet: false,
      engine: true,
    });
    // Asked for the relaxed build, the loader turns the flag on just the same.
    assert.deepEqual(loaded([], 'relaxed-simd'), {
      build: 'relaxed-simd',
      error: null,
      flagSet: node20,
      engine: true,
    });
    // Asked for the plain build, the loader leaves V8 as it found it.
    assert.deepEqual(loaded([], 'simd'), {
      build: 'simd',
      error: null,
      flagSet: false,
      engine: !node20,
    });
  });

  it('says why when the build asked for is not one it has', () => {
    const r = loaded([], 'avx');
    assert.equal(r.build, null);
    assert.match(r.error!, /NORMKIT_WASM_BUILD: expected simd or relaxed-simd, got avx/);
    assert.equal(r.flagSet, false);
  });

  it('the plain SIMD build passes the WASM, Winograd and thread suites', (t) => {
    // Without NODE_TEST_CONTEXT (set by the parent runner) the child prints its own TAP; child
    // processes that the thread suite starts inherit NORMKIT_WASM_BUILD.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...suites], {
      encoding: 'utf8',
      env: { ...env, NORMKIT_WASM_BUILD: 'simd' },
    });
    const summary = r.stdout.split('\n').filter((l) => /^# (tests|pass|fail)/.test(l));
    assert.equal(r.status, 0, `${summary.join(', ')}\n${r.stdout.slice(-3000)}${r.stderr}`);
    assert.match(summary.join(' '), /# fail 0/);
    assert.match(summary.join(' '), /# pass [1-9]/);
    t.diagnostic(`plain SIMD build: ${summary.join(', ')}`);
  });
});
