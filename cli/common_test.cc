// Unit tests of raftlogctl's common flag parsers (cli/common.h).
#include "cli/common.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseBrokerList, SplitsTrimsAndValidates) {
  absl::StatusOr<std::vector<std::string>> b = ParseBrokerList(" a:1, 127.0.0.1:7002,,[::1]:9 ");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(*b, ElementsAre("a:1", "127.0.0.1:7002", "[::1]:9"));
  EXPECT_FALSE(ParseBrokerList("").ok());
  EXPECT_FALSE(ParseBrokerList(",,").ok());
  EXPECT_THAT(std::string(ParseBrokerList("a:1,nohost").status().message()), HasSubstr("nohost"));
  EXPECT_FALSE(ParseBrokerList(":7001").ok());
  EXPECT_FALSE(ParseBrokerList("a:0").ok());
  EXPECT_FALSE(ParseBrokerList("a:65536").ok());
  EXPECT_FALSE(ParseBrokerList("a:x").ok());
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(*ParseDuration("1500"), std::chrono::milliseconds(1500));
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("10s"), std::chrono::milliseconds(10000));
  EXPECT_EQ(*ParseDuration("2m"), std::chrono::milliseconds(120000));
  EXPECT_FALSE(ParseDuration("0").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("5h").ok());
}

TEST(ParseKeyValue, KeyRequiredValueFree) {
  EXPECT_EQ(*ParseKeyValue("a=b"), std::make_pair(std::string("a"), std::string("b")));
  EXPECT_EQ(*ParseKeyValue("a="), std::make_pair(std::string("a"), std::string()));
  EXPECT_EQ(*ParseKeyValue("a=b=c"), std::make_pair(std::string("a"), std::string("b=c")));
  EXPECT_FALSE(ParseKeyValue("=b").ok());
  EXPECT_FALSE(ParseKeyValue("ab").ok());
  absl::StatusOr<std::map<std::string, std::string>> m = ParseKeyValues({"x=1", "y=2", "x=3"});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->at("x"), "3");
  EXPECT_EQ(m->at("y"), "2");
}

TEST(ResolveEnv, FlagOverEnvOverDefault) {
  GlobalFlags f;
  absl::StatusOr<Env> e = ResolveEnv(f, nullptr);
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->brokers, ElementsAre("127.0.0.1:7001"));
  EXPECT_EQ(e->format, Format::kTable);
  EXPECT_EQ(e->timeout, std::chrono::milliseconds(10000));
  e = ResolveEnv(f, "h:1,h:2");
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->brokers, ElementsAre("h:1", "h:2"));
  f.brokers = "x:9";
  f.format = "json";
  f.timeout = "2s";
  e = ResolveEnv(f, "h:1");
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->brokers, ElementsAre("x:9"));
  EXPECT_EQ(e->format, Format::kJson);
  EXPECT_EQ(e->timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(ResolveEnv(GlobalFlags{}, nullptr, Format::kText)->format, Format::kText);
  f.timeout = "soon";
  EXPECT_THAT(std::string(ResolveEnv(f, nullptr).status().message()), HasSubstr("--timeout"));
}

}  // namespace
}  // namespace raftlog::cli
