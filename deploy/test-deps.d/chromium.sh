# shellcheck shell=bash
# The status-page browser test (test/e2e/status-page.test.ts) drives Debian's headless Chromium
# through puppeteer-core; no browser is ever downloaded by npm.
PACKAGES+=(chromium)
