// Tests of RocksDbRaftStorage: the LogStorage contract (empty log, bounds
// errors, max_bytes, the snapshot term at FirstIndex()-1), the Ready write
// path (conflict truncation, snapshot install), durability across reopen,
// corruption detection, refusal of foreign directories, and a 3-node
// raft::RawNode cluster over it that restarts a node and catches it up by
// log replication and by snapshot.
#include "broker/rocksdb_raft_storage.h"

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "broker/broker_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raft/config.h"
#include "raft/raw_node.h"
#include "rocksdb/options.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;
using raft::Term;
using ::testing::HasSubstr;
using testing::TempDir;

raft::ConfState Voters() { return raft::ConfState{{NodeId(1), NodeId(2), NodeId(3)}, {}}; }

std::unique_ptr<RocksDbRaftStorage> MustOpen(const std::string& dir,
                                             const raft::ConfState& cs = Voters()) {
  auto s = RocksDbRaftStorage::Open(dir, cs);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

Entry E(uint64_t index, uint64_t term, std::string data = "", EntryType type = EntryType::kNormal) {
  if (data.empty() && type == EntryType::kNormal) data = "d" + std::to_string(index);
  return Entry{Term(term), LogIndex(index), type, std::move(data)};
}

std::vector<Entry> Range(uint64_t lo, uint64_t hi, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = lo; i < hi; ++i) out.push_back(E(i, term));
  return out;
}

// WriteReady + SyncReady + FinishReady, as a host does for one Ready.
absl::Status Persist(RocksDbRaftStorage& s, const raft::Ready& rd) {
  if (absl::Status st = s.WriteReady(rd); !st.ok()) return st;
  if (absl::Status st = s.SyncReady(); !st.ok()) return st;
  return s.FinishReady(rd);
}

absl::Status Append(RocksDbRaftStorage& s, std::vector<Entry> entries) {
  raft::Ready rd;
  rd.entries = std::move(entries);
  return Persist(s, rd);
}

std::vector<Entry> MustEntries(const RocksDbRaftStorage& s, uint64_t lo, uint64_t hi,
                               uint64_t max_bytes = UINT64_MAX) {
  auto r = s.Entries(LogIndex(lo), LogIndex(hi), max_bytes);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<Entry>{};
}

TEST(RocksDbRaftStorageTest, EmptyStoreHasTheBootstrapMembership) {
  TempDir dir;
  auto s = MustOpen(dir.path() + "/meta");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->FirstIndex(), LogIndex(1));
  EXPECT_EQ(s->LastIndex(), LogIndex(0));
  EXPECT_EQ(*s->TermAt(LogIndex(0)), Term(0));
  EXPECT_TRUE(raft::IsStorageUnavailable(s->TermAt(LogIndex(1)).status()));
  EXPECT_TRUE(MustEntries(*s, 1, 1).empty());
  EXPECT_TRUE(raft::IsStorageUnavailable(s->Entries(LogIndex(1), LogIndex(2), 100).status()));
  EXPECT_TRUE(raft::IsStorageCompacted(s->Entries(LogIndex(0), LogIndex(1), 100).status()));
  auto init = s->GetInitialState();
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(init->conf_state, Voters());
  EXPECT_TRUE(init->hard_state.IsEmpty());
  s->SetSnapshotSource([](LogIndex) -> absl::StatusOr<std::string> {
    return absl::InternalError("the empty snapshot needs no data");
  });
  auto snap = s->GetSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(snap->IsEmpty());
  EXPECT_EQ(snap->metadata.conf_state, Voters());
  EXPECT_TRUE(snap->data.empty());

  // Reopen with another membership: the recorded one wins.
  s.reset();
  s = MustOpen(dir.path() + "/meta", raft::ConfState{{NodeId(9)}, {}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->GetInitialState()->conf_state, Voters());
}

