/**
 * Playwright against a protected Vercel preview, with no bypass secret: every request (browser and
 * `request`) carries the job's own GitHub OIDC token, which Vercel's Trusted Sources accept.
 * PREVIEW_URL is the Keyhole action's deployment-url output.
 */
import { expect, test as base } from '@playwright/test';
import { githubOidcToken, TRUSTED_OIDC_HEADER } from './github-oidc';

// A fresh token per test: GitHub's tokens live a few minutes, a suite may run longer.
const test = base.extend({
  baseURL: process.env.PREVIEW_URL,
  // Playwright reads a fixture's dependencies from its first parameter's pattern: this one has none.
  // eslint-disable-next-line no-empty-pattern
  extraHTTPHeaders: async ({}, use) => {
    await use({ [TRUSTED_OIDC_HEADER]: await githubOidcToken() });
  },
});

test('the protected preview serves its home page to this job', async ({ page }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
});

test('the health endpoint answers', async ({ request }) => {
  const response = await request.get('/api/health');
  expect(response.ok()).toBe(true);
});
