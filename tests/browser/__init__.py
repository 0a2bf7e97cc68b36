"""Browser tests: the console driven in headless Chromium through Playwright."""
