// tests/rdma/verbs_test_device.h: an in-memory RDMA device for tests.
//
// This machine has no RDMA device (and its kernel no RDMA support), so the
// RDMA transport's tests link the real transport against this test double.
// It implements every verbs call the transport makes, with unreliable-
// datagram semantics:
//   - delivery only into posted receive buffers, silent drop when none is
//     posted, when the Q_Key differs, or when no such QP exists;
//   - the 40-byte GRH written before the payload of every UD receive
//     (IPv6/GRH layout, or the IPv4 header of RoCE v2 over IPv4 in its last
//     20 bytes), byte_len counting it; no GRH for InfiniBand LID routing;
//   - the port MTU enforced: a larger send completes in error and moves the
//     QP to SQE; a receive buffer too small completes in error;
//   - lkeys checked against registered, live regions of the QP's PD;
//   - send-queue slots retired only when a signalled completion at or after
//     them is polled, so a transport that never polls its send CQ sees
//     ibv_post_send fail once max_send_wr WRs are outstanding;
//   - inline data copied at post time; other sends read ("DMA") the
//     sender's memory later, at the next poll of any CQ, so a buffer reused
//     before its completion was polled delivers the wrong bytes;
//   - completions in order per queue; QP state transitions checked; a QP
//     in ERR completes every WR posted to it, before or after, with
//     IBV_WC_WR_FLUSH_ERR; one moved to RESET discards its queues and, as
//     mlx4/mlx5 do, its completions not yet polled.
//
// How it is linked: the data-path verbs (ibv_post_send, ibv_post_recv,
// ibv_poll_cq, and ibv_query_port through the extended context) are inline
// functions in <infiniband/verbs.h> that jump through the context's ops
// tables, which the device fills in. The control-path verbs are functions of
// libibverbs.so; the test binary defines them (verbs_test_device.cc), and the
// dynamic linker binds libflit's references to the executable's definitions
// first (ELF symbol interposition), so the transport runs unchanged: no test
// hooks in the production code.
//
// Process-wide and thread-safe (one lock: a test double, not a data path).
// After the first use, the steady-state data path allocates nothing.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

namespace flit::testing::verbs_device {

// Devices: 0 is "flitdev0", a RoCE port (Ethernet link layer, active MTU
// 1024, GIDs: fe80::/64 RoCE v1 and v2, ::ffff:127.0.0.1 RoCE v1 and v2);
// 1 is "flitdev1", an InfiniBand port (LID 0x11, active MTU 4096).
inline constexpr int kNumDevices = 2;

// Restores the defaults above (all visible, ports ACTIVE) and zeroes the
// counters. Objects already created keep working.
void reset();
// How many of the devices ibv_get_device_list() reports (0: "no device").
void set_visible_devices(int n);
void set_port_state(int dev, ibv_port_state state);
void set_active_mtu(int dev, ibv_mtu mtu);
// The next ibv_post_send of two or more WRs refuses its last one (EINVAL,
// *bad pointing at it) after posting the others, as a driver may when one
// WR of a chain is unacceptable. Once.
void refuse_last_wr_of_next_chain();

// QP qp_num goes to ERR, as after a fatal error the device reports
// asynchronously (IBV_EVENT_QP_FATAL): its WRs complete with flush errors
// and it sends and receives nothing until it goes through RESET. With
// flush_receives false, the receives posted before stay without a
// completion (a provider whose flushes have not come yet).
void fail_qp(uint32_t qp_num, bool flush_receives = true);
// Receives a QP still holds when it goes to RESET complete with flush
// errors only when it next reaches RTS, after new receives were posted (a
// provider whose flushes come late and survive RESET). Until reset().
void flush_late_at_reset(bool on);
// ibv_modify_qp to RESET fails (EINVAL), as on a device that is gone.
// Until reset().
void refuse_reset(bool on);

struct Counters {
  uint64_t sends_inline = 0;           // executed sends posted with IBV_SEND_INLINE
  uint64_t sends_gather = 0;           // executed sends read from registered memory
  uint64_t delivered = 0;              // packets written into a receive buffer
  uint64_t max_delivered_len = 0;      // largest payload delivered (GRH excluded)
  uint64_t dropped_no_recv = 0;        // destination had no receive posted
  uint64_t dropped_no_qp = 0;          // no QP with that number at that address
  uint64_t dropped_qkey = 0;           // Q_Key mismatch
  uint64_t send_errors = 0;            // error completions (length, protection)
  uint64_t recv_errors = 0;            // receive buffer too small or bad lkey
  uint64_t post_send_refused = 0;      // ibv_post_send failed (queue full, bad state)
  uint64_t recv_posted_twice = 0;      // a receive buffer posted while already posted
  uint64_t resource_errors = 0;        // teardown order violations (EBUSY)
  uint64_t sends_on_destroyed_ah = 0;  // a queued send's address handle was destroyed
};
Counters counters();

// Live objects, to check that a transport frees what it creates.
int open_contexts();
int live_qps();
int live_mrs();
int live_ahs();

}  // namespace flit::testing::verbs_device