TEST(RocksDbRaftStorageTest, AppendsAndReadsBackWithinMaxBytes) {
  TempDir dir;
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  std::vector<Entry> want = Range(1, 11, 1);
  want[3] = E(4, 1, "", EntryType::kNoop);
  want[4] = E(5, 1, "conf", EntryType::kConfChange);
  ASSERT_TRUE(Append(*s, want).ok());
  EXPECT_EQ(s->FirstIndex(), LogIndex(1));
  EXPECT_EQ(s->LastIndex(), LogIndex(10));
  EXPECT_EQ(MustEntries(*s, 1, 11), want);
  EXPECT_EQ(MustEntries(*s, 4, 6), std::vector<Entry>(want.begin() + 3, want.begin() + 5));
  EXPECT_EQ(*s->TermAt(LogIndex(10)), Term(1));
  // Every data entry here is 2 bytes + 24: two fit in 60 bytes, not three.
  EXPECT_EQ(MustEntries(*s, 1, 11, 60).size(), 2u);
  // At least one entry, whatever the limit.
  EXPECT_EQ(MustEntries(*s, 1, 11, 0).size(), 1u);
  EXPECT_TRUE(raft::IsStorageUnavailable(s->Entries(LogIndex(5), LogIndex(12), 100).status()));
  EXPECT_EQ(s->Entries(LogIndex(5), LogIndex(4), 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A gap or a non-contiguous batch is refused and writes nothing.
  EXPECT_EQ(Append(*s, {E(12, 1)}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Append(*s, {E(11, 1), E(13, 1)}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->LastIndex(), LogIndex(10));
}

TEST(RocksDbRaftStorageTest, ConflictingAppendReplacesTheSuffix) {
  TempDir dir;
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(Append(*s, Range(1, 8, 1)).ok());
  ASSERT_TRUE(Append(*s, {E(4, 2, "x4"), E(5, 2, "x5")}).ok());
  EXPECT_EQ(s->LastIndex(), LogIndex(5));
  EXPECT_EQ(MustEntries(*s, 3, 6), (std::vector<Entry>{E(3, 1), E(4, 2, "x4"), E(5, 2, "x5")}));
  EXPECT_TRUE(raft::IsStorageUnavailable(s->TermAt(LogIndex(6)).status()));
  // Nothing of the old suffix survives a reopen either.
  s.reset();
  s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->LastIndex(), LogIndex(5));
  EXPECT_EQ(MustEntries(*s, 1, 6).back(), E(5, 2, "x5"));
  // Appending right after the end extends the log.
  ASSERT_TRUE(Append(*s, {E(6, 3)}).ok());
  EXPECT_EQ(*s->TermAt(LogIndex(6)), Term(3));
}

TEST(RocksDbRaftStorageTest, HardStateAndEntriesSurviveReopen) {
  TempDir dir;
  const raft::HardState hs{Term(3), NodeId(2), LogIndex(4)};
  {
    auto s = MustOpen(dir.path());
    ASSERT_NE(s, nullptr);
    raft::Ready rd;
    rd.entries = Range(1, 6, 3);
    rd.hard_state = hs;
    ASSERT_TRUE(Persist(*s, rd).ok());
    EXPECT_EQ(s->hard_state(), hs);
  }
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->GetInitialState()->hard_state, hs);
  EXPECT_EQ(s->GetInitialState()->conf_state, Voters());
  EXPECT_EQ(s->FirstIndex(), LogIndex(1));
  EXPECT_EQ(s->LastIndex(), LogIndex(5));
  EXPECT_EQ(MustEntries(*s, 1, 6), Range(1, 6, 3));
}

TEST(RocksDbRaftStorageTest, CompactKeepsTheSnapshotTermAnswerable) {
  TempDir dir;
  const raft::ConfState after{{NodeId(1), NodeId(2)}, {NodeId(4)}};
  {
    auto s = MustOpen(dir.path());
    ASSERT_NE(s, nullptr);
    std::vector<Entry> ents = Range(1, 5, 1);
    for (Entry& e : Range(5, 9, 2)) ents.push_back(e);
    ASSERT_TRUE(Append(*s, ents).ok());
    EXPECT_EQ(s->Compact(LogIndex(0), Voters()).code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(s->Compact(LogIndex(9), Voters()).code(), absl::StatusCode::kOutOfRange);
    ASSERT_TRUE(s->Compact(LogIndex(5), after).ok());
    EXPECT_EQ(s->Compact(LogIndex(5), after).code(), absl::StatusCode::kOutOfRange);
  }
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->FirstIndex(), LogIndex(6));
  EXPECT_EQ(s->LastIndex(), LogIndex(8));
  EXPECT_EQ(*s->TermAt(LogIndex(5)), Term(2));
  EXPECT_TRUE(raft::IsStorageCompacted(s->TermAt(LogIndex(4)).status()));
  EXPECT_TRUE(raft::IsStorageCompacted(s->Entries(LogIndex(5), LogIndex(7), 100).status()));
  EXPECT_EQ(MustEntries(*s, 6, 9), Range(6, 9, 2));
  EXPECT_EQ(s->GetInitialState()->conf_state, after);
  LogIndex asked;
  s->SetSnapshotSource([&](LogIndex i) -> absl::StatusOr<std::string> {
    asked = i;
    return std::string("state@5");
  });
  auto snap = s->GetSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(asked, LogIndex(5));
  EXPECT_EQ(snap->metadata, (raft::SnapshotMetadata{LogIndex(5), Term(2), after}));
  EXPECT_EQ(snap->data, "state@5");
  // A source that is not ready makes GetSnapshot unavailable (core retries).
  s->SetSnapshotSource(
      [](LogIndex) -> absl::StatusOr<std::string> { return absl::UnavailableError("busy"); });
  EXPECT_EQ(s->GetSnapshot().status().code(), absl::StatusCode::kUnavailable);
  // Compacting everything leaves an empty log after the snapshot.
  ASSERT_TRUE(s->Compact(LogIndex(8), after).ok());
  EXPECT_EQ(s->FirstIndex(), LogIndex(9));
  EXPECT_EQ(s->LastIndex(), LogIndex(8));
  EXPECT_EQ(*s->TermAt(LogIndex(8)), Term(2));
  ASSERT_TRUE(Append(*s, {E(9, 3)}).ok());
  EXPECT_EQ(MustEntries(*s, 9, 10), std::vector<Entry>{E(9, 3)});
}

TEST(RocksDbRaftStorageTest, SnapshotInstallResetsTheLogAndKeepsTheHardState) {
  TempDir dir;
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(Append(*s, Range(1, 6, 1)).ok());
  std::vector<raft::Snapshot> restored;
  s->SetSnapshotSink([&](const raft::Snapshot& snap) {
    restored.push_back(snap);
    return absl::OkStatus();
  });
  const raft::ConfState cs{{NodeId(1), NodeId(2), NodeId(3), NodeId(4)}, {}};
  raft::Ready rd;
  rd.snapshot = raft::Snapshot{{LogIndex(10), Term(4), cs}, "blob"};
  rd.entries = {E(11, 4), E(12, 4)};
  rd.hard_state = raft::HardState{Term(4), NodeId(2), LogIndex(10)};
  ASSERT_TRUE(Persist(*s, rd).ok());
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0], *rd.snapshot);
  auto check = [&](const RocksDbRaftStorage& st) {
    EXPECT_EQ(st.FirstIndex(), LogIndex(11));
    EXPECT_EQ(st.LastIndex(), LogIndex(12));
    EXPECT_EQ(*st.TermAt(LogIndex(10)), Term(4));
    EXPECT_TRUE(raft::IsStorageCompacted(st.TermAt(LogIndex(5)).status()));
    EXPECT_EQ(MustEntries(st, 11, 13), (std::vector<Entry>{E(11, 4), E(12, 4)}));
    EXPECT_EQ(st.GetInitialState()->hard_state, *rd.hard_state);
    EXPECT_EQ(st.GetInitialState()->conf_state, cs);
    EXPECT_EQ(st.snapshot_metadata(), rd.snapshot->metadata);
  };
  check(*s);
  // A snapshot installed without a hard state keeps the previous one.
  raft::Ready rd2;
  rd2.snapshot = raft::Snapshot{{LogIndex(20), Term(5), cs}, "blob2"};
  ASSERT_TRUE(Persist(*s, rd2).ok());
  EXPECT_EQ(s->hard_state(), *rd.hard_state);
  EXPECT_EQ(s->FirstIndex(), LogIndex(21));
  EXPECT_EQ(s->LastIndex(), LogIndex(20));
  // An older snapshot is refused, and a failing sink writes nothing.
  EXPECT_EQ(s->WriteReady(rd).code(), absl::StatusCode::kFailedPrecondition);
  s->SetSnapshotSink([](const raft::Snapshot&) { return absl::InternalError("restore failed"); });
  raft::Ready rd3;
  rd3.snapshot = raft::Snapshot{{LogIndex(30), Term(5), cs}, "blob3"};
  EXPECT_EQ(s->WriteReady(rd3).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s->snapshot_metadata().index, LogIndex(20));

  s.reset();
  s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->FirstIndex(), LogIndex(21));
  EXPECT_EQ(*s->TermAt(LogIndex(20)), Term(5));
  EXPECT_EQ(s->hard_state(), *rd.hard_state);
}

