// src/pkthdr.h: the fixed packet header every flit packet starts with.
//
// 40 bytes, little-endian on the wire, every field naturally aligned.
// docs/wire-format.md documents it field by field; the static_asserts below
// pin the layout so a change to one is a change to the other.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "flit/config.h"

namespace flit {

inline constexpr uint16_t kPktMagic = 0x4C46;  // bytes 'F' 'L' on the wire
inline constexpr uint8_t kPktVersion = 1;
inline constexpr uint32_t kNoSession = 0xFFFFFFFF;

enum class PktType : uint8_t {
  kRequest = 1,             // client -> server: request data, packet pkt_num
  kResponse = 2,            // server -> client: response data, packet pkt_num
  kCreditReturn = 3,        // server -> client: request packet pkt_num received
  kRequestForResponse = 4,  // client -> server: send response packet pkt_num
  kConnect = 5,             // client -> server: open a session
  kConnectAck = 6,          // server -> client: session opened (or refused: status)
  kDisconnect = 7,          // client -> server: close the session
  kDisconnectAck = 8,       // server -> client: closed
  kReset = 9,               // either way: "the session your packet named is gone here"
  kPing = 10,               // keepalive; from the server also "your request is still running"
};
inline constexpr uint8_t kMaxPktType = 10;

template <typename T>
constexpr T to_le(T v) {
  if constexpr (std::endian::native == std::endian::little || sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
  } else if constexpr (sizeof(T) == 4) {
    return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
  } else {
    return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
  }
}
template <typename T>
constexpr T from_le(T v) {
  return to_le(v);
}

// The header in host byte order. load()/store() convert to and from the wire
// (memcpy: received headers need not be aligned, e.g. after a 42-byte
// Ethernet/IPv4/UDP header).
struct PktHdr {
  uint16_t magic;         // 0
  uint8_t version;        // 2
  uint8_t type;           // 3  PktType
  uint16_t method;        // 4  method id (requests and responses)
  uint8_t status;         // 6  Status of a response or connect-ack; requests: budget, low byte
  uint8_t flags;          // 7  requests: budget, high byte; 0 otherwise
  uint32_t dest_session;  // 8  the receiver's session number
  uint32_t msg_size;      // 12 size of the whole message (payload size for control packets)
  uint64_t token;         // 16 the receiver's session token
  uint64_t req_num;       // 24 request number (slot = req_num % kSessionSlots)
  uint32_t pkt_num;       // 32 packet number within the message
  uint32_t src_session;   // 36 the sender's session number (kNoSession if none)

  static PktHdr load(const uint8_t* p) {
    PktHdr h;
    std::memcpy(&h, p, sizeof h);
    if constexpr (std::endian::native != std::endian::little) h.swap();
    return h;
  }
  // Field by field, straight into p. A copy of the whole header, just
  // built field by field, is read back with 16-byte loads that the narrow
  // stores cannot forward to: a store-forwarding stall that was half of
  // client_send_one's time and two thirds of respond's.
  void store(uint8_t* p) const {
    put(p, 0, magic);
    put(p, 2, version);
    put(p, 3, type);
    put(p, 4, method);
    put(p, 6, status);
    put(p, 7, flags);
    put(p, 8, dest_session);
    put(p, 12, msg_size);
    put(p, 16, token);
    put(p, 24, req_num);
    put(p, 32, pkt_num);
    put(p, 36, src_session);
  }
  PktType pkt_type() const { return static_cast<PktType>(type); }
  // Requests reuse bytes 6-7 as the call's remaining deadline budget in
  // milliseconds (little-endian u16, saturating at 65535; 0: none).
  uint16_t budget_ms() const { return static_cast<uint16_t>(status | flags << 8); }
  void set_budget_ms(uint16_t ms) {
    status = static_cast<uint8_t>(ms);
    flags = static_cast<uint8_t>(ms >> 8);
  }

