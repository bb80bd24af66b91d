#!/usr/bin/env bash
# Install everything pytest-spider's demo, tests and benchmarks need on a fresh Debian
# machine: the lab's Debian packages (as root), the package itself with its test extras, and
# nox and uv, which scripts/test.sh runs the checks with.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(nginx-light nftables iproute2 chromium)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in "${debian_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    # Installing nginx must not start a system nginx: the lab runs its own, in namespaces.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
else
  echo "setup: not root or no apt-get: lab tests will skip unless ${debian_packages[*]} are present" >&2
fi

python -m pip install -q --disable-pip-version-check -e ".[test]"
# scripts/test.sh runs lint and the suite through nox (noxfile.py), in virtual environments
# that uv makes and fills.
python -m pip install -q --disable-pip-version-check "nox>=2025.10.14" "uv>=0.5"
