#include "flit/uri.h"

#include <gtest/gtest.h>

#include "flit/error.h"

namespace flit {
namespace {

TEST(Uri, ParsesIpv4Ipv6AndNames) {
  Uri a = parse_uri("udp://127.0.0.1:31850");
  EXPECT_EQ(a.scheme, "udp");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 31850);
  Uri b = parse_uri("udp://[::1]:7");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 7);
  EXPECT_EQ(b.to_string(), "udp://[::1]:7");
  Uri c = parse_uri("dpdk://localhost:0");
  EXPECT_EQ(c.scheme, "dpdk");
  EXPECT_EQ(c.host, "localhost");
  EXPECT_EQ(c.port, 0);
}

TEST(Uri, RejectsMalformedWithReason) {
  struct Case {
    const char* text;
    const char* reason;
  } cases[] = {
      {"127.0.0.1:5", "no '://'"},       {"://h:5", "empty scheme"},
      {"udp://h", "missing ':port'"},    {"udp://h:", "port must be"},
      {"udp://h:65536", "port must be"}, {"udp://h:5x", "port must be"},
      {"udp://[::1:5", "unterminated"},  {"udp://[::1]5", "missing ':port'"},
      {"udp://::1:5", "brackets"},       {"udp://:5", "empty host"},
      {"Udp://h:5", "lowercase"},        {"udp://a/b:5", "invalid character"},
  };
  for (const Case& c : cases) {
    try {
      (void)parse_uri(c.text);
      ADD_FAILURE() << "accepted " << c.text;
    } catch (const Error& e) {
      std::string w = e.what();
      EXPECT_NE(w.find(c.reason), std::string::npos) << c.text << ": " << w;
      EXPECT_NE(w.find(c.text), std::string::npos) << w;
    }
  }
}

}  // namespace
}  // namespace flit
