#!/usr/bin/env bash
# Debian's headless Chromium and its chromedriver, for tests/test_report_browser.py (the report as a
# reader's browser shows it). Never downloads a browser from anywhere but the Debian archive.
#
# Idempotent: installs chromium / chromium-driver only when /usr/bin/chromium or /usr/bin/chromedriver
# is missing, then prints both versions. Needs root and apt (a CI container); exits non-zero on
# failure, so the caller decides whether that is fatal (the browser test skips without them).
set -euo pipefail

say() { echo "setup-browser: $*" >&2; }

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        say "needs root to apt-get install ${missing[*]}; skipping"
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || say "apt-get update failed; trying the install with the current lists"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# chromium's wrapper script prints a harmless shell warning on some hosts; keep only the version line
say "$(/usr/bin/chromium --version 2>/dev/null | tail -1)"
say "$(/usr/bin/chromedriver --version 2>/dev/null | head -1)"
