#!/usr/bin/env bash
# Installs the Debian 12 packages flit's build, tests and benchmarks need.
# Idempotent; run as root (or with sudo). Reaches only Debian's mirror.
set -euo pipefail

packages=(
  build-essential g++ pkg-config meson ninja-build python3
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  iproute2 procps util-linux
)
# Extra packages named by later parts of the tree (transports, flitc).
if [[ -f "$(dirname "$0")/extra-packages.txt" ]]; then
  while read -r p; do
    [[ -z "$p" || "$p" == \#* ]] || packages+=("$p")
  done < "$(dirname "$0")/extra-packages.txt"
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