 private:
  template <typename T>
  static void put(uint8_t* p, size_t off, T v) {
    v = to_le(v);
    std::memcpy(p + off, &v, sizeof v);
  }
  void swap() {
    magic = to_le(magic);
    method = to_le(method);
    dest_session = to_le(dest_session);
    msg_size = to_le(msg_size);
    token = to_le(token);
    req_num = to_le(req_num);
    pkt_num = to_le(pkt_num);
    src_session = to_le(src_session);
  }
};

static_assert(sizeof(PktHdr) == kPktHdrSize, "wire header is 40 bytes");
static_assert(offsetof(PktHdr, magic) == 0);
static_assert(offsetof(PktHdr, version) == 2);
static_assert(offsetof(PktHdr, type) == 3);
static_assert(offsetof(PktHdr, method) == 4);
static_assert(offsetof(PktHdr, status) == 6);
static_assert(offsetof(PktHdr, flags) == 7);
static_assert(offsetof(PktHdr, dest_session) == 8);
static_assert(offsetof(PktHdr, msg_size) == 12);
static_assert(offsetof(PktHdr, token) == 16);
static_assert(offsetof(PktHdr, req_num) == 24);
static_assert(offsetof(PktHdr, pkt_num) == 32);
static_assert(offsetof(PktHdr, src_session) == 36);
static_assert(std::is_trivially_copyable_v<PktHdr>);

// Payload of kConnect (client -> server), 32 bytes, little-endian.
struct ConnectPayload {
  uint32_t client_session;  // 0  the client's session number (dest of server packets)
  uint32_t max_msg_size;    // 4  largest response the client accepts
  uint16_t slots;           // 8  request slots the client will use
  uint16_t credits;         // 10 packets the client may have in flight
  uint32_t data_per_pkt;    // 12 payload bytes per packet: must equal the server's
  uint64_t client_epoch;    // 16 random per client process start
  uint16_t eager_pkts;      // 24 response packets the server sends unasked (0 counts as 1)
  uint16_t reserved1;       // 26 zero
  uint32_t reserved2;       // 28 zero
};
// Payload of kConnectAck (server -> client), 32 bytes, little-endian.
struct ConnectAckPayload {
  uint32_t server_session;  // 0  the server's session number (dest of client packets)
  uint32_t max_msg_size;    // 4  largest request the server accepts
  uint16_t slots;           // 8
  uint16_t credits;         // 10
  uint32_t data_per_pkt;    // 12 the server's payload bytes per packet
  uint64_t server_token;    // 16 token the client puts on every later packet
  uint64_t server_epoch;    // 24 random per server process start
};
static_assert(sizeof(ConnectPayload) == 32 && sizeof(ConnectAckPayload) == 32);

template <typename T>
T load_payload(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native != std::endian::little) {
    // Every field is an integer; swap field by field.
    if constexpr (std::is_same_v<T, ConnectPayload>) {
      v.client_session = from_le(v.client_session);
      v.max_msg_size = from_le(v.max_msg_size);
      v.slots = from_le(v.slots);
      v.credits = from_le(v.credits);
      v.data_per_pkt = from_le(v.data_per_pkt);
      v.client_epoch = from_le(v.client_epoch);
      v.eager_pkts = from_le(v.eager_pkts);
    } else {
      v.server_session = from_le(v.server_session);
      v.max_msg_size = from_le(v.max_msg_size);
      v.slots = from_le(v.slots);
      v.credits = from_le(v.credits);
      v.data_per_pkt = from_le(v.data_per_pkt);
      v.server_token = from_le(v.server_token);
      v.server_epoch = from_le(v.server_epoch);
    }
  }
  return v;
}
template <typename T>
void store_payload(const T& v, uint8_t* p) {
  // load_payload's swap is its own inverse.
  T w = v;
  if constexpr (std::endian::native != std::endian::little) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &w, sizeof w);
    w = load_payload<T>(tmp);
  }
  std::memcpy(p, &w, sizeof w);
}

}  // namespace flit
