// Tests of raft::Payload: bytes are taken without a copy, shared by copies
// of a Payload (and of an Entry), compared by content, and never mutated.
#include "raft/payload.h"

#include <string>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "raft/types.h"

namespace raftlog::raft {
namespace {

// Longer than any small-string buffer, so a move keeps the heap buffer.
std::string Big(char c) { return std::string(4096, c); }

TEST(PayloadTest, DefaultIsEmpty) {
  Payload p;
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.view(), "");
  EXPECT_NE(p.data(), nullptr);
  EXPECT_EQ(p.shared(), nullptr);
  EXPECT_EQ(p, Payload(""));
  EXPECT_EQ(p, Payload(std::string()));
}

TEST(PayloadTest, MoveInTakesTheBufferWithoutCopying) {
  std::string s = Big('a');
  const char* bytes = s.data();
  Payload p(std::move(s));
  EXPECT_EQ(p.data(), bytes);
  EXPECT_EQ(p.size(), 4096u);
  EXPECT_EQ(p, Big('a'));
}

TEST(PayloadTest, ImplicitMoveInFromAStringTemporary) {
  std::string s = Big('b');
  const char* bytes = s.data();
  Entry e{Term(1), LogIndex(1), EntryType::kNormal, std::move(s)};
  EXPECT_EQ(e.data.data(), bytes);
  e.data = Big('c');
  EXPECT_EQ(e.data, Big('c'));
}

TEST(PayloadTest, CopiesShareTheBytes) {
  Payload p(Big('d'));
  Payload q = p;
  EXPECT_EQ(q.data(), p.data());
  EXPECT_TRUE(q.SharesWith(p));
  EXPECT_EQ(p.shared().use_count(), 2);

  Entry e{Term(1), LogIndex(1), EntryType::kNormal, p};
  std::vector<Entry> copies(3, e);
  for (const Entry& c : copies) EXPECT_EQ(c.data.data(), p.data());
  EXPECT_EQ(p.shared().use_count(), 6);
  copies.clear();
  EXPECT_EQ(p.shared().use_count(), 3);
}

TEST(PayloadTest, BytesOutliveTheOriginal) {
  Payload q;
  {
    Payload p(Big('e'));
    q = p;
  }
  EXPECT_EQ(q, Big('e'));
  EXPECT_EQ(q.shared().use_count(), 1);
}

TEST(PayloadTest, ViewAndLiteralsCopy) {
  const std::string s = Big('f');
  Payload p = Payload::Copy(s);
  EXPECT_NE(p.data(), s.data());
  EXPECT_EQ(p, s);
  Payload lit = "xyz";
  EXPECT_EQ(lit.size(), 3u);
  EXPECT_EQ(lit, "xyz");
  Payload sv = std::string_view("xyz");
  EXPECT_EQ(sv, lit);
  EXPECT_FALSE(sv.SharesWith(lit));
}

TEST(PayloadTest, EqualityIsByContent) {
  EXPECT_EQ(Payload("abc"), Payload("abc"));
  EXPECT_NE(Payload("abc"), Payload("abd"));
  EXPECT_NE(Payload("abc"), Payload("ab"));
  EXPECT_NE(Payload("abc"), Payload());
  EXPECT_EQ(Payload("abc"), std::string_view("abc"));
  EXPECT_EQ(Payload("abc"), std::string("abc"));
  EXPECT_EQ("abc", Payload("abc"));
  EXPECT_NE(Payload("abc"), "abcd");

  Entry a{Term(1), LogIndex(2), EntryType::kNormal, Payload("x")};
  Entry b{Term(1), LogIndex(2), EntryType::kNormal, Payload("x")};
  EXPECT_EQ(a, b);
  b.data = "y";
  EXPECT_NE(a, b);
}

TEST(PayloadTest, ReassigningDoesNotTouchSharedBytes) {
  Payload p(Big('g'));
  Payload q = p;
  q = Big('h');
  EXPECT_EQ(p, Big('g'));
  EXPECT_EQ(q, Big('h'));
  EXPECT_FALSE(p.SharesWith(q));
}

TEST(PayloadTest, ConvertsToStringView) {
  Payload p("hello");
  std::string_view v = p;
  EXPECT_EQ(v, "hello");
  EXPECT_EQ(p.ToString(), "hello");
  std::string appended = "say ";
  appended.append(p.view());
  EXPECT_EQ(appended, "say hello");
}

// No mutating access: the buffer is const.
static_assert(std::is_same_v<decltype(std::declval<Payload>().data()), const char*>);
static_assert(std::is_same_v<decltype(std::declval<Payload>().shared()),
                             const std::shared_ptr<const std::string>&>);
// Copying an lvalue string must be explicit (Payload::Copy).
static_assert(!std::is_convertible_v<std::string&, Payload>);
static_assert(std::is_convertible_v<std::string&&, Payload>);
static_assert(std::is_convertible_v<const char*, Payload>);

}  // namespace
}  // namespace raftlog::raft
