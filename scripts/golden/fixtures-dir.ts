import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The golden fixtures: $FIXTURES_DIR, else shared/fixtures beside the repository (as CI lays it out). */
export function fixturesDir(): string {
  if (process.env.FIXTURES_DIR) return resolve(process.env.FIXTURES_DIR);
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const candidates = [resolve(repoRoot, '..', 'shared', 'fixtures'), resolve(repoRoot, 'shared', 'fixtures')];
  return candidates.find((d) => existsSync(d)) ?? candidates[0];
}
