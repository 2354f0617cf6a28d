#!/bin/sh
# Make sure Debian's chromium is installed for the officer pages' browser test
# (tests/api/web/test_browser.py drives it through Playwright; Playwright's own browser
# downloads are not used). Quiet and quick when chromium is already there; otherwise
# installs the `chromium` package with apt-get, non-interactively (as root, or through
# sudo when available). Safe to run any number of times.
set -eu

CHROMIUM="${SME_CREDIT_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available;" \
         "install Chromium and set SME_CREDIT_CHROMIUM to its path" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    AS_ROOT="sudo -n"
else
    echo "ensure-chromium: $CHROMIUM is missing; installing it needs root" \
         "(run: sudo apt-get install chromium)" >&2
    exit 1
fi

echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # AS_ROOT is empty or "sudo -n"
$AS_ROOT apt-get update -qq
# shellcheck disable=SC2086
$AS_ROOT apt-get install -y -qq --no-install-recommends chromium >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure-chromium: chromium was installed but $CHROMIUM is still missing" >&2
    exit 1
fi
