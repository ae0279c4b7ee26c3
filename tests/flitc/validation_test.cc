// Views reject malformed messages before any field is read: truncation,
// references out of bounds, bad bool and presence bytes, absurd list counts,
// overlapping references, deep nesting. And random corruption never makes a
// validated view read out of bounds (run under ASan to make that a crash).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "all_types.flit.h"
#include "flit/wire/endian.h"
#include "hostile.flit.h"
#include "test_util.h"

namespace {

using flit::wire::load_le;
using flit::wire::store_le;
using flit_test::Everything;
using flit_test::EverythingView;
using flit_test::Inner;
using flit_test::InnerView;
using flit_test_util::encode;

bool valid_everything(const std::vector<uint8_t>& b) {
  EverythingView v;
  return EverythingView::parse(b, &v) == flit::Status::kOk;
}

bool valid_inner(const std::vector<uint8_t>& b) {
  InnerView v;
  return InnerView::parse(b, &v) == flit::Status::kOk;
}

// Inner's layout: id @0 u32 at 0, name @1 ref at 4, tags @2 ref at 12; the
// root block starts after the 4-byte header.
constexpr uint32_t kName = 4 + 4;
constexpr uint32_t kTags = 4 + 12;

TEST(Validation, AcceptsWellFormed) {
  Inner in{1, "name", {"a", "b"}};
  EXPECT_TRUE(valid_inner(encode(in)));
}

TEST(Validation, RejectsTruncatedMessages) {
  Inner in{1, "name", {"a", "bb"}};
  std::vector<uint8_t> b = encode(in);
  for (size_t n = 0; n < b.size(); ++n) {
    std::vector<uint8_t> t(b.begin(), b.begin() + n);
    EXPECT_FALSE(valid_inner(t)) << "accepted a message cut to " << n << " bytes";
  }
}

TEST(Validation, ShortRootBlockMeansAbsentFields) {
  // A root block of 4 bytes holds only `id`: name and tags are absent.
  std::vector<uint8_t> b(8);
  store_le<uint32_t>(b.data(), 4);
  store_le<uint32_t>(b.data() + 4, 99);
  InnerView v;
  ASSERT_EQ(InnerView::parse(b, &v), flit::Status::kOk);
  EXPECT_EQ(v.id(), 99u);
  EXPECT_EQ(v.name(), "");
  EXPECT_EQ(v.tags().size(), 0u);
}

TEST(Validation, RejectsReferencesOutOfBounds) {
  std::vector<uint8_t> b = encode(Inner{1, "name", {}});
  uint32_t off = load_le<uint32_t>(&b[kName]);
  std::vector<uint8_t> t = b;
  store_le<uint32_t>(&t[kName], static_cast<uint32_t>(b.size()));  // offset at the end
  EXPECT_FALSE(valid_inner(t));
  t = b;
  store_le<uint32_t>(&t[kName + 4], 5);  // one byte too long
  EXPECT_FALSE(valid_inner(t));
  t = b;
  store_le<uint32_t>(&t[kName], 0xFFFFFFFF);  // offset + length wraps in 32 bits
  EXPECT_FALSE(valid_inner(t));
  t = b;
  store_le<uint32_t>(&t[kName], off - 1);  // shifted inside: still valid
  EXPECT_TRUE(valid_inner(t));
}

TEST(Validation, RejectsHugeListCounts) {
  std::vector<uint8_t> b = encode(Inner{1, "", {"x"}});
  std::vector<uint8_t> t = b;
  store_le<uint32_t>(&t[kTags + 4], 0x20000000);  // 2^29 refs of 8 bytes: wraps 32 bits
  EXPECT_FALSE(valid_inner(t));
  t = b;
  store_le<uint32_t>(&t[kTags + 4], 0xFFFFFFFF);
  EXPECT_FALSE(valid_inner(t));
}

TEST(Validation, RejectsBadBoolAndPresenceBytes) {
  Everything e;
  e.bools = {true, false};
  std::vector<uint8_t> b = encode(e);
  ASSERT_TRUE(valid_everything(b));

  // The scalars block: its first byte is the bool `b`.
  uint32_t scalars_off = load_le<uint32_t>(&b[4]);
  std::vector<uint8_t> t = b;
  t[scalars_off] = 2;
  EXPECT_FALSE(valid_everything(t));

  // An element of list<bool>.
  t = b;
  bool changed = false;
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    // Find the two-byte run {1, 0} of the bool list after the fixed part.
    if (i > 4 + Everything::kFixedSize && t[i] == 1 && t[i + 1] == 0) {
      t[i] = 7;
      changed = true;
      break;
    }
  }
  ASSERT_TRUE(changed);
  EXPECT_FALSE(valid_everything(t));

