#!/usr/bin/env bash
# Reserves 2 MiB hugepages and mounts hugetlbfs at /dev/hugepages.
#   scripts/hugepages.sh [PAGES]   (default 1024 = 2 GiB)
# flit's message-buffer pools use hugepages when they are reserved (and
# ordinary pages otherwise); DPDK needs them. Needs root; without it, says so
# and exits 77 (the "skipped" code of meson's test protocol).
set -euo pipefail
pages=${1:-1024}
if [[ $(id -u) -ne 0 ]]; then
  echo "hugepages.sh: needs root to reserve hugepages (run: sudo $0 $pages)" >&2
  exit 77
fi
have=$(cat /proc/sys/vm/nr_hugepages)
if ((have < pages)); then
  echo "$pages" > /proc/sys/vm/nr_hugepages
fi
mkdir -p /dev/hugepages
if ! mountpoint -q /dev/hugepages; then
  mount -t hugetlbfs nodev /dev/hugepages
fi
echo "hugepages.sh: $(cat /proc/sys/vm/nr_hugepages) x 2 MiB reserved, hugetlbfs on /dev/hugepages"