TEST(RocksDbRaftStorageTest, CorruptValuesAreDataLossNamingTheKey) {
  TempDir dir;
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(Append(*s, Range(1, 6, 1)).ok());
  rocksdb::DB* db = s->db();
  // A flipped byte in entry 3.
  std::string value;
  ASSERT_TRUE(db->Get({}, s->log_cf(), RocksDbRaftStorage::LogKey(LogIndex(3)), &value).ok());
  value[9] ^= 0x40;
  ASSERT_TRUE(db->Put({}, s->log_cf(), RocksDbRaftStorage::LogKey(LogIndex(3)), value).ok());
  auto ents = s->Entries(LogIndex(1), LogIndex(6), UINT64_MAX);
  EXPECT_EQ(ents.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(ents.status().message()), HasSubstr("raft_log key"));
  EXPECT_THAT(std::string(ents.status().message()), HasSubstr("(index 3)"));
  EXPECT_EQ(s->TermAt(LogIndex(3)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(s->TermAt(LogIndex(2)).ok());
  // A value moved under another key fails its key-covering checksum.
  std::string v4;
  ASSERT_TRUE(db->Get({}, s->log_cf(), RocksDbRaftStorage::LogKey(LogIndex(4)), &v4).ok());
  ASSERT_TRUE(db->Put({}, s->log_cf(), RocksDbRaftStorage::LogKey(LogIndex(2)), v4).ok());
  EXPECT_EQ(s->TermAt(LogIndex(2)).status().code(), absl::StatusCode::kDataLoss);
  // A hole inside the bounds is DataLoss, not "unavailable".
  ASSERT_TRUE(db->Delete({}, s->log_cf(), RocksDbRaftStorage::LogKey(LogIndex(5))).ok());
  auto tail = s->Entries(LogIndex(4), LogIndex(6), UINT64_MAX);
  EXPECT_EQ(tail.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(tail.status().message()), HasSubstr("(index 5)"));
  EXPECT_EQ(s->TermAt(LogIndex(5)).status().code(), absl::StatusCode::kDataLoss);
  // Garbage hard state: the next open fails naming it.
  ASSERT_TRUE(db->Put({}, s->meta_cf(), "hard_state", "garbage!garbage!garbage!xxxx").ok());
  s.reset();
  auto reopened = RocksDbRaftStorage::Open(dir.path(), Voters());
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("hard_state"));
}

TEST(RocksDbRaftStorageTest, CorruptSnapshotMetadataFailsOpen) {
  TempDir dir;
  {
    auto s = MustOpen(dir.path());
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->db()->Put({}, s->meta_cf(), "snapshot", std::string(40, '\0')).ok());
  }
  auto s = RocksDbRaftStorage::Open(dir.path(), Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("'snapshot'"));
}