  // The presence byte of opt_u32 (field @13).
  size_t presence = 4 + 8 /*scalars*/ + 8 + 8 + 8 + 8 + 8 * 8 /*@5..@12 lists*/;
  t = b;
  ASSERT_EQ(t[presence], 0);
  t[presence] = 1;
  EXPECT_TRUE(valid_everything(t));
  t[presence] = 2;
  EXPECT_FALSE(valid_everything(t));
}

TEST(Validation, RejectsReferencesThatReachMoreBytesThanTheMessageHas) {
  // Many references to the same bytes would let a small message cost a
  // large amount of validation and reading. The blocks reached may not sum
  // to more than the message size.
  std::vector<uint8_t> b = encode(Inner{1, "", {std::string(24, 'x'), ""}});
  ASSERT_TRUE(valid_inner(b));
  uint32_t refs = load_le<uint32_t>(&b[kTags]);
  std::vector<uint8_t> t = b;
  store_le<uint32_t>(&t[refs + 8], load_le<uint32_t>(&t[refs]));
  store_le<uint32_t>(&t[refs + 12], 24);  // tags[1] aliases tags[0]
  EXPECT_FALSE(valid_inner(t));
  // Aliases within the budget are accepted: readers do not require
  // disjoint blocks, only bounded work.
  store_le<uint32_t>(&t[refs + 4], 20);
  store_le<uint32_t>(&t[refs + 12], 4);
  EXPECT_TRUE(valid_inner(t));
}

TEST(Validation, AbsentOptionalIsNotValidatedNorRead) {
  Everything e;
  std::vector<uint8_t> b = encode(e);
  // opt_text (@14) is absent; garbage in its reference slot is ignored.
  size_t presence = 4 + 8 * 5 + 8 * 8 + 5;
  std::vector<uint8_t> t = b;
  ASSERT_EQ(t[presence], 0);
  store_le<uint32_t>(&t[presence + 1], 0xFFFFFF00);
  store_le<uint32_t>(&t[presence + 5], 1000);
  EverythingView v;
  ASSERT_EQ(EverythingView::parse(t, &v), flit::Status::kOk);
  EXPECT_EQ(v.opt_text(), "");
  t[presence] = 1;
  EXPECT_FALSE(valid_everything(t));
}

TEST(Validation, RejectsOversizedRootHeader) {
  std::vector<uint8_t> b = encode(Inner{});
  store_le<uint32_t>(b.data(), 0xFFFFFFFF);
  EXPECT_FALSE(valid_inner(b));
  EXPECT_FALSE(valid_inner({}));
  EXPECT_FALSE(valid_inner({1, 0, 0}));
}

// Reads every field of a validated view; under ASan an out-of-bounds read
// is a crash.
size_t touch(const EverythingView& v) {
  size_t n = v.text().size() + v.data().size() + v.inner().name().size() + v.point().label().size();
  for (auto s : v.inner().tags()) n += s.size();
  for (bool x : v.bools()) n += x;
  for (auto x : v.i16s()) n += static_cast<size_t>(x);
  for (auto x : v.u64s()) n += x;
  for (auto s : v.strings()) n += s.size();
  for (auto s : v.blobs()) n += s.size();
  for (auto in : v.inners()) {
    n += in.id() + in.name().size();
    for (auto s : in.tags()) n += s.size();
  }
  n += v.opt_text().size() + v.opt_inner().name().size() + v.opt_list().size();
  for (auto s : v.opt_inner().tags()) n += s.size();
  return n + v.scalars().u64v();
}

