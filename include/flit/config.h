// flit/config.h: the datapath's compile-time knobs, in one place.
//
// Values that depend on each other are tied together with static_asserts
// here, so changing one cannot silently break another. Run-time settings
// (timeouts, maximum message size, MTU) live in flit::NexusConfig.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flit {

// Size of the fixed packet header every flit packet starts with
// (docs/wire-format.md). Pinned by static_asserts in src/pkthdr.h.
inline constexpr size_t kPktHdrSize = 40;

// Concurrent requests per session (request slots). A client issues at most
// this many calls at once on one session; more wait in its backlog.
inline constexpr uint32_t kSessionSlots = 8;

// Packet credits per session: the client never has more request or
// request-for-response packets in flight than this, so the server never
// receives more than it reserved room for.
inline constexpr uint32_t kSessionCredits = 32;

// Most packets taken from the transport per receive burst (the burst is
// NexusConfig::rx_burst, kDefaultRxBurst unless set), and the transmit
// batch size (a batch is flushed when it is full or the loop iteration
// ends).
inline constexpr uint32_t kMaxRxBurst = 32;
inline constexpr uint32_t kTxBatch = 32;

// Default receive burst: half of kMaxRxBurst, so that the calls in flight
// between two Rpcs cannot all travel as one batch (docs/ARCHITECTURE.md,
// "Receive bursts and convoys").
inline constexpr uint32_t kDefaultRxBurst = 16;

// Functions from Rpc::post(), and worker handlers' responses, taken from
// their rings per event-loop iteration: work handed in by other threads
// cannot starve the network (the rest waits for the next iteration).
inline constexpr uint32_t kPostsPerLoop = 32;
inline constexpr uint32_t kWorkerResponsesPerLoop = 32;

// Default largest message (request or response), in bytes. Configurable per
// Nexus up to kMaxMsgSizeLimit.
inline constexpr size_t kDefaultMaxMsgSize = size_t{8} << 20;
inline constexpr size_t kMaxMsgSizeLimit = size_t{1} << 30;

// Calls waiting for a free slot, per session. enqueue_request returns
// ResourceExhausted beyond this.
inline constexpr uint32_t kDefaultBacklog = 4096;

// Response packets a server sends unasked, by default: as many as keep every
// slot of a session able to have a single-packet call in flight.
inline constexpr uint32_t kDefaultEagerResponsePkts = kSessionCredits / kSessionSlots;

// Largest session number + 1 accepted per Rpc by default.
inline constexpr uint32_t kDefaultMaxSessions = 4096;

// Smallest message-buffer size class, in bytes of payload.
inline constexpr size_t kMinBufferClass = 64;

static_assert(kSessionCredits >= kSessionSlots,
              "every slot must be able to send at least one packet");
static_assert((kSessionSlots & (kSessionSlots - 1)) == 0, "slots: a power of two");
static_assert(kTxBatch >= kMaxRxBurst, "one rx burst can trigger one tx packet each");
static_assert(kDefaultRxBurst >= 1 && kDefaultRxBurst <= kMaxRxBurst);
static_assert(kPktHdrSize % 8 == 0, "header keeps 8-byte fields aligned");

}  // namespace flit
