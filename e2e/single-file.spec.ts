// A single .safetensors checkpoint in the original (LDM) layout, opened the ways a person opens
// one: the file picker and a drop on the page. The fixture holds the tiny UNet, VAE and CLIP of the
// golden fixtures; its config is inferred from its shapes (single-file.ts), its tokenizer is the
// bundled CLIP vocabulary. Loading, caching and the link; no test here waits for a render.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { expect, test, type Page } from './test-model';

const CHECKPOINT = join(fixturesDir(), 'unet-sd15-single-file-tiny', 'model.safetensors');
const config = (dir: string) => JSON.parse(readFileSync(join(fixturesDir(), dir, 'config.json'), 'utf8')) as Record<string, unknown>;

// The tiny VAE's group-norm count cannot be read from its shapes: the page's debug hook gives the
// fixtures' configs, as SingleFileOptions.config does in tests/single-file-pipeline.test.ts.
test.beforeEach(async ({ context }) => {
  const configs = { unet: config('unet-sd15-single-file-tiny'), textEncoder: config('clip-text-tiny'), vae: config('vae-kl-tiny') };
  await context.addInitScript((c) => ((window as unknown as { attentionLabSingleFileConfig: unknown }).attentionLabSingleFileConfig = c), configs);
});

async function openDialog(page: Page) {
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline', { timeout: 300_000 });
  await page.getByRole('button', { name: 'Change model…' }).click();
  return page.getByTestId('model-dialog');
}

test('a single file opened with the picker loads, shows its family, names itself in the link and opens from the cache after a reload', async ({ page, browser }) => {
  await page.goto('/?steps=1&cfg=1');
  const dialog = await openDialog(page);
  await dialog.getByLabel('Single-file checkpoint').setInputFiles(CHECKPOINT);
  await expect(page.getByTestId('model-name')).toContainText('model', { timeout: 300_000 });
  await expect(page.getByTestId('model-name')).toContainText('small SD-layout model');
  await expect(page).toHaveURL(/model=file%3Amodel.safetensors%40[0-9a-f]{16}/);
  const link = page.url();

  await page.reload();
  await expect(page.getByTestId('model-name')).toContainText('small SD-layout model', { timeout: 300_000 });
  await expect(page.getByTestId('model-dialog')).toBeHidden();

  // Elsewhere (a browser without it), the link says which file to open.
  const other = await browser.newContext();
  const elsewhere = await other.newPage();
  await elsewhere.goto(link);
  await expect(elsewhere.getByTestId('model-dialog')).toContainText(/This link renders with the file model.safetensors \(content hash [0-9a-f]{16}\), which is not in this browser/);
  await other.close();
});

test('a single file dropped on the page loads', async ({ page }) => {
  await page.goto('/?steps=1&cfg=1');
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline', { timeout: 300_000 });
  const bytes = readFileSync(CHECKPOINT).toString('base64');
  await page.evaluate(async (base64) => {
    const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], 'dropped-model.safetensors'));
    for (const type of ['dragenter', 'dragover', 'drop']) document.body.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, bytes);
  await expect(page.getByTestId('model-name')).toContainText('dropped-model', { timeout: 300_000 });
  await expect(page).toHaveURL(/model=file%3Adropped-model.safetensors%40/);
});
