// The golden checks of `npm run golden`, as tests: every fixture folder under shared/fixtures,
// each check at rel = max|a−b| / max|b| ≤ 1e-3 against diffusers / transformers.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { GOLDEN_TOLERANCE } from '../scripts/golden/compare';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { runGoldenFolder } from '../scripts/golden/run-golden';
import { testGpu } from './support/gpu';

const root = fixturesDir();
/** Fixture folders kept in this repository (made as shared/fixtures are; each has a README). */
const repoFixtures = ['sd2-single-file-tiny', 'steering-tiny'].map((d) => join(dirname(fileURLToPath(import.meta.url)), 'fixtures', d));
/** The UNet fixture runs about 30 UNet calls; on SwiftShader (a CPU) that takes minutes. */
const SWIFTSHADER_GOLDEN_MS = 40 * 60_000;
const folders = existsSync(root) ? readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory()) : [];

describe('golden fixtures match diffusers and transformers', () => {
  it('the shared fixtures are present', () => {
    expect(folders.length, `no fixture folders under ${root} (set FIXTURES_DIR)`).toBeGreaterThan(0);
  });

  for (const dir of [...folders.map((d) => join(root, d)), ...repoFixtures]) {
    it(`${dir.slice(dir.lastIndexOf('/') + 1)}: every check at rel ≤ ${GOLDEN_TOLERANCE}`, async () => {
      const gpu = await testGpu();
      const checks = [];
      for await (const check of runGoldenFolder(gpu, nodeModelFolder(dir))) checks.push(check);
      expect(checks.length).toBeGreaterThan(0);
      const failed = checks.filter((c) => !c.pass);
      expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
    }, SWIFTSHADER_GOLDEN_MS);
  }
});