TEST(RocksDbRaftStorageTest, RefusesDirectoriesThatAreNotAMetastore) {
  TempDir dir;
  // Unrelated files.
  const std::string junk = dir.path() + "/junk";
  std::filesystem::create_directories(junk);
  std::ofstream(junk + "/notes.txt") << "hello";
  auto s = RocksDbRaftStorage::Open(junk, Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("no RocksDB database"));
  EXPECT_FALSE(std::filesystem::exists(junk + "/CURRENT"));  // untouched
  // A regular file.
  s = RocksDbRaftStorage::Open(junk + "/notes.txt", Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  // A fake CURRENT.
  const std::string fake = dir.path() + "/fake";
  std::filesystem::create_directories(fake);
  std::ofstream(fake + "/CURRENT") << "MANIFEST-000999\n";
  s = RocksDbRaftStorage::Open(fake, Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("not a readable RocksDB database"));
  // Another application's RocksDB database: data in the default family.
  const std::string other = dir.path() + "/other";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, other, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put({}, "user:1", "alice").ok());
  }
  s = RocksDbRaftStorage::Open(other, Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("format_version"));
  // One with a family we do not know.
  const std::string families = dir.path() + "/families";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, families, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* h = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily({}, "users", &h).ok());
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  }
  s = RocksDbRaftStorage::Open(families, Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("'users'"));
}

