// Round trips of every IDL type through the generated code: owning types
// (encode/decode), builders (in place) and views (in place), with empty and
// large strings and lists, nested structs, and optional fields present and
// absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "all_types.flit.h"
#include "odd_names.flit.h"
#include "test_util.h"

namespace {

using flit_test::Everything;
using flit_test::EverythingBuilder;
using flit_test::EverythingView;
using flit_test::Inner;
using flit_test::Level;
using flit_test::Scalars;
using flit_test::ScalarsView;
using flit_test::common::Color;
using flit_test_util::decode;
using flit_test_util::encode;

Scalars max_scalars() {
  Scalars s;
  s.b = true;
  s.i8v = std::numeric_limits<int8_t>::min();
  s.i16v = std::numeric_limits<int16_t>::min();
  s.i32v = std::numeric_limits<int32_t>::min();
  s.i64v = std::numeric_limits<int64_t>::min();
  s.u8v = 0xFF;
  s.u16v = 0xFFFF;
  s.u32v = 0xFFFFFFFF;
  s.u64v = ~uint64_t{0};
  s.f32v = -1.5e-38f;
  s.f64v = 6.02214076e23;
  s.level = Level::kLow;
  s.color = Color::kDeepBlue;
  return s;
}

Everything full() {
  Everything e;
  e.scalars = max_scalars();
  e.text = "héllo, wörld";
  e.data = {0, 1, 2, 0xFF, 0x80};
  e.inner = {7, "inner", {"a", "", "ccc"}};
  e.point = {-3, 4, "pt"};
  e.bools = {true, false, true, true};
  e.i16s = {-1, 0, 32767, -32768};
  e.u64s = {0, 1, ~uint64_t{0}};
  e.f64s = {0.0, -0.0, 1e308, std::numeric_limits<double>::infinity()};
  e.levels = {Level::kHigh, Level::kLow, Level::kMid};
  e.strings = {"", "x", std::string(1000, 'y')};
  e.blobs = {{}, {1}, {2, 3}};
  e.inners = {{1, "one", {}}, {2, "two", {"t"}}, {}};
  e.opt_u32 = 0;  // present, with the value that equals the default
  e.opt_text = "";
  e.opt_inner = Inner{9, "opt", {"o"}};
  e.opt_list = std::vector<int32_t>{5, -5};
  e.opt_bool = false;
  e.colors = {Color::kRed, Color::kGreen};
  return e;
}

TEST(RoundTrip, EveryTypeThroughOwningTypes) {
  Everything e = full();
  std::vector<uint8_t> bytes = encode(e);
  ASSERT_EQ(bytes.size(), e.encoded_size());
  bool ok = false;
  Everything d = decode<Everything>(bytes, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(d, e);
  // Decoding and encoding again gives the same bytes: the encoding is
  // deterministic.
  EXPECT_EQ(encode(d), bytes);
}

TEST(RoundTrip, DefaultsEncodeAndDecode) {
  Everything e;
  std::vector<uint8_t> bytes = encode(e);
  // Nested structs are always present: Scalars, Inner and Point blocks.
  EXPECT_EQ(bytes.size(), 4 + Everything::kFixedSize + Scalars::kFixedSize + Inner::kFixedSize +
                              flit_test::common::Point::kFixedSize);
  bool ok = false;
  Everything d = decode<Everything>(bytes, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(d, e);
  EXPECT_FALSE(d.opt_u32.has_value());
  EXPECT_FALSE(d.opt_text.has_value());
  EXPECT_FALSE(d.opt_inner.has_value());
  EXPECT_FALSE(d.opt_list.has_value());
  EXPECT_FALSE(d.opt_bool.has_value());
}

TEST(RoundTrip, ViewReadsInPlace) {
  Everything e = full();
  std::vector<uint8_t> bytes = encode(e);
  EverythingView v;
  ASSERT_EQ(EverythingView::parse(bytes, &v), flit::Status::kOk);
  EXPECT_EQ(v.scalars().u64v(), ~uint64_t{0});
  EXPECT_EQ(v.scalars().i8v(), -128);
  EXPECT_EQ(v.scalars().level(), Level::kLow);
  EXPECT_EQ(v.scalars().color(), Color::kDeepBlue);
  EXPECT_TRUE(v.scalars().b());
  EXPECT_EQ(v.text(), "héllo, wörld");
  // Zero copy: the string points into the message.
  EXPECT_GE(v.text().data(), reinterpret_cast<const char*>(bytes.data()));
  EXPECT_LT(v.text().data(), reinterpret_cast<const char*>(bytes.data() + bytes.size()));
  ASSERT_EQ(v.data().size(), 5u);
  EXPECT_EQ(v.data()[3], 0xFF);
  EXPECT_EQ(v.inner().tags().size(), 3u);
  EXPECT_EQ(v.inner().tags()[2], "ccc");
  EXPECT_EQ(v.point().x(), -3);
  ASSERT_EQ(v.bools().size(), 4u);
  EXPECT_FALSE(v.bools()[1]);
  std::vector<int16_t> i16s;
  for (int16_t x : v.i16s()) i16s.push_back(x);
  EXPECT_EQ(i16s, e.i16s);
  EXPECT_TRUE(std::signbit(v.f64s()[1]));
  EXPECT_EQ(v.levels()[0], Level::kHigh);
  EXPECT_EQ(v.strings()[2].size(), 1000u);
  EXPECT_EQ(v.blobs()[2].size(), 2u);
  ASSERT_EQ(v.inners().size(), 3u);
  EXPECT_EQ(v.inners()[1].name(), "two");
  EXPECT_EQ(v.inners()[1].tags()[0], "t");
  EXPECT_TRUE(v.has_opt_u32());
  EXPECT_EQ(v.opt_u32(), 0u);
  EXPECT_TRUE(v.has_opt_text());
  EXPECT_TRUE(v.has_opt_inner());
  EXPECT_EQ(v.opt_inner().name(), "opt");
  EXPECT_TRUE(v.has_opt_list());
  EXPECT_EQ(v.opt_list()[1], -5);
  EXPECT_TRUE(v.has_opt_bool());
  EXPECT_FALSE(v.opt_bool());
  EXPECT_EQ(v.colors()[1], Color::kGreen);
}

TEST(RoundTrip, OptionalAbsentReadsDefault) {
  Everything e;
  std::vector<uint8_t> bytes = encode(e);
  EverythingView v;
  ASSERT_EQ(EverythingView::parse(bytes, &v), flit::Status::kOk);
  EXPECT_FALSE(v.has_opt_u32());
  EXPECT_EQ(v.opt_u32(), 0u);
  EXPECT_FALSE(v.has_opt_text());
  EXPECT_EQ(v.opt_text(), "");
  EXPECT_FALSE(v.has_opt_inner());
  EXPECT_EQ(v.opt_inner().id(), 0u);
  EXPECT_EQ(v.opt_list().size(), 0u);
}

TEST(RoundTrip, EmptyStringsAndListsAreReferencedAsZero) {
  flit_test::Inner in;  // empty name, empty tags
  std::vector<uint8_t> bytes = encode(in);
  // header + id + two references, nothing after.
  ASSERT_EQ(bytes.size(), 4u + 4 + 8 + 8);
  for (size_t i = 8; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(RoundTrip, LargeStringsAndLists) {
  Everything e;
  e.text.assign(1 << 20, 'z');
  e.data.assign(3 << 20, 0xAB);
  e.u64s.resize(100000);
  for (size_t i = 0; i < e.u64s.size(); ++i) e.u64s[i] = i * 0x0101010101010101u;
  e.inners.resize(10000);
  for (size_t i = 0; i < e.inners.size(); ++i) e.inners[i].id = static_cast<uint32_t>(i);
  e.strings.assign(5000, "s");
  std::vector<uint8_t> bytes = encode(e);
  ASSERT_FALSE(bytes.empty());
  bool ok = false;
  EXPECT_EQ(decode<Everything>(bytes, &ok), e);
  EXPECT_TRUE(ok);
}

TEST(RoundTrip, MaximumLengthStringFitsExactly) {
  // The largest string a message can carry in a buffer of a given capacity
  // encodes; one byte more fails cleanly.
  const size_t cap = 4096;
  flit_test::Inner in;
  size_t overhead = in.encoded_size();
  in.name.assign(cap - overhead, 'm');
  std::vector<uint8_t> buf(cap);
  size_t written = 0;
  ASSERT_EQ(in.encode(buf, &written), flit::Status::kOk);
  EXPECT_EQ(written, cap);
  EXPECT_EQ(decode<Inner>({buf.data(), written}).name.size(), cap - overhead);
  in.name.push_back('m');
  EXPECT_EQ(in.encode(buf, &written), flit::Status::kResourceExhausted);
  EXPECT_EQ(written, 0u);
}

TEST(RoundTrip, MaximumLengthListsFitExactly) {
  // As above for lists of scalars, of strings and of structs: the longest
  // list that fits a buffer encodes, one element more fails cleanly.
  const size_t cap = 8192;
  std::vector<uint8_t> buf(cap);
  size_t written = 0;

  Everything e;
  size_t room = cap - e.encoded_size();
  e.u64s.assign(room / 8, 0x8877665544332211u);
  e.bools.assign(room % 8, true);
  ASSERT_EQ(e.encoded_size(), cap);
  ASSERT_EQ(e.encode(buf, &written), flit::Status::kOk);
  EXPECT_EQ(written, cap);
  EXPECT_EQ(decode<Everything>(buf), e);
  e.bools.push_back(false);
  EXPECT_EQ(e.encode(buf, &written), flit::Status::kResourceExhausted);

  Everything s;
  room = cap - s.encoded_size();
  s.strings.assign(room / 8, "");  // each element: one 8-byte reference
  s.text.assign(room % 8, 't');
  ASSERT_EQ(s.encoded_size(), cap);
  ASSERT_EQ(s.encode(buf, &written), flit::Status::kOk);
  EXPECT_EQ(decode<Everything>(buf), s);
  s.strings.push_back("");
  EXPECT_EQ(s.encode(buf, &written), flit::Status::kResourceExhausted);

  Everything l;
  room = cap - l.encoded_size() - flit::wire::kStructListHeaderSize;
  l.inners.resize(room / Inner::kFixedSize);
  l.text.assign(room % Inner::kFixedSize, 'u');
  ASSERT_EQ(l.encoded_size(), cap);
  ASSERT_EQ(l.encode(buf, &written), flit::Status::kOk);
  EXPECT_EQ(decode<Everything>(buf), l);
  l.inners.emplace_back();
  EXPECT_EQ(l.encode(buf, &written), flit::Status::kResourceExhausted);
}

TEST(Builder, WritesInPlaceAndMatchesOwningEncoding) {
  Everything e = full();
  std::vector<uint8_t> expected = encode(e);

  flit_test_util::FixedBuffer buf(expected.size());
  flit::wire::Writer w(buf);
  e.build(EverythingBuilder::init_root(w));
  ASSERT_EQ(w.finish(buf), flit::Status::kOk);
  EXPECT_EQ(std::vector<uint8_t>(buf.span().begin(), buf.span().end()), expected);
}

TEST(Builder, ByHand) {
  flit_test_util::FixedBuffer buf(512);
  flit::wire::Writer w(buf);
  auto b = EverythingBuilder::init_root(w);
  auto s = b.init_scalars();
  s.set_u32v(42);
  s.set_color(Color::kGreen);
  b.set_text("hand");
  auto l = b.init_i16s(3);
  l.set(0, 1);
  l.set(2, -1);
  auto inners = b.init_inners(2);
  inners[1].set_name("second");
  auto tags = inners[1].init_tags(1);
  tags.set(0, std::string_view("tag"));
  b.set_opt_u32(77);
  ASSERT_EQ(w.finish(buf), flit::Status::kOk);

  EverythingView v;
  ASSERT_EQ(EverythingView::parse(buf.span(), &v), flit::Status::kOk);
  EXPECT_EQ(v.scalars().u32v(), 42u);
  EXPECT_EQ(v.scalars().color(), Color::kGreen);
  EXPECT_EQ(v.text(), "hand");
  ASSERT_EQ(v.i16s().size(), 3u);
  EXPECT_EQ(v.i16s()[1], 0);
  EXPECT_EQ(v.i16s()[2], -1);
  EXPECT_EQ(v.inners()[0].name(), "");
  EXPECT_EQ(v.inners()[1].name(), "second");
  EXPECT_EQ(v.inners()[1].tags()[0], "tag");
  EXPECT_EQ(v.opt_u32(), 77u);
  EXPECT_FALSE(v.has_opt_text());
  EXPECT_EQ(v.point().label(), "");  // never initialized: absent, reads default
}

TEST(Builder, CapacityExceededFailsCleanly) {
  for (size_t cap = 0; cap < 64; ++cap) {
    std::vector<uint8_t> mem(cap + 16, 0xEE);
    flit::wire::Writer w(std::span<uint8_t>(mem.data(), cap));
    auto b = EverythingBuilder::init_root(w);
    b.set_text(std::string(40, 't'));
    auto l = b.init_u64s(4);
    l.set(3, 9);
    b.init_inners(2)[1].set_name("n");
    EXPECT_EQ(w.finish(), flit::Status::kResourceExhausted) << cap;
    for (size_t i = cap; i < mem.size(); ++i) ASSERT_EQ(mem[i], 0xEE) << "wrote past capacity";
  }
}

TEST(Builder, OutOfRangeListIndexFailsTheMessage) {
  std::vector<uint8_t> mem(256);
  flit::wire::Writer w(mem);
  auto b = EverythingBuilder::init_root(w);
  auto l = b.init_u64s(2);
  l.set(2, 1);
  EXPECT_EQ(w.finish(), flit::Status::kResourceExhausted);
}

TEST(Builder, EncodeIntoResizableBuffer) {
  Everything e = full();
  flit_test_util::FixedBuffer small(16), big(e.encoded_size() + 100);
  EXPECT_EQ(e.encode(small), flit::Status::kResourceExhausted);
  ASSERT_EQ(e.encode(big), flit::Status::kOk);
  EXPECT_EQ(big.size(), e.encoded_size());
}

// std::vector is not a ResizableBuffer (its resize() would zero the
// message); it is written through as a span of its size instead.
static_assert(flit::wire::ResizableBuffer<flit_test_util::FixedBuffer>);
static_assert(!flit::wire::ResizableBuffer<std::vector<uint8_t>>);

// A list of empty structs is written with stride 1, a byte per element, so
// that its count is bounded by its bytes like every other list's; with
// stride 0 a list of more elements than the message has bytes was written
// and then rejected by its own reader.
TEST(RoundTrip, EmptyStructsAndListsOfThem) {
  for (size_t n : {size_t{3}, size_t{1000}}) {
    flit_test::HasEmpty h;
    h.es.resize(n);
    h.after = 200;
    std::vector<uint8_t> bytes = encode(h);
    ASSERT_EQ(bytes.size(), h.encoded_size());
    bool ok = false;
    auto d = decode<flit_test::HasEmpty>(bytes, &ok);
    ASSERT_TRUE(ok) << n << " empty structs";
    EXPECT_EQ(d.es.size(), n);
    EXPECT_EQ(d.after, 200);
  }
}

TEST(RoundTrip, FieldNamesThatShadowGeneratedIdentifiers) {
  odd_names::Weird w;
  w.v = 1;
  w.r = "r";
  w.n = {1, 2};
  w.w = {"w"};
  w.l.resize(2);
  w.l[1].v = 3;
  w.i = {{4}};
  w.b.emplace(1);
  w.out = {5};
  w.st = "st";
  w.depth = {true, false};
  w.msg = odd_names::Inner{6};
  w.count = 7;
  w.pos = 8;  // documented by comment lines ending in a backslash
  bool ok = false;
  odd_names::Weird d = decode<odd_names::Weird>(encode(w), &ok);
  EXPECT_EQ(d, w);
  EXPECT_TRUE(ok);
  odd_names::WeirdView v;
  std::vector<uint8_t> bytes = encode(w);
  ASSERT_EQ(odd_names::WeirdView::parse(bytes, &v), flit::Status::kOk);
  EXPECT_EQ(v.pos(), 8);
}

TEST(RoundTrip, FloatBitPatternsSurvive) {
  Scalars s;
  s.f64v = std::numeric_limits<double>::quiet_NaN();
  s.f32v = std::numeric_limits<float>::denorm_min();
  std::vector<uint8_t> bytes = encode(s);
  Scalars d = decode<Scalars>(bytes);
  EXPECT_TRUE(std::isnan(d.f64v));
  EXPECT_EQ(d.f32v, std::numeric_limits<float>::denorm_min());
}

}  // namespace