TEST(Validation, RandomCorruptionIsRejectedOrSafe) {
  Everything e;
  e.text = "text";
  e.inner = {1, "in", {"x", "yy"}};
  e.strings = {"a", "bc"};
  e.inners = {{1, "1", {"t"}}, {2, "22", {}}};
  e.opt_inner = Inner{3, "3", {"z"}};
  e.bools = {true};
  std::vector<uint8_t> b = encode(e);
  std::mt19937 rng(12345);
  size_t accepted = 0, checksum = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> t = b;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) t[rng() % t.size()] = static_cast<uint8_t>(rng());
    if (rng() % 8 == 0) t.resize(rng() % t.size());
    EverythingView v;
    if (EverythingView::parse(t, &v) == flit::Status::kOk) {
      ++accepted;
      checksum += touch(v);
      Everything d;
      EXPECT_EQ(Everything::decode(t, &d), flit::Status::kOk);
    }
  }
  EXPECT_GT(accepted, 0u);  // some corruptions only change values
  (void)checksum;
}

// Many references to one zero-stride list header, each claiming as many
// elements as the message has bytes: before the fix each cost 4 bytes of
// budget and a loop over 64 Ki elements, 3.6 * 10^8 element checks for a
// 64 KiB message (and decode() would allocate as many elements), and the
// message was accepted. Zero-stride elements in all lists together may not
// outnumber the message's bytes.
TEST(Validation, ZeroStrideElementsAreBoundedByTheMessageSize) {
  constexpr uint32_t kSize = 64 << 10;
  constexpr uint32_t kItems = (kSize - 20) / 12;  // what the old budget allowed
  std::vector<uint8_t> m(kSize, 0);
  const uint32_t flags_hdr = 16 + 8 * kItems;  // the one shared header, stride 0
  store_le<uint32_t>(&m[0], 8);                // root block: items
  store_le<uint32_t>(&m[4], 12);
  store_le<uint32_t>(&m[8], kItems);
  store_le<uint32_t>(&m[12], 8);  // items' stride: an Item is one reference
  for (uint32_t i = 0; i < kItems; ++i) {
    store_le<uint32_t>(&m[16 + 8 * i], flags_hdr);
    store_le<uint32_t>(&m[16 + 8 * i + 4], kSize);
  }
  flit_hostile::ItemsView v;
  EXPECT_EQ(flit_hostile::ItemsView::parse(m, &v), flit::Status::kInvalidArgument);
  flit_hostile::Items d;
  EXPECT_EQ(flit_hostile::Items::decode(m, &d), flit::Status::kInvalidArgument);

  // A zero-stride list whose elements fit the budget is still accepted (an
  // older writer's list of empty structs): 3 elements of no bytes.
  for (uint32_t i = 0; i < kItems; ++i) store_le<uint32_t>(&m[16 + 8 * i + 4], 3);
  store_le<uint32_t>(&m[8], 1);
  ASSERT_EQ(flit_hostile::ItemsView::parse(m, &v), flit::Status::kOk);
  ASSERT_EQ(v.items().size(), 1u);
  EXPECT_EQ(v.items()[0].flags().size(), 3u);
  EXPECT_FALSE(v.items()[0].flags()[2].k());
}

