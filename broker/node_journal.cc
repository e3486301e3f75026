// NodeJournal: record encoding, reading with torn-tail handling, rotation.
#include "broker/node_journal.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

constexpr char kMagic[8] = {'R', 'L', 'J', 'R', 'N', 'L', '0', '1'};
constexpr char kSuffix[] = ".journal";
constexpr size_t kRecordHeader = 8;             // length + crc
constexpr size_t kEntryHeader = 8 + 8 + 1 + 4;  // term, index, type, length
constexpr uint32_t kMaxBody = 1u << 30;         // sanity bound on a record

// Parses "<20 digits>.journal"; false for anything else.
bool ParseName(const std::string& name, uint64_t* seq) {
  if (name.size() != 20 + sizeof(kSuffix) - 1 || name.substr(20) != kSuffix) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *seq = v;
  return true;
}

absl::StatusOr<std::vector<uint64_t>> ListSequences(storage::Env* env, const std::string& dir) {
  absl::StatusOr<bool> exists = env->FileExists(dir);
  if (!exists.ok()) return exists.status();
  std::vector<uint64_t> seqs;
  if (!*exists) return seqs;
  absl::StatusOr<std::vector<std::string>> names = env->ListDir(dir);
  if (!names.ok()) return names.status();
  for (const std::string& n : *names) {
    uint64_t seq = 0;
    if (ParseName(n, &seq)) {
      seqs.push_back(seq);
    } else if (n.size() < 4 || n.substr(n.size() - 4) != ".tmp") {
      return absl::FailedPreconditionError(
          absl::StrFormat("unexpected file %s in journal directory %s", n, dir));
    }
  }
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

// Decodes one record body; InvalidArgument on any malformation.
absl::StatusOr<JournalRecord> DecodeBody(const uint8_t* p, size_t n) {
  if (n < 9) return absl::InvalidArgumentError("record body shorter than its header");
  JournalRecord r;
  const uint8_t kind = p[0];
  r.group = storage::LoadBigEndian<uint64_t>(p + 1);
  p += 9;
  n -= 9;
  if (kind == static_cast<uint8_t>(JournalRecord::Kind::kGroupRemoved)) {
    if (n != 0) return absl::InvalidArgumentError("group-removed record with a payload");
    r.kind = JournalRecord::Kind::kGroupRemoved;
    return r;
  }
  if (kind != static_cast<uint8_t>(JournalRecord::Kind::kEntries) || n < 4) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown record kind %d", kind));
  }
  const uint32_t count = storage::LoadBigEndian<uint32_t>(p);
  p += 4;
  n -= 4;
  if (count > n / kEntryHeader) return absl::InvalidArgumentError("entry count exceeds the record");
  r.entries.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (n < kEntryHeader) return absl::InvalidArgumentError("entry header past the record end");
    raft::Entry e;
    e.term = raft::Term(storage::LoadBigEndian<uint64_t>(p));
    e.index = raft::LogIndex(storage::LoadBigEndian<uint64_t>(p + 8));
    const uint8_t type = p[16];
    const uint32_t len = storage::LoadBigEndian<uint32_t>(p + 17);
    p += kEntryHeader;
    n -= kEntryHeader;
    if (type > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
      return absl::InvalidArgumentError(absl::StrFormat("entry type %d unknown", type));
    }
    if (len > n) return absl::InvalidArgumentError("entry data past the record end");
    e.type = static_cast<raft::EntryType>(type);
    e.data = std::string_view(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    if (i > 0 && e.index != r.entries.back().index + 1) {
      return absl::InvalidArgumentError("entries of a record are not contiguous");
    }
    r.entries.push_back(std::move(e));
  }
  if (n != 0) return absl::InvalidArgumentError("bytes after the last entry of a record");
  return r;
}

}  // namespace

std::string NodeJournal::PathOf(uint64_t seq) const {
  return absl::StrFormat("%s/%020d%s", dir_, seq, kSuffix);
}

