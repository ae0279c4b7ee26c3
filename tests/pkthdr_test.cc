#include "pkthdr.h"

#include <gtest/gtest.h>

namespace flit {
namespace {

TEST(PktHdr, WireBytesAreLittleEndianAtDocumentedOffsets) {
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(PktType::kResponse);
  h.method = 0x0102;
  h.status = 7;
  h.flags = 0;
  h.dest_session = 0x03040506;
  h.msg_size = 0x0708090a;
  h.token = 0x1112131415161718ULL;
  h.req_num = 0x2122232425262728ULL;
  h.pkt_num = 0x31323334;
  h.src_session = 0x41424344;
  uint8_t b[kPktHdrSize];
  h.store(b);
  const uint8_t want[kPktHdrSize] = {'F',  'L',  1,    2,    0x02, 0x01, 7,    0,    0x06, 0x05,
                                     0x04, 0x03, 0x0a, 0x09, 0x08, 0x07, 0x18, 0x17, 0x16, 0x15,
                                     0x14, 0x13, 0x12, 0x11, 0x28, 0x27, 0x26, 0x25, 0x24, 0x23,
                                     0x22, 0x21, 0x34, 0x33, 0x32, 0x31, 0x44, 0x43, 0x42, 0x41};
  for (size_t i = 0; i < kPktHdrSize; ++i) EXPECT_EQ(b[i], want[i]) << "byte " << i;
  PktHdr back = PktHdr::load(b);
  EXPECT_EQ(std::memcmp(&back, &h, sizeof h), 0);
}

TEST(PktHdr, RequestBudgetSharesStatusBytes) {
  PktHdr h{};
  h.set_budget_ms(0x1234);
  EXPECT_EQ(h.budget_ms(), 0x1234);
  uint8_t b[kPktHdrSize];
  h.store(b);
  EXPECT_EQ(b[6], 0x34);
  EXPECT_EQ(b[7], 0x12);
}

TEST(PktHdr, LoadFromUnalignedBytes) {
  PktHdr h{};
  h.magic = kPktMagic;
  h.req_num = 42;
  alignas(8) uint8_t buf[kPktHdrSize + 3];
  h.store(buf + 3);
  EXPECT_EQ(PktHdr::load(buf + 3).req_num, 42u);
}

TEST(PktHdr, ConnectPayloadRoundTrip) {
  ConnectAckPayload a{};
  a.server_session = 9;
  a.max_msg_size = 1 << 23;
  a.slots = 8;
  a.credits = 32;
  a.data_per_pkt = 1432;
  a.server_token = 0xfeedface;
  a.server_epoch = 77;
  uint8_t b[sizeof a];
  store_payload(a, b);
  EXPECT_EQ(b[0], 9);
  EXPECT_EQ(b[16], 0xce);
  ConnectAckPayload c = load_payload<ConnectAckPayload>(b);
  EXPECT_EQ(std::memcmp(&a, &c, sizeof a), 0);

  ConnectPayload p{};
  p.client_session = 0x01020304;
  p.credits = 32;
  p.client_epoch = 0x1122334455667788;
  p.eager_pkts = 0x0304;
  uint8_t q[sizeof p];
  store_payload(p, q);
  EXPECT_EQ(q[0], 0x04);   // client_session, little-endian
  EXPECT_EQ(q[10], 32);    // credits
  EXPECT_EQ(q[16], 0x88);  // client_epoch
  EXPECT_EQ(q[24], 0x04);  // eager_pkts
  EXPECT_EQ(q[25], 0x03);
  for (int i = 26; i < 32; ++i) EXPECT_EQ(q[i], 0) << i;  // reserved
  ConnectPayload r = load_payload<ConnectPayload>(q);
  EXPECT_EQ(std::memcmp(&p, &r, sizeof p), 0);
}

}  // namespace
}  // namespace flit
