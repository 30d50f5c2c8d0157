import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test('the built page carries a Content-Security-Policy, renders under it, and shows HTML from a link as text', async ({ page }) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
  await page.goto(`/?${FAST}&prompt=${encodeURIComponent(hostile)}`);

  const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(policy).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(policy).toContain("object-src 'none'");

  await waitForImage(page);
  await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue(hostile);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(violations).toEqual([]);
});