TEST(RocksDbRaftStorageTest, UnknownFormatVersionIsRefused) {
  TempDir dir;
  {
    auto s = MustOpen(dir.path());
    ASSERT_NE(s, nullptr);
    // A well-formed value (valid checksum) of version 2.
    std::string v(8, '\0');
    storage::StoreBigEndian<uint32_t>(reinterpret_cast<uint8_t*>(v.data()), 2);
    const std::string key = "format_version";
    const uint32_t crc =
        storage::Crc32cExtend(storage::Crc32c(key.data(), key.size()), v.data(), 4);
    storage::StoreBigEndian<uint32_t>(reinterpret_cast<uint8_t*>(v.data()) + 4, crc);
    ASSERT_TRUE(s->db()->Put({}, s->meta_cf(), key, v).ok());
  }
  auto s = RocksDbRaftStorage::Open(dir.path(), Voters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("unsupported format version 2"));
}

TEST(RocksDbRaftStorageTest, ReadersOnAnotherThreadSeeConsistentBounds) {
  TempDir dir;
  auto s = MustOpen(dir.path());
  ASSERT_NE(s, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread reader([&] {
    for (int i = 0; i < 100000 && !stop.load(); ++i) {
      const LogIndex first = s->FirstIndex();
      const LogIndex last = s->LastIndex();
      if (first > last + 1) ++errors;
      auto e = s->Entries(first, last + 1, UINT64_MAX);
      // The log may move between the two calls; only corruption is an error.
      if (!e.ok() && !raft::IsStorageCompacted(e.status()) &&
          !raft::IsStorageUnavailable(e.status())) {
        ++errors;
        ADD_FAILURE() << e.status();
      }
    }
  });
  for (uint64_t i = 1; i <= 200; ++i) {
    ASSERT_TRUE(Append(*s, {E(i, 1)}).ok());
    if (i % 20 == 0) {
      ASSERT_TRUE(s->Compact(LogIndex(i - 5), Voters()).ok());
    }
    if (i % 50 == 0) {
      ASSERT_TRUE(Append(*s, {E(i - 2, 2), E(i - 1, 2), E(i, 2)}).ok());
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(errors.load(), 0);
}

// ---- A 3-node cluster of raft::RawNode over RocksDbRaftStorage ----

// The test state machine: the data of the normal entries applied, in order.
// Its snapshot is those data joined by '\n'.
struct Replica {
  TempDir dir;
  std::unique_ptr<RocksDbRaftStorage> storage;
  std::unique_ptr<raft::RawNode> node;  // null while down
  LogIndex applied;
  std::map<LogIndex, std::string> applied_data;  // index -> data
};

std::string StateAt(const Replica& r, LogIndex index) {
  std::vector<std::string> parts;
  for (const auto& [i, d] : r.applied_data) {
    if (i <= index) parts.push_back(absl::StrCat(i.value(), "=", d));
  }
  return absl::StrJoin(parts, "\n");
}

absl::Status Restore(Replica& r, const raft::Snapshot& snap) {
  r.applied_data.clear();
  if (snap.data.empty()) return absl::OkStatus();
  for (absl::string_view line : absl::StrSplit(snap.data, '\n')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    uint64_t i = 0;
    if (!absl::SimpleAtoi(kv.first, &i)) return absl::DataLossError("bad snapshot line");
    r.applied_data[LogIndex(i)] = kv.second;
  }
  return absl::OkStatus();
}

class Cluster {
 public:
  Cluster() {
    for (uint64_t id = 1; id <= 3; ++id) {
      replicas_[id] = std::make_unique<Replica>();
      Start(id);
    }
  }

  void Start(uint64_t id) {
    Replica& r = *replicas_.at(id);
    r.storage = MustOpen(r.dir.path());
    ASSERT_NE(r.storage, nullptr);
    r.storage->SetSnapshotSource(
        [&r](LogIndex i) -> absl::StatusOr<std::string> { return StateAt(r, i); });
    r.storage->SetSnapshotSink([&r](const raft::Snapshot& snap) { return Restore(r, snap); });
    raft::Config c;
    c.id = NodeId(id);
    c.applied = r.applied;
    c.max_size_per_msg = 256;  // several kApp messages per catch-up
    c.seed = id;
    auto n = raft::RawNode::Create(c, r.storage.get());
    ASSERT_TRUE(n.ok()) << n.status();
    r.node = *std::move(n);
  }

  // Crash: node and storage go; only what is on disk stays (and the test
  // state machine, which stands for state the host keeps durably).
  void Stop(uint64_t id) {
    Replica& r = *replicas_.at(id);
    r.node.reset();
    r.storage.reset();
  }

  Replica& replica(uint64_t id) { return *replicas_.at(id); }
  raft::RawNode& node(uint64_t id) { return *replicas_.at(id)->node; }

  bool ProcessReady(uint64_t id) {
    Replica& r = *replicas_.at(id);
    if (!r.node || !r.node->HasReady()) return false;
    raft::Ready rd = r.node->GetReady();
    for (Message& m : rd.messages) queue_.push_back(std::move(m));
    if (rd.MustSync()) {
      absl::Status s = Persist(*r.storage, rd);
      EXPECT_TRUE(s.ok()) << s;  // fatal in a real host
    }
    for (Message& m : rd.messages_after_persist) queue_.push_back(std::move(m));
    if (rd.snapshot && !rd.snapshot->IsEmpty()) r.applied = rd.snapshot->metadata.index;
    for (const Entry& e : rd.committed_entries) {
      if (e.type == EntryType::kNormal) r.applied_data[e.index] = e.data;
      r.applied = e.index;
    }
    r.node->Advance(rd);
    return true;
  }

  void Stabilize() {
    for (int steps = 0; steps < 100000; ++steps) {
      bool moved = false;
      for (auto& [id, r] : replicas_) moved |= ProcessReady(id);
      while (!queue_.empty()) {
        Message m = std::move(queue_.front());
        queue_.pop_front();
        moved = true;
        Replica& to = *replicas_.at(m.to.value());
        if (!to.node) continue;  // down: lost
        absl::Status s = to.node->Step(std::move(m));
        EXPECT_TRUE(s.ok()) << s;
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "cluster did not stabilize";
  }

  void TickAll(int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, r] : replicas_) {
        if (r->node) r->node->Tick();
      }
      Stabilize();
    }
  }

  void Propose(uint64_t leader, int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      absl::Status s = node(leader).Propose(prefix + std::to_string(i));
      EXPECT_TRUE(s.ok()) << s;
      if (i % 4 == 3) Stabilize();
    }
    Stabilize();
  }

  void ExpectSameState() {
    const Replica& r1 = replica(1);
    for (uint64_t id = 2; id <= 3; ++id) {
      SCOPED_TRACE("replica " + std::to_string(id));
      const Replica& r = replica(id);
      EXPECT_EQ(r.applied, r1.applied);
      EXPECT_EQ(r.applied_data, r1.applied_data);
      EXPECT_EQ(r.storage->LastIndex(), r1.storage->LastIndex());
      EXPECT_EQ(r.storage->hard_state().commit, r1.storage->LastIndex());
    }
  }

 private:
  std::map<uint64_t, std::unique_ptr<Replica>> replicas_;
  std::deque<Message> queue_;
};

TEST(RocksDbRaftClusterTest, CommitsAndARestartedNodeCatchesUpByLogAndBySnapshot) {
  Cluster c;
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Stabilize();
  ASSERT_EQ(c.node(1).role(), raft::Role::kLeader);
  c.Propose(1, 20, "a");
  c.ExpectSameState();
  EXPECT_EQ(c.replica(2).applied_data.size(), 20u);

  // Node 3 crashes, misses entries, restarts from disk and catches up.
  c.Stop(3);
  c.Propose(1, 10, "b");
  c.Start(3);
  EXPECT_EQ(c.replica(3).storage->LastIndex(), LogIndex(21));  // no-op + 20, from disk
  c.TickAll(3);
  c.ExpectSameState();
  EXPECT_EQ(c.replica(3).applied_data.size(), 30u);

  // Again, but the others compact past it: it catches up by snapshot.
  c.Stop(3);
  c.Propose(1, 10, "c");
  for (uint64_t id : {1u, 2u}) {
    Replica& r = c.replica(id);
    ASSERT_TRUE(r.storage->Compact(r.applied - 2, Voters()).ok());
  }
  const LogIndex snap_index = c.replica(1).storage->FirstIndex() - 1;
  c.Start(3);
  c.TickAll(3);
  c.ExpectSameState();
  Replica& r3 = c.replica(3);
  EXPECT_EQ(r3.storage->snapshot_metadata().index, snap_index);
  EXPECT_EQ(r3.storage->FirstIndex(), snap_index + 1);
  EXPECT_EQ(r3.applied_data.size(), 40u);
  EXPECT_EQ(r3.applied_data.rbegin()->second, "c9");
  // And it comes back from disk once more with the snapshot in place.
  c.Stop(3);
  c.Start(3);
  EXPECT_EQ(c.replica(3).storage->FirstIndex(), snap_index + 1);
  c.Propose(1, 3, "d");
  c.TickAll(2);
  c.ExpectSameState();
}

}  // namespace
}  // namespace raftlog::broker
