// Tables, JSON and record formats for raftlogctl.
#include "cli/output.h"

#include <algorithm>
#include <cstdio>

namespace raftlog::cli {
namespace {

// Length in bytes of the valid UTF-8 sequence at s[i], or 0 if invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

size_t DisplayWidth(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80 ? 1 : 0;
  return w;
}

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "json") return Format::kJson;
  if (name == "text") return Format::kText;
  return absl::InvalidArgumentError("--format: \"" + name + "\" is not table, json or text");
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) {
      l += cells[c];
      if (c + 1 < cells.size()) l += std::string(width[c] - DisplayWidth(cells[c]) + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string Base64Encode(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(s[i]) << 16) |
                       (static_cast<unsigned char>(s[i + 1]) << 8) |
                       static_cast<unsigned char>(s[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const size_t rest = s.size() - i; rest > 0) {
    uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string HexEncode(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Cell(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02x", c);
        out += buf;
      }
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

void SetBytes(Json& j, const std::string& name, const std::optional<std::string>& bytes) {
  if (!bytes.has_value()) {
    j[name] = nullptr;
  } else if (IsValidUtf8(*bytes)) {
    j[name] = *bytes;
  } else {
    j[name] = Base64Encode(*bytes);
    j[name + "_encoding"] = "base64";
  }
}

std::string JoinIds(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return "-";
  std::string out;
  for (uint64_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

Json IdArray(const std::vector<uint64_t>& ids) {
  Json a = Json::array();
  for (uint64_t id : ids) a.push_back(id);
  return a;
}

Json RecordJson(const client::ConsumerRecord& r) {
  Json j;
  j["topic"] = r.topic;
  j["partition"] = r.partition;
  j["offset"] = r.offset;
  j["timestamp"] = r.timestamp_ms;
  SetBytes(j, "key", r.key);
  SetBytes(j, "value", r.value);
  Json headers = Json::array();
  for (const storage::RecordHeader& h : r.headers) {
    Json hj;
    SetBytes(hj, "key", h.key);
    SetBytes(hj, "value", h.value);
    headers.push_back(std::move(hj));
  }
  j["headers"] = std::move(headers);
  return j;
}

std::string RecordText(const client::ConsumerRecord& r, const TextRecordOptions& o) {
  std::vector<std::string> fields;
  if (o.print_timestamp) fields.push_back("CreateTime:" + std::to_string(r.timestamp_ms));
  if (o.print_partition) fields.push_back("Partition:" + std::to_string(r.partition));
  if (o.print_offset) fields.push_back("Offset:" + std::to_string(r.offset));
  if (o.print_headers) {
    std::string h;
    for (const storage::RecordHeader& header : r.headers) {
      h += (h.empty() ? "" : ",") + header.key + ":" + header.value.value_or(o.null_literal);
    }
    fields.push_back(h.empty() ? "NO_HEADERS" : h);
  }
  if (o.print_key) fields.push_back(r.key.value_or(o.null_literal));
  fields.push_back(r.value.value_or(o.null_literal));
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) out += (i == 0 ? "" : o.separator) + fields[i];
  return out;
}

std::string Dump(const Json& j) {
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace raftlog::cli
