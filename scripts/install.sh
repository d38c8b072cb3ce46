#!/usr/bin/env bash
# Install everything ALOR Studio needs on a fresh Debian machine (idempotent, no prompts).
#   scripts/install.sh         runtime: the package (pip install -e ., pyproject.toml: library, CLI,
#                              dashboard) + the Fashion-MNIST Debian package
#   scripts/install.sh --dev   also the extras and test tools (pip install -e '.[dev]': pyspark, faiss,
#                              kaleido, pytest, hypothesis, Playwright, ruff) + Debian chromium and
#                              Java (the Spark tests; without Java they are skipped with the reason)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

apt_pkgs=()
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || apt_pkgs+=(dataset-fashion-mnist)
[ "$DEV" = 1 ] && { [ -x /usr/bin/chromium ] || apt_pkgs+=(chromium); }
[ "$DEV" = 1 ] && { command -v java >/dev/null || apt_pkgs+=(default-jre-headless); }
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${apt_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    mkdir -p /usr/share/man/man1  # slim images drop it; the JRE's postinst links its man page there
    apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "missing Debian packages: ${apt_pkgs[*]}" >&2
    echo "run as root: apt-get update && apt-get install -y ${apt_pkgs[*]}" >&2
    # only the demo data is required; without chromium / Java those tests skip and say why
    case " ${apt_pkgs[*]} " in *" dataset-fashion-mnist "*) exit 1 ;; esac
  fi
fi

target=.
[ "$DEV" = 1 ] && target=".[dev]"
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e "$target"
