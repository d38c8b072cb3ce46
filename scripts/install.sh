#!/usr/bin/env bash
# Install everything ALOR Studio needs on a fresh Debian machine (idempotent, no prompts).
#   scripts/install.sh         runtime: Python packages + the Fashion-MNIST Debian package
#   scripts/install.sh --dev   also test tools: pytest, hypothesis, Playwright + Debian chromium
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

apt_pkgs=()
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || apt_pkgs+=(dataset-fashion-mnist)
[ "$DEV" = 1 ] && { [ -x /usr/bin/chromium ] || apt_pkgs+=(chromium); }
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${apt_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "missing Debian packages: ${apt_pkgs[*]}" >&2
    echo "run as root: apt-get update && apt-get install -y ${apt_pkgs[*]}" >&2
    [ " ${apt_pkgs[*]} " = " chromium " ] || exit 1
  fi
fi

req=requirements.txt
[ "$DEV" = 1 ] && req=requirements-dev.txt
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$req"
