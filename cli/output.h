// Output formatting for raftlogctl: aligned tables for people, JSON for
// scripts, and the console consumer's record formats.
//
// BYTES IN JSON: keys, values and header values are arbitrary bytes. In
// JSON a field holds the bytes as a string when they are valid UTF-8;
// otherwise it holds their standard base64 (RFC 4648, padded) and a sibling
// field "<name>_encoding": "base64" says so (e.g. "value_encoding"). A
// missing (null) key or value is JSON null. So every line stays valid JSON
// (jq reads it) and the bytes are recoverable exactly.
//
// Table cells go through Cell(), which escapes control characters and
// invalid UTF-8 so that a record can never garble the terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/consumer.h"
#include "nlohmann/json.hpp"

namespace raftlog::cli {

using Json = nlohmann::ordered_json;

enum class Format { kTable, kJson, kText };

// "table" | "json" | "text".
absl::StatusOr<Format> ParseFormat(const std::string& name);

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // Missing cells are blank; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // Header and rows, columns two spaces apart, padded to the widest cell
  // (display width counted in UTF-8 code points), no trailing spaces, one
  // line each ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

bool IsValidUtf8(std::string_view s);
std::string Base64Encode(std::string_view s);
// Lower-case hex of every byte.
std::string HexEncode(std::string_view s);

// Text safe for a table cell: valid UTF-8 with control characters and bad
// bytes written as \n, \t, \xNN.
std::string Cell(std::string_view s);

// Sets j[name] per the BYTES IN JSON rule above.
void SetBytes(Json& j, const std::string& name, const std::optional<std::string>& bytes);

// "1,2,3"; "-" when empty.
std::string JoinIds(const std::vector<uint64_t>& ids);
Json IdArray(const std::vector<uint64_t>& ids);

// A consumed record as one JSON object: topic, partition, offset,
// timestamp (ms since the epoch), key, value, headers (an array of
// {"key": ..., "value": ...} in record order; keys may repeat).
Json RecordJson(const client::ConsumerRecord& r);

// What the text format prints besides the value (Kafka's print.* options).
struct TextRecordOptions {
  bool print_key = false;
  bool print_partition = false;
  bool print_offset = false;
  bool print_timestamp = false;
  bool print_headers = false;
  std::string separator = "\t";  // between printed fields
  std::string null_literal = "null";
};

// One line (without '\n'): [CreateTime:T][Partition:P][Offset:O]
// [k1:v1,k2:v2][key] value, fields joined by `separator`; key and value as
// raw bytes.
std::string RecordText(const client::ConsumerRecord& r, const TextRecordOptions& o);

// JSON for output: pretty (indent 2) for single documents.
std::string Dump(const Json& j);

}  // namespace raftlog::cli
