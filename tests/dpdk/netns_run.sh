#!/usr/bin/env bash
# tests/dpdk/netns_run.sh PAIRS COMMAND [ARGS...]
#
# Runs COMMAND inside a fresh network namespace holding a test network, and
# deletes the namespace afterwards (also on failure or interrupt):
#
#   br0  198.18.0.1/24   Linux bridge: kernel-UDP endpoints bind here
#   vk0..vk{PAIRS-1}     bridge ports, each the kernel end of a veth pair
#   vd0..vd{PAIRS-1}     the other ends, no address: DPDK net_af_packet ports
#
# With FLIT_TEST_NETNS_ROUTED=1 the veth pairs are on a second bridge
# instead, in another subnet, and the kernel is the router between the two:
#
#   br1  198.18.1.1/24   the DPDK ports' subnet and gateway (vk<i> are its ports)
#   br0  198.18.0.1/24   kernel-UDP endpoints, reached through 198.18.1.1
#
# br1 answers ARP only for its own address (arp_ignore=1), so a DPDK client
# that asked for 198.18.0.1 directly would get no answer: it must use the
# gateway.
#
# Kernel transmit checksum offload is off on the bridge and its ports: a
# veth hands a packet socket (af_packet) frames with the UDP checksum not yet
# computed otherwise, which the DPDK side rightly rejects.
# Exports FLIT_TEST_NETNS_PAIRS=PAIRS for the command. Addresses are in
# 198.18.0.0/15 (benchmarking range, RFC 2544) and never leave the namespace.
# Exits 77 (skipped) with the reason when it cannot run: not root, no ip(8).
set -euo pipefail
pairs=$1
shift
if [[ $(id -u) -ne 0 ]]; then
  echo "netns_run.sh: needs root to create network namespaces: skipped" >&2
  exit 77
fi
for tool in ip ethtool; do
  if ! command -v "$tool" >/dev/null; then
    echo "netns_run.sh: needs $tool (apt-get install iproute2 ethtool): skipped" >&2
    exit 77
  fi
done
ns="flit-dpdk-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
if ! ip netns add "$ns" 2>/dev/null; then
  echo "netns_run.sh: cannot create a network namespace (no CAP_SYS_ADMIN?): skipped" >&2
  exit 77
fi
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
port_bridge=br0
if [[ ${FLIT_TEST_NETNS_ROUTED:-0} == 1 ]]; then
  port_bridge=br1
  in_ns ip link add br1 type bridge
  in_ns ethtool -K br1 tx off >/dev/null
  in_ns sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.arp_ignore=1
  in_ns ip addr add 198.18.1.1/24 dev br1
  in_ns ip link set br1 up
fi
for ((i = 0; i < pairs; i++)); do
  in_ns ip link add "vk$i" type veth peer name "vd$i"
  in_ns ip link set "vk$i" master "$port_bridge"
  in_ns ethtool -K "vk$i" tx off >/dev/null
  in_ns ethtool -K "vd$i" tx off >/dev/null
  in_ns ip link set "vk$i" up
  in_ns ip link set "vd$i" up
done
in_ns ethtool -K br0 tx off >/dev/null
in_ns ip addr add 198.18.0.1/24 dev br0
in_ns ip link set br0 up
export FLIT_TEST_NETNS_PAIRS=$pairs
set +e
in_ns "$@"
rc=$?
exit $rc
