#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages lnfold's build, tests, examples and benchmarks need, skipping
# those already present. Runs apt-get through sudo when not root.
set -euo pipefail

packages=(build-essential cmake pkg-config libeigen3-dev libxsimd-dev libopenblas-dev libdnnl-dev catch2 libbenchmark-dev
          zlib1g-dev dataset-fashion-mnist fortunes "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "lnfold: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
