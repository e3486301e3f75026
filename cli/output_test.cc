// Unit tests of raftlogctl's output formatting (cli/output.h).
#include "cli/output.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::cli {
namespace {

TEST(Table, AlignsColumnsWithoutTrailingSpaces) {
  Table t({"A", "LONGER"});
  t.AddRow({"xyz", "1"});
  t.AddRow({"é", ""});  // one display column, two bytes
  t.AddRow({"only"});
  EXPECT_EQ(t.Render(),
            "A     LONGER\n"
            "xyz   1\n"
            "é\n"
            "only\n");
  EXPECT_EQ(t.rows(), 3u);
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\x01", 3)), "/wAB");
  EXPECT_EQ(HexEncode(std::string("\x01\xab", 2)), "01ab");
}

TEST(Cell, EscapesControlAndInvalidBytes) {
  EXPECT_EQ(Cell("ok é"), "ok é");
  EXPECT_EQ(Cell("a\nb\tc"), "a\\nb\\tc");
  EXPECT_EQ(Cell(std::string("\x1b[31m\xff", 6)), "\\x1b[31m\\xff");
}

TEST(RecordJson, TextBinaryAndNull) {
  client::ConsumerRecord r;
  r.topic = "t";
  r.partition = 2;
  r.offset = 7;
  r.timestamp_ms = 1700000000000;
  r.key = std::nullopt;
  r.value = std::string("\x00\xff", 2);
  r.headers = {{"h", std::string("v")}, {"h", std::nullopt}};
  Json j = RecordJson(r);
  const std::string line = j.dump();
  EXPECT_EQ(line, R"({"topic":"t","partition":2,"offset":7,"timestamp":1700000000000,"key":null,)"
                  R"("value":"AP8=","value_encoding":"base64","headers":[{"key":"h","value":"v"},)"
                  R"({"key":"h","value":null}]})");
  // Round trip through a parser: valid JSON.
  EXPECT_EQ(Json::parse(line)["value_encoding"], "base64");
  r.key = "k";
  r.value = "héllo";
  j = RecordJson(r);
  EXPECT_EQ(j["key"], "k");
  EXPECT_EQ(j["value"], "héllo");
  EXPECT_FALSE(j.contains("value_encoding"));
}

TEST(RecordText, Fields) {
  client::ConsumerRecord r;
  r.partition = 1;
  r.offset = 5;
  r.timestamp_ms = 9;
  r.key = "k";
  r.value = "v";
  r.headers = {{"a", std::string("1")}};
  TextRecordOptions o;
  EXPECT_EQ(RecordText(r, o), "v");
  o.print_key = true;
  EXPECT_EQ(RecordText(r, o), "k\tv");
  o.print_partition = o.print_offset = o.print_timestamp = o.print_headers = true;
  o.separator = " ";
  EXPECT_EQ(RecordText(r, o), "CreateTime:9 Partition:1 Offset:5 a:1 k v");
  r.key.reset();
  r.value.reset();
  o = TextRecordOptions{};
  o.print_key = true;
  EXPECT_EQ(RecordText(r, o), "null\tnull");
}

TEST(Ids, JoinAndArray) {
  EXPECT_EQ(JoinIds({}), "-");
  EXPECT_EQ(JoinIds({1, 2, 3}), "1,2,3");
  EXPECT_EQ(IdArray({3, 1}).dump(), "[3,1]");
}

}  // namespace
}  // namespace raftlog::cli