absl::StatusOr<std::vector<JournalRecord>> NodeJournal::ReadAll(storage::Env* env,
                                                                const std::string& dir,
                                                                JournalReadReport* report) {
  JournalReadReport local;
  JournalReadReport& rep = report ? *report : local;
  absl::StatusOr<std::vector<uint64_t>> seqs = ListSequences(env, dir);
  if (!seqs.ok()) return seqs.status();
  std::vector<JournalRecord> out;
  for (size_t f = 0; f < seqs->size(); ++f) {
    const bool newest = f + 1 == seqs->size();
    const std::string path = absl::StrFormat("%s/%020d%s", dir, (*seqs)[f], kSuffix);
    absl::StatusOr<std::unique_ptr<storage::File>> file = env->OpenFile(path, false);
    if (!file.ok()) return file.status();
    absl::StatusOr<uint64_t> size = (*file)->Size();
    if (!size.ok()) return size.status();
    std::string data(*size, '\0');
    absl::StatusOr<size_t> got =
        (*file)->Read(0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(data.data()), data.size()));
    if (!got.ok()) return got.status();
    data.resize(*got);
    ++rep.files;
    rep.bytes += data.size();
    const auto bad = [&](size_t pos, const std::string& why) -> absl::Status {
      if (newest) {
        rep.torn_tail =
            absl::StrFormat("%s: cut at byte %d of %d: %s", path, pos, data.size(), why);
        return absl::OkStatus();
      }
      return absl::DataLossError(
          absl::StrFormat("journal %s is damaged at byte %d: %s", path, pos, why));
    };
    if (data.size() < sizeof(kMagic) || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
      // A newest file shorter than its magic was being created.
      if (absl::Status s = bad(0, "no journal header"); !s.ok()) return s;
      continue;
    }
    size_t pos = sizeof(kMagic);
    const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
    while (pos < data.size()) {
      if (data.size() - pos < kRecordHeader) {
        if (absl::Status s = bad(pos, "truncated record header"); !s.ok()) return s;
        break;
      }
      const uint32_t len = storage::LoadBigEndian<uint32_t>(bytes + pos);
      const uint32_t crc = storage::LoadBigEndian<uint32_t>(bytes + pos + 4);
      if (len < 9 || len > kMaxBody || len > data.size() - pos - kRecordHeader) {
        if (absl::Status s = bad(pos, "record length past the end"); !s.ok()) return s;
        break;
      }
      const uint8_t* body = bytes + pos + kRecordHeader;
      if (storage::Crc32c(body, len) != crc) {
        if (absl::Status s = bad(pos, "record checksum mismatch"); !s.ok()) return s;
        break;
      }
      absl::StatusOr<JournalRecord> r = DecodeBody(body, len);
      if (!r.ok()) {
        if (absl::Status s = bad(pos, std::string(r.status().message())); !s.ok()) return s;
        break;
      }
      out.push_back(*std::move(r));
      ++rep.records;
      pos += kRecordHeader + len;
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<NodeJournal>> NodeJournal::Restart(storage::Env* env,
                                                                  const std::string& dir) {
  if (absl::Status s = env->CreateDir(dir); !s.ok()) return s;
  absl::StatusOr<std::vector<uint64_t>> seqs = ListSequences(env, dir);
  if (!seqs.ok()) return seqs.status();
  std::unique_ptr<NodeJournal> j(new NodeJournal(env, dir));
  const uint64_t next = seqs->empty() ? 1 : seqs->back() + 1;
  if (absl::Status s = j->OpenNewFile(next); !s.ok()) return s;
  for (uint64_t seq : *seqs) {
    if (absl::Status s = env->RemoveFile(j->PathOf(seq)); !s.ok()) return s;
  }
  if (absl::Status s = env->SyncDir(dir); !s.ok()) return s;
  return j;
}

absl::Status NodeJournal::OpenNewFile(uint64_t seq) {
  absl::StatusOr<std::unique_ptr<storage::File>> f = env_->OpenFile(PathOf(seq), true);
  if (!f.ok()) return f.status();
  if (absl::Status s = (*f)->Truncate(0); !s.ok()) return s;
  const std::span<const uint8_t> magic(reinterpret_cast<const uint8_t*>(kMagic), sizeof(kMagic));
  if (absl::Status s = (*f)->Write(0, magic); !s.ok()) return s;
  if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
  if (absl::Status s = env_->SyncDir(dir_); !s.ok()) return s;
  file_ = *std::move(f);
  seq_ = seq;
  file_bytes_ = sizeof(kMagic);
  return absl::OkStatus();
}

void NodeJournal::AddEntries(uint64_t group, const std::vector<raft::Entry>& entries) {
  if (entries.empty()) return;
  const size_t start = buffer_.size();
  buffer_.append(kRecordHeader, '\0');
  buffer_.push_back(static_cast<char>(JournalRecord::Kind::kEntries));
  storage::AppendBigEndian<uint64_t>(buffer_, group);
  storage::AppendBigEndian<uint32_t>(buffer_, static_cast<uint32_t>(entries.size()));
  for (const raft::Entry& e : entries) {
    storage::AppendBigEndian<uint64_t>(buffer_, e.term.value());
    storage::AppendBigEndian<uint64_t>(buffer_, e.index.value());
    buffer_.push_back(static_cast<char>(e.type));
    storage::AppendBigEndian<uint32_t>(buffer_, static_cast<uint32_t>(e.data.size()));
    buffer_.append(e.data);
  }
  const size_t body = buffer_.size() - start - kRecordHeader;
  auto* hdr = reinterpret_cast<uint8_t*>(buffer_.data() + start);
  storage::StoreBigEndian<uint32_t>(hdr, static_cast<uint32_t>(body));
  storage::StoreBigEndian<uint32_t>(hdr + 4, storage::Crc32c(hdr + kRecordHeader, body));
}

void NodeJournal::AddGroupRemoved(uint64_t group) {
  const size_t start = buffer_.size();
  buffer_.append(kRecordHeader, '\0');
  buffer_.push_back(static_cast<char>(JournalRecord::Kind::kGroupRemoved));
  storage::AppendBigEndian<uint64_t>(buffer_, group);
  auto* hdr = reinterpret_cast<uint8_t*>(buffer_.data() + start);
  storage::StoreBigEndian<uint32_t>(hdr, 9);
  storage::StoreBigEndian<uint32_t>(hdr + 4, storage::Crc32c(hdr + kRecordHeader, 9));
}

absl::Status NodeJournal::Sync() {
  if (!failed_.ok()) return failed_;
  if (buffer_.empty()) return absl::OkStatus();
  const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(buffer_.data()),
                                      buffer_.size());
  absl::Status s = file_->Write(file_bytes_, data);
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) {
    failed_ =
        absl::DataLossError(absl::StrFormat("journal %s failed: %s", PathOf(seq_), s.message()));
    return failed_;
  }
  file_bytes_ += buffer_.size();
  buffer_.clear();
  ++syncs_;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> NodeJournal::Rotate() {
  if (!failed_.ok()) return failed_;
  if (!buffer_.empty())
    return absl::FailedPreconditionError("journal: rotate with unsynced records");
  const uint64_t old = seq_;
  if (absl::Status s = OpenNewFile(seq_ + 1); !s.ok()) {
    failed_ = s;
    return s;
  }
  return old;
}

absl::Status NodeJournal::RemoveFilesUpTo(uint64_t seq) {
  absl::StatusOr<std::vector<uint64_t>> seqs = ListSequences(env_, dir_);
  if (!seqs.ok()) return seqs.status();
  for (uint64_t s : *seqs) {
    if (s > seq) break;
    if (absl::Status st = env_->RemoveFile(PathOf(s)); !st.ok()) return st;
  }
  return env_->SyncDir(dir_);
}

}  // namespace raftlog::broker
