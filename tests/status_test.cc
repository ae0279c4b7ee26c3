#include "flit/status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace flit {
namespace {

TEST(Status, EveryCodeHasADistinctName) {
  std::set<std::string> names;
  for (uint8_t i = 0; i < kNumStatusCodes; ++i)
    names.insert(std::string(to_string(static_cast<Status>(i))));
  EXPECT_EQ(names.size(), kNumStatusCodes);
  EXPECT_EQ(to_string(Status::kOk), "Ok");
  EXPECT_EQ(to_string(Status::kUnknownOutcome), "UnknownOutcome");
}

TEST(Status, WireValuesAreStable) {
  EXPECT_EQ(static_cast<int>(Status::kOk), 0);
  EXPECT_EQ(static_cast<int>(Status::kUnavailable), 3);
  EXPECT_EQ(static_cast<int>(Status::kInternal), 9);
  EXPECT_EQ(status_from_wire(3), Status::kUnavailable);
  EXPECT_EQ(status_from_wire(200), Status::kInternal);
}

TEST(Status, SafeToRetry) {
  EXPECT_TRUE(is_safe_to_retry(Status::kUnavailable));
  EXPECT_FALSE(is_safe_to_retry(Status::kUnknownOutcome));
  EXPECT_FALSE(is_safe_to_retry(Status::kDeadlineExceeded));
  EXPECT_FALSE(is_safe_to_retry(Status::kOk));
}

}  // namespace
}  // namespace flit
