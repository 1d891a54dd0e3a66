# The .deb test (test/integration/deb-package.test.ts): lintian checks the package, binutils strips the addons.
PACKAGES+=(lintian binutils adduser)
