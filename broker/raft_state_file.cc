// Encoding and atomic replacement of the "raft-state" file.
#include "broker/raft_state_file.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

constexpr uint32_t kMagic = 0x524C5253;  // "RLRS"
constexpr uint32_t kVersion = 1;
constexpr size_t kFixedSize = 64;
constexpr size_t kMaxIds = 1 << 16;  // Sanity bound on membership size.

absl::Status Corrupt(const std::string& what) {
  return absl::DataLossError(absl::StrFormat("raft state file: %s", what));
}

}  // namespace

std::string EncodeRaftState(const RaftState& s) {
  std::string out;
  storage::AppendBigEndian<uint32_t>(out, kMagic);
  storage::AppendBigEndian<uint32_t>(out, kVersion);
  storage::AppendBigEndian<uint64_t>(out, s.hard_state.term.value());
  storage::AppendBigEndian<uint64_t>(out, s.hard_state.vote.value());
  storage::AppendBigEndian<uint64_t>(out, s.hard_state.commit.value());
  storage::AppendBigEndian<uint64_t>(out, s.snapshot_index.value());
  storage::AppendBigEndian<uint64_t>(out, s.snapshot_term.value());
  storage::AppendBigEndian<uint64_t>(out, static_cast<uint64_t>(s.snapshot_next_offset.value()));
  storage::AppendBigEndian<uint32_t>(out, static_cast<uint32_t>(s.conf_state.voters.size()));
  storage::AppendBigEndian<uint32_t>(out, static_cast<uint32_t>(s.conf_state.learners.size()));
  for (raft::NodeId id : s.conf_state.voters) storage::AppendBigEndian<uint64_t>(out, id.value());
  for (raft::NodeId id : s.conf_state.learners) storage::AppendBigEndian<uint64_t>(out, id.value());
  storage::AppendBigEndian<uint32_t>(out, storage::Crc32c(out.data(), out.size()));
  return out;
}

absl::StatusOr<RaftState> DecodeRaftState(const std::string& bytes) {
  if (bytes.size() < kFixedSize + 4) {
    return Corrupt(absl::StrFormat("too short (%d bytes)", bytes.size()));
  }
  if (storage::LoadBigEndianAt<uint32_t>(bytes, 0) != kMagic) return Corrupt("bad magic");
  if (storage::LoadBigEndianAt<uint32_t>(bytes, 4) != kVersion) {
    return Corrupt(
        absl::StrFormat("unknown version %d", storage::LoadBigEndianAt<uint32_t>(bytes, 4)));
  }
  const uint64_t voters = storage::LoadBigEndianAt<uint32_t>(bytes, 56);
  const uint64_t learners = storage::LoadBigEndianAt<uint32_t>(bytes, 60);
  if (voters + learners > kMaxIds || bytes.size() != kFixedSize + 8 * (voters + learners) + 4) {
    return Corrupt(absl::StrFormat("size %d does not match %d voters + %d learners", bytes.size(),
                                   voters, learners));
  }
  const size_t crc_pos = bytes.size() - 4;
  if (storage::Crc32c(bytes.data(), crc_pos) !=
      storage::LoadBigEndianAt<uint32_t>(bytes, crc_pos)) {
    return Corrupt("CRC mismatch");
  }
  RaftState s;
  s.hard_state.term = raft::Term(storage::LoadBigEndianAt<uint64_t>(bytes, 8));
  s.hard_state.vote = raft::NodeId(storage::LoadBigEndianAt<uint64_t>(bytes, 16));
  s.hard_state.commit = raft::LogIndex(storage::LoadBigEndianAt<uint64_t>(bytes, 24));
  s.snapshot_index = raft::LogIndex(storage::LoadBigEndianAt<uint64_t>(bytes, 32));
  s.snapshot_term = raft::Term(storage::LoadBigEndianAt<uint64_t>(bytes, 40));
  s.snapshot_next_offset =
      storage::Offset(static_cast<int64_t>(storage::LoadBigEndianAt<uint64_t>(bytes, 48)));
  if (s.snapshot_next_offset.value() < 0) return Corrupt("negative snapshot offset");
  size_t pos = kFixedSize;
  for (uint64_t i = 0; i < voters; ++i, pos += 8) {
    s.conf_state.voters.push_back(raft::NodeId(storage::LoadBigEndianAt<uint64_t>(bytes, pos)));
  }
  for (uint64_t i = 0; i < learners; ++i, pos += 8) {
    s.conf_state.learners.push_back(raft::NodeId(storage::LoadBigEndianAt<uint64_t>(bytes, pos)));
  }
  return s;
}

absl::StatusOr<std::optional<RaftState>> ReadRaftState(storage::Env* env, const std::string& dir) {
  const std::string path = dir + "/" + kRaftStateFileName;
  absl::StatusOr<bool> exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::optional<RaftState>();
  absl::StatusOr<std::unique_ptr<storage::File>> f = env->OpenFile(path, /*create=*/false);
  if (!f.ok()) return f.status();
  absl::StatusOr<uint64_t> size = (*f)->Size();
  if (!size.ok()) return size.status();
  if (*size > kFixedSize + 8 * kMaxIds + 4) return Corrupt("file too large");
  std::vector<uint8_t> buf(*size);
  absl::StatusOr<size_t> n = (*f)->Read(0, buf);
  if (!n.ok()) return n.status();
  if (*n != buf.size()) return Corrupt("short read");
  absl::StatusOr<RaftState> s = DecodeRaftState(std::string(buf.begin(), buf.end()));
  if (!s.ok()) {
    return absl::DataLossError(absl::StrFormat("%s: %s", path, s.status().message()));
  }
  return std::optional<RaftState>(*std::move(s));
}

absl::Status WriteRaftState(storage::Env* env, const std::string& dir, const RaftState& s) {
  const std::string path = dir + "/" + kRaftStateFileName;
  const std::string tmp = path + ".tmp";
  const std::string bytes = EncodeRaftState(s);
  {
    absl::StatusOr<std::unique_ptr<storage::File>> f = env->OpenFile(tmp, /*create=*/true);
    if (!f.ok()) return f.status();
    if (absl::Status st = (*f)->Truncate(0); !st.ok()) return st;
    if (absl::Status st = (*f)->Write(
            0,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
        !st.ok()) {
      return st;
    }
    if (absl::Status st = (*f)->Sync(); !st.ok()) return st;
  }
  if (absl::Status st = env->RenameFile(tmp, path); !st.ok()) return st;
  return env->SyncDir(dir);
}

}  // namespace raftlog::broker
