// Bytes: a view that keeps its buffer alive, and reads like a string.
#include "client/bytes.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace raftlog::client {
namespace {

TEST(BytesTest, ViewKeepsItsBufferAliveAfterTheOwnerIsDropped) {
  auto buffer = std::make_shared<std::string>("header|value-one|value-two");
  std::weak_ptr<std::string> watch = buffer;
  Bytes one(buffer, std::string_view(*buffer).substr(7, 9));
  Bytes two = Bytes(buffer, std::string_view(*buffer).substr(17));
  buffer.reset();
  EXPECT_FALSE(watch.expired());  // the Bytes hold it
  EXPECT_EQ(one, "value-one");
  EXPECT_EQ(two, std::string("value-two"));
  Bytes copy = one;
  one = Bytes();
  two = Bytes();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(copy.view(), "value-one");
  copy = Bytes();
  EXPECT_TRUE(watch.expired());
}

TEST(BytesTest, OwnsACopyOfAPlainString) {
  std::string s = "abc";
  Bytes b = s;
  s[0] = 'x';
  EXPECT_EQ(b, "abc");
  EXPECT_EQ(b.size(), 3u);
  const std::string binary("\x00\xff", 2);
  Bytes c = binary;
  EXPECT_EQ(c.str(), binary);
  EXPECT_EQ(Bytes().size(), 0u);
  EXPECT_TRUE(Bytes("").empty());
}

TEST(BytesTest, UsableWhereStringsAre) {
  std::optional<Bytes> v = Bytes("k1");
  EXPECT_EQ(v, std::string("k1"));
  std::map<std::string, int> seen;
  ++seen[*v];
  std::set<std::string> values;
  values.insert(*v);
  const std::string copied = *v;
  const std::string_view view = *v;
  EXPECT_EQ(seen.at("k1"), 1);
  EXPECT_TRUE(values.contains("k1"));
  EXPECT_EQ(copied, "k1");
  EXPECT_EQ(view, "k1");
  std::optional<Bytes> null;
  EXPECT_EQ(null.value_or("none"), "none");
  EXPECT_LT(Bytes("a"), Bytes("b"));
  EXPECT_EQ(::testing::PrintToString(Bytes("p")), "p");
}

}  // namespace
}  // namespace raftlog::client
