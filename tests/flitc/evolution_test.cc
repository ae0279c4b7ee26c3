// Schema evolution: evolution_v1.flit and evolution_v2.flit (v2 appends
// fields and an enumerator) compiled side by side. Old readers ignore what
// they do not know; new readers see defaults for what old writers did not
// send. Both directions, through views and owning types, including lists of
// structs whose element size differs between the versions.
#include <gtest/gtest.h>

#include <vector>

#include "evolution_v1.flit.h"
#include "evolution_v2.flit.h"
#include "test_util.h"

namespace {

using flit_test_util::decode;
using flit_test_util::encode;

evo::v1::Record v1_record() {
  evo::v1::Record r;
  r.id = 0x1122334455667788;
  r.name = "old";
  r.items = {{1, "one"}, {2, "two"}};
  r.kind = evo::v1::Kind::kB;
  r.sub = {3, "sub"};
  return r;
}

evo::v2::Record v2_record() {
  evo::v2::Record r;
  r.id = 42;
  r.name = "new";
  r.items = {{1, "one", 1.5, "note"}, {2, "two", -2.5, std::nullopt}};
  r.kind = evo::v2::Kind::kC;
  r.sub = {3, "sub", 0.25, "subnote"};
  r.extra = 7;
  r.tags = {"t1", "t2"};
  r.maybe = evo::v2::Item{9, "maybe", 9.5, std::nullopt};
  r.flag = true;
  return r;
}

TEST(Evolution, OldWriterNewReaderSeesDefaults) {
  std::vector<uint8_t> bytes = encode(v1_record());
  bool ok = false;
  evo::v2::Record r = decode<evo::v2::Record>(bytes, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(r.id, 0x1122334455667788u);
  EXPECT_EQ(r.name, "old");
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[1].id, 2u);
  EXPECT_EQ(r.items[1].name, "two");
  EXPECT_EQ(r.items[1].weight, 0.0);
  EXPECT_FALSE(r.items[1].note.has_value());
  EXPECT_EQ(r.kind, evo::v2::Kind::kB);
  EXPECT_EQ(r.sub.name, "sub");
  EXPECT_EQ(r.sub.weight, 0.0);
  EXPECT_EQ(r.extra, 0u);
  EXPECT_TRUE(r.tags.empty());
  EXPECT_FALSE(r.maybe.has_value());
  EXPECT_FALSE(r.flag);

  evo::v2::RecordView v;
  ASSERT_EQ(evo::v2::RecordView::parse(bytes, &v), flit::Status::kOk);
  EXPECT_FALSE(v.has_maybe());
  EXPECT_FALSE(v.items()[0].has_note());
  EXPECT_EQ(v.items()[0].weight(), 0.0);
  EXPECT_EQ(v.items()[1].name(), "two");
}

TEST(Evolution, NewWriterOldReaderIgnoresAppendedFields) {
  std::vector<uint8_t> bytes = encode(v2_record());
  bool ok = false;
  evo::v1::Record r = decode<evo::v1::Record>(bytes, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(r.id, 42u);
  EXPECT_EQ(r.name, "new");
  ASSERT_EQ(r.items.size(), 2u);
  // Elements are v2-sized (a larger stride); v1 still finds each one.
  EXPECT_EQ(r.items[0].id, 1u);
  EXPECT_EQ(r.items[0].name, "one");
  EXPECT_EQ(r.items[1].id, 2u);
  EXPECT_EQ(r.items[1].name, "two");
  EXPECT_EQ(r.sub.id, 3u);
  EXPECT_EQ(r.sub.name, "sub");
  // An enumerator v1 does not know arrives as its number.
  EXPECT_EQ(static_cast<uint8_t>(r.kind), 2);

  evo::v1::RecordView v;
  ASSERT_EQ(evo::v1::RecordView::parse(bytes, &v), flit::Status::kOk);
  EXPECT_EQ(v.items()[1].name(), "two");
  EXPECT_EQ(v.sub().name(), "sub");
}

TEST(Evolution, SameVersionRoundTripsBothSchemas) {
  EXPECT_EQ(decode<evo::v1::Record>(encode(v1_record())), v1_record());
  EXPECT_EQ(decode<evo::v2::Record>(encode(v2_record())), v2_record());
}

TEST(Evolution, OldReaderValidatesWhatItKnowsOnly) {
  // A v2 message whose appended field (tags) is corrupt is still readable by
  // v1, which never looks there; v2 rejects it.
  evo::v2::Record r = v2_record();
  std::vector<uint8_t> bytes = encode(r);
  // Record v2 layout: id 8, name 8, items 8, kind 1, sub 8, extra 4 -> tags at 37.
  size_t tags = 4 + 37;
  flit::wire::store_le<uint32_t>(&bytes[tags], 0xFFFFFFF0);
  evo::v1::RecordView v1;
  EXPECT_EQ(evo::v1::RecordView::parse(bytes, &v1), flit::Status::kOk);
  evo::v2::RecordView v2;
  EXPECT_EQ(evo::v2::RecordView::parse(bytes, &v2), flit::Status::kInvalidArgument);
}

TEST(Evolution, V1RoundTripOfV2MessageDropsUnknownFields) {
  // Documented: decoding into an older owning type and re-encoding keeps
  // only the fields that version knows.
  evo::v1::Record mid = decode<evo::v1::Record>(encode(v2_record()));
  evo::v2::Record back = decode<evo::v2::Record>(encode(mid));
  EXPECT_EQ(back.name, "new");
  EXPECT_EQ(back.extra, 0u);
  EXPECT_FALSE(back.maybe.has_value());
  EXPECT_EQ(back.items[0].weight, 0.0);
}

}  // namespace
