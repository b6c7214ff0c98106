#!/bin/sh
# Installs Debian's Chromium for the server's browser tests (packages/server/test/browser/), which
# drive it through playwright-core. Playwright never downloads a browser here: the tests use the
# system one at /usr/bin/chromium (or CHROMIUM_PATH), so this is the only install step they need.
# Safe to run again: it does nothing when Chromium is already there.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "install-chromium: $CHROMIUM is already installed, nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: $CHROMIUM is missing and apt-get is not available;" >&2
  echo "install Chromium with your system's package manager, or set CHROMIUM_PATH for the tests" >&2
  exit 1
fi

# Root (as on CI) runs apt-get itself; anyone else goes through sudo when there is one.
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-chromium: installing Chromium needs root, and sudo is not available" >&2
    exit 1
  fi
fi

echo "install-chromium: $CHROMIUM is missing; installing the chromium package with apt-get"
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