// A list of empty structs as writers before stride 1 wrote it: stride 0,
// the message exactly its blocks. Still valid (and its count still bounded
// by the message size).
TEST(Validation, OlderWritersZeroStrideListOfEmptyStructsIsAccepted) {
  // HasEmpty: e @0 (ref), es @1 (ref), after @2 (u8): a 17-byte root block,
  // then the list's 4-byte stride header.
  std::vector<uint8_t> m(4 + 17 + 4, 0);
  store_le<uint32_t>(&m[0], 17);
  store_le<uint32_t>(&m[4 + 8], 21);  // es: offset 21, count 3, stride 0
  store_le<uint32_t>(&m[4 + 12], 3);
  m[4 + 16] = 7;  // after
  flit_test::HasEmptyView v;
  ASSERT_EQ(flit_test::HasEmptyView::parse(m, &v), flit::Status::kOk);
  EXPECT_EQ(v.es().size(), 3u);
  EXPECT_EQ(v.after(), 7);
  flit_test::HasEmpty d;
  ASSERT_EQ(flit_test::HasEmpty::decode(m, &d), flit::Status::kOk);
  EXPECT_EQ(d.es.size(), 3u);
  store_le<uint32_t>(&m[4 + 12], 26);  // more elements than the message has bytes
  EXPECT_EQ(flit_test::HasEmptyView::parse(m, &v), flit::Status::kInvalidArgument);
}

// An absent nested struct has only absent fields: validation does not walk
// its schema. Before the fix, an all-absent L12 walked 2^13 - 1 struct
// blocks (a schema 40 levels deep, 2^41 - 1: one message hung a server).
TEST(Validation, AbsentNestedStructsAreNotWalked) {
  std::vector<uint8_t> m(4 + 16, 0);  // L12's root block: two zero references
  m[0] = 16;
  flit::wire::Validator v(m);
  flit::wire::StructReader r;
  ASSERT_TRUE(v.root(&r));
  ASSERT_TRUE(flit_hostile::L12View::validate(v, r, 0));
  EXPECT_EQ(v.structs_walked(), 1u);  // the root only
  flit_hostile::L12View view;
  ASSERT_EQ(flit_hostile::L12View::parse(m, &view), flit::Status::kOk);
  EXPECT_EQ(view.a().a().a().a().a().a().a().a().a().a().a().b().x(), 0);

  // Present ones are walked, each charged to the budget: the owning type
  // writes every nested struct, 2^13 - 1 blocks.
  flit_hostile::L12 l;
  l.a.a.a.a.a.a.a.a.a.a.a.b.x = 5;
  m = encode(l);
  flit::wire::Validator v2(m);
  ASSERT_TRUE(v2.root(&r));
  ASSERT_TRUE(flit_hostile::L12View::validate(v2, r, 0));
  EXPECT_EQ(v2.structs_walked(), (1u << 13) - 1);
  ASSERT_EQ(flit_hostile::L12View::parse(m, &view), flit::Status::kOk);
  EXPECT_EQ(view.a().a().a().a().a().a().a().a().a().a().a().b().x(), 5);
}

// An optional field is its presence byte and its value: one that only
// partly fits in the block is absent (wire-format.md), whatever its
// presence byte says.
TEST(Validation, OptionalThatOnlyPartlyFitsIsAbsent) {
  std::vector<uint8_t> m = {3, 0, 0, 0, 1, 0x2a, 0};  // presence, 2 of 4 value bytes
  flit_hostile::OptView v;
  ASSERT_EQ(flit_hostile::OptView::parse(m, &v), flit::Status::kOk);
  EXPECT_FALSE(v.has_o());
  EXPECT_EQ(v.o(), 0u);
  m[4] = 7;  // not a valid presence byte, but not part of a field either
  EXPECT_EQ(flit_hostile::OptView::parse(m, &v), flit::Status::kOk);
  // Whole, the same bytes are checked and read.
  m = {5, 0, 0, 0, 1, 0x2a, 0, 0, 0};
  ASSERT_EQ(flit_hostile::OptView::parse(m, &v), flit::Status::kOk);
  EXPECT_TRUE(v.has_o());
  EXPECT_EQ(v.o(), 42u);
  m[4] = 7;
  EXPECT_EQ(flit_hostile::OptView::parse(m, &v), flit::Status::kInvalidArgument);
}

}  // namespace
