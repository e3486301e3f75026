// RocksDbRaftStorage: value encodings (each sealed with a CRC-32C over key and
// value), opening and validating the database, the read path and the
// WriteBatch-per-Ready write path. See the header for layout and invariants.
#include "broker/rocksdb_raft_storage.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;
using raft::Term;

constexpr char kVersionKey[] = "format_version";
constexpr char kHardStateKey[] = "hard_state";
constexpr char kSnapshotKey[] = "snapshot";
constexpr size_t kCrcSize = 4;
constexpr size_t kMaxMembers = 1 << 16;  // Sanity bound on a ConfState's size.

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

uint32_t SealCrc(absl::string_view key, absl::string_view payload) {
  return storage::Crc32cExtend(storage::Crc32c(key.data(), key.size()), payload.data(),
                               payload.size());
}

// payload | crc32c(key | payload).
std::string Seal(absl::string_view key, std::string payload) {
  const uint32_t crc = SealCrc(key, payload);
  storage::AppendBigEndian<uint32_t>(payload, crc);
  return payload;
}

// A human-readable name of a key: the text for meta keys, the index for log keys.
std::string DescribeKey(absl::string_view family, absl::string_view key) {
  if (family == RocksDbRaftStorage::kLogFamily && key.size() == 8) {
    return absl::StrFormat("%s key %s (index %d)", family, absl::BytesToHexString(key),
                           storage::LoadBigEndianAt<uint64_t>(key, 0));
  }
  if (family == RocksDbRaftStorage::kLogFamily) {
    return absl::StrFormat("%s key %s", family, absl::BytesToHexString(key));
  }
  return absl::StrFormat("%s key '%s'", family, absl::CHexEscape(key));
}

absl::Status Corrupt(absl::string_view family, absl::string_view key, absl::string_view what) {
  return absl::DataLossError(
      absl::StrFormat("metastore: %s is corrupt: %s", DescribeKey(family, key), what));
}

// The payload of a sealed value, or DataLoss naming the key.
absl::StatusOr<absl::string_view> Unseal(absl::string_view family, absl::string_view key,
                                         absl::string_view value) {
  if (value.size() < kCrcSize) {
    return Corrupt(family, key, absl::StrFormat("value of %d bytes is too short", value.size()));
  }
  const absl::string_view payload = value.substr(0, value.size() - kCrcSize);
  const uint32_t stored = storage::LoadBigEndianAt<uint32_t>(value, payload.size());
  const uint32_t actual = SealCrc(key, payload);
  if (stored != actual) {
    return Corrupt(
        family, key,
        absl::StrFormat("checksum mismatch (stored %08x, computed %08x)", stored, actual));
  }
  return payload;
}

std::string EncodeEntryValue(const std::string& key, const raft::Entry& e) {
  std::string v;
  v.reserve(8 + 1 + e.data.size() + kCrcSize);
  storage::AppendBigEndian<uint64_t>(v, e.term.value());
  v.push_back(static_cast<char>(e.type));
  v.append(e.data);
  return Seal(key, std::move(v));
}

absl::StatusOr<raft::Entry> DecodeEntryValue(LogIndex index, absl::string_view key,
                                             absl::string_view value) {
  absl::StatusOr<absl::string_view> p = Unseal(RocksDbRaftStorage::kLogFamily, key, value);
  if (!p.ok()) return p.status();
  if (p->size() < 9) {
    return Corrupt(RocksDbRaftStorage::kLogFamily, key,
                   absl::StrFormat("entry of %d bytes is too short", p->size()));
  }
  const uint8_t type = static_cast<uint8_t>((*p)[8]);
  if (type > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
    return Corrupt(RocksDbRaftStorage::kLogFamily, key,
                   absl::StrFormat("unknown entry type %d", type));
  }
  raft::Entry e;
  e.index = index;
  e.term = Term(storage::LoadBigEndianAt<uint64_t>(*p, 0));
  e.type = static_cast<raft::EntryType>(type);
  const absl::string_view data = p->substr(9);
  e.data = std::string_view(data.data(), data.size());
  return e;
}

std::string EncodeVersion(uint32_t version) {
  std::string v;
  storage::AppendBigEndian<uint32_t>(v, version);
  return Seal(kVersionKey, std::move(v));
}

std::string EncodeHardState(const raft::HardState& hs) {
  std::string v;
  storage::AppendBigEndian<uint64_t>(v, hs.term.value());
  storage::AppendBigEndian<uint64_t>(v, hs.vote.value());
  storage::AppendBigEndian<uint64_t>(v, hs.commit.value());
  return Seal(kHardStateKey, std::move(v));
}

absl::StatusOr<raft::HardState> DecodeHardState(absl::string_view value) {
  absl::StatusOr<absl::string_view> p =
      Unseal(RocksDbRaftStorage::kMetaFamily, kHardStateKey, value);
  if (!p.ok()) return p.status();
  if (p->size() != 24) {
    return Corrupt(RocksDbRaftStorage::kMetaFamily, kHardStateKey,
                   absl::StrFormat("%d bytes, want 24", p->size()));
  }
  raft::HardState hs;
  hs.term = Term(storage::LoadBigEndianAt<uint64_t>(*p, 0));
  hs.vote = raft::NodeId(storage::LoadBigEndianAt<uint64_t>(*p, 8));
  hs.commit = LogIndex(storage::LoadBigEndianAt<uint64_t>(*p, 16));
  return hs;
}

std::string EncodeSnapshotMetadata(const raft::SnapshotMetadata& m) {
  std::string v;
  storage::AppendBigEndian<uint64_t>(v, m.index.value());
  storage::AppendBigEndian<uint64_t>(v, m.term.value());
  storage::AppendBigEndian<uint32_t>(v, static_cast<uint32_t>(m.conf_state.voters.size()));
  storage::AppendBigEndian<uint32_t>(v, static_cast<uint32_t>(m.conf_state.learners.size()));
  for (raft::NodeId id : m.conf_state.voters) storage::AppendBigEndian<uint64_t>(v, id.value());
  for (raft::NodeId id : m.conf_state.learners) storage::AppendBigEndian<uint64_t>(v, id.value());
  return Seal(kSnapshotKey, std::move(v));
}

absl::StatusOr<raft::SnapshotMetadata> DecodeSnapshotMetadata(absl::string_view value) {
  const absl::string_view family = RocksDbRaftStorage::kMetaFamily;
  absl::StatusOr<absl::string_view> p = Unseal(family, kSnapshotKey, value);
  if (!p.ok()) return p.status();
  if (p->size() < 24) {
    return Corrupt(family, kSnapshotKey, absl::StrFormat("%d bytes is too short", p->size()));
  }
  const uint64_t voters = storage::LoadBigEndianAt<uint32_t>(*p, 16);
  const uint64_t learners = storage::LoadBigEndianAt<uint32_t>(*p, 20);
  if (voters + learners > kMaxMembers || p->size() != 24 + 8 * (voters + learners)) {
    return Corrupt(family, kSnapshotKey,
                   absl::StrFormat("%d voters and %d learners do not fit %d bytes", voters,
                                   learners, p->size()));
  }
  raft::SnapshotMetadata m;
  m.index = LogIndex(storage::LoadBigEndianAt<uint64_t>(*p, 0));
  m.term = Term(storage::LoadBigEndianAt<uint64_t>(*p, 8));
  size_t pos = 24;
  for (uint64_t i = 0; i < voters; ++i, pos += 8) {
    m.conf_state.voters.push_back(raft::NodeId(storage::LoadBigEndianAt<uint64_t>(*p, pos)));
  }
  for (uint64_t i = 0; i < learners; ++i, pos += 8) {
    m.conf_state.learners.push_back(raft::NodeId(storage::LoadBigEndianAt<uint64_t>(*p, pos)));
  }
  return m;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view dir, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrFormat("metastore %s: %s: %s", dir, what, s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

// Checks what `dir` holds before RocksDB touches it. Sets *has_db if it holds
// a RocksDB database (a CURRENT file); an absent or empty dir is a new store.
absl::Status CheckDirectory(const std::string& dir, bool* has_db) {
  namespace fs = std::filesystem;
  std::error_code ec;
  *has_db = false;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::InternalError(absl::StrFormat("metastore %s: stat: %s", dir, ec.message()));
  }
  if (!fs::exists(st)) return absl::OkStatus();
  if (!fs::is_directory(st)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("metastore %s: exists and is not a directory", dir));
  }
  if (fs::exists(fs::path(dir) / "CURRENT", ec)) {
    *has_db = true;
    return absl::OkStatus();
  }
  const bool empty = fs::is_empty(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrFormat("metastore %s: list: %s", dir, ec.message()));
  }
  if (!empty) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "metastore %s: directory holds files but no RocksDB database (no CURRENT file); not a "
        "raftlog metastore",
        dir));
  }
  return absl::OkStatus();
}

bool HasAnyKey(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, absl::string_view dir,
               absl::Status* status) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  it->SeekToFirst();
  const bool any = it->Valid();
  if (!it->status().ok()) *status = FromRocks(it->status(), dir, "scan");
  return any;
}

}  // namespace

std::string RocksDbRaftStorage::LogKey(LogIndex index) {
  std::string k;
  storage::AppendBigEndian<uint64_t>(k, index.value());
  return k;
}

RocksDbRaftStorage::RocksDbRaftStorage(std::string dir, std::unique_ptr<rocksdb::DB> db,
                                       std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : dir_(std::move(dir)), db_(std::move(db)), handles_(std::move(handles)) {
  // Order of the descriptors passed to DB::Open.
  log_cf_ = handles_[1];
  meta_cf_ = handles_[2];
  state_cf_ = handles_[3];
}

RocksDbRaftStorage::~RocksDbRaftStorage() {
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    // Only fails for a handle of another DB; nothing to do about it here.
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles_.clear();
  db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<RocksDbRaftStorage>> RocksDbRaftStorage::Open(
    const std::string& dir, const raft::ConfState& initial_conf_state,
    const RocksDbRaftStorageOptions& options) {
  bool has_db = false;
  if (absl::Status s = CheckDirectory(dir, &has_db); !s.ok()) return s;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !has_db;
  // Also completes a creation that crashed before every family existed.
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  db_options.manual_wal_flush = false;  // Write() hands the WAL to the OS.
  db_options.keep_log_file_num = 4;

  const std::set<std::string> ours = {rocksdb::kDefaultColumnFamilyName, kLogFamily, kMetaFamily,
                                      kStateFamily};
  if (has_db) {
    std::vector<std::string> families;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, dir, &families);
    if (!s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("metastore %s: not a readable RocksDB database: %s", dir, s.ToString()));
    }
    for (const std::string& f : families) {
      if (!ours.contains(f)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "metastore %s: RocksDB database with column families [%s] is not a raftlog "
            "metastore (unexpected family '%s')",
            dir, absl::StrJoin(families, ", "), f));
      }
    }
  }

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = options.write_buffer_size;
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {kLogFamily, cf_options},
      {kMetaFamily, cf_options},
      {kStateFamily, cf_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &raw_db);
  if (!s.ok()) return FromRocks(s, dir, "open");
  std::unique_ptr<rocksdb::DB> db(raw_db);
  std::unique_ptr<RocksDbRaftStorage> store(
      new RocksDbRaftStorage(dir, std::move(db), std::move(handles)));
  if (absl::Status st = store->Load(initial_conf_state); !st.ok()) return st;
  return store;
}

absl::Status RocksDbRaftStorage::Load(const raft::ConfState& initial_conf_state) {
  const rocksdb::ReadOptions ro;
  std::string value;
  rocksdb::Status s = db_->Get(ro, meta_cf_, kVersionKey, &value);
  if (s.IsNotFound()) {
    // Only a store whose creation has just begun (or crashed before its
    // first batch) may lack the version; anything else is not ours.
    absl::Status scan;
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      if (HasAnyKey(db_.get(), h, dir_, &scan)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "metastore %s: column family '%s' holds data but %s '%s' is missing; not a raftlog "
            "metastore, or a damaged one",
            dir_, h->GetName(), kMetaFamily, kVersionKey));
      }
      if (!scan.ok()) return scan;
    }
    rocksdb::WriteBatch b;
    raft::SnapshotMetadata initial;
    initial.conf_state = initial_conf_state;
    b.Put(meta_cf_, kVersionKey, EncodeVersion(kFormatVersion));
    b.Put(meta_cf_, kHardStateKey, EncodeHardState(raft::HardState{}));
    b.Put(meta_cf_, kSnapshotKey, EncodeSnapshotMetadata(initial));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (absl::Status st = FromRocks(db_->Write(wo, &b), dir_, "initialise"); !st.ok()) return st;
    absl::MutexLock l(&mu_);
    first_ = LogIndex(1);
    last_ = LogIndex(0);
    hard_state_ = raft::HardState{};
    snapshot_ = initial;
    return absl::OkStatus();
  }
  if (!s.ok()) return FromRocks(s, dir_, "read format version");
  absl::StatusOr<absl::string_view> version = Unseal(kMetaFamily, kVersionKey, value);
  if (!version.ok()) return version.status();
  if (version->size() != 4) return Corrupt(kMetaFamily, kVersionKey, "want 4 bytes");
  if (const uint32_t v = storage::LoadBigEndianAt<uint32_t>(*version, 0); v != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("metastore %s: unsupported format version %d (this build reads %d)", dir_,
                        v, kFormatVersion));
  }

  s = db_->Get(ro, meta_cf_, kHardStateKey, &value);
  if (s.IsNotFound()) return Corrupt(kMetaFamily, kHardStateKey, "missing");
  if (!s.ok()) return FromRocks(s, dir_, "read hard state");
  absl::StatusOr<raft::HardState> hs = DecodeHardState(value);
  if (!hs.ok()) return hs.status();

  s = db_->Get(ro, meta_cf_, kSnapshotKey, &value);
  if (s.IsNotFound()) return Corrupt(kMetaFamily, kSnapshotKey, "missing");
  if (!s.ok()) return FromRocks(s, dir_, "read snapshot metadata");
  absl::StatusOr<raft::SnapshotMetadata> snap = DecodeSnapshotMetadata(value);
  if (!snap.ok()) return snap.status();

  LogIndex first = snap->index + 1;
  LogIndex last = snap->index;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_cf_));
  it->SeekToFirst();
  if (it->Valid()) {
    const absl::string_view k = View(it->key());
    if (k.size() != 8) return Corrupt(kLogFamily, k, "key is not 8 bytes");
    if (LogIndex(storage::LoadBigEndianAt<uint64_t>(k, 0)) != first) {
      return absl::DataLossError(absl::StrFormat(
          "metastore %s: the log starts at index %d but the snapshot covers up to %d", dir_,
          storage::LoadBigEndianAt<uint64_t>(k, 0), snap->index.value()));
    }
    it->SeekToLast();
    if (!it->Valid()) return FromRocks(it->status(), dir_, "seek to the last log entry");
    const absl::string_view lk = View(it->key());
    if (lk.size() != 8) return Corrupt(kLogFamily, lk, "key is not 8 bytes");
    last = LogIndex(storage::LoadBigEndianAt<uint64_t>(lk, 0));
  }
  if (!it->status().ok()) return FromRocks(it->status(), dir_, "scan the log");
  absl::MutexLock l(&mu_);
  first_ = first;
  last_ = last;
  hard_state_ = *hs;
  snapshot_ = *snap;
  return absl::OkStatus();
}

// ---- raft::LogStorage ----

absl::StatusOr<raft::InitialState> RocksDbRaftStorage::GetInitialState() const {
  absl::ReaderMutexLock l(&mu_);
  return raft::InitialState{hard_state_, snapshot_.conf_state};
}

LogIndex RocksDbRaftStorage::FirstIndex() const {
  absl::ReaderMutexLock l(&mu_);
  return first_;
}

LogIndex RocksDbRaftStorage::LastIndex() const {
  absl::ReaderMutexLock l(&mu_);
  return last_;
}

raft::HardState RocksDbRaftStorage::hard_state() const {
  absl::ReaderMutexLock l(&mu_);
  return hard_state_;
}

raft::SnapshotMetadata RocksDbRaftStorage::snapshot_metadata() const {
  absl::ReaderMutexLock l(&mu_);
  return snapshot_;
}

absl::StatusOr<raft::Entry> RocksDbRaftStorage::ReadEntry(const rocksdb::ReadOptions& ro,
                                                          LogIndex index) const {
  const std::string key = LogKey(index);
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(ro, log_cf_, key, &value);
  if (s.IsNotFound()) return Corrupt(kLogFamily, key, "entry is missing inside the log bounds");
  if (!s.ok()) return FromRocks(s, dir_, "read log entry");
  return DecodeEntryValue(index, key, View(value));
}

absl::StatusOr<std::vector<raft::Entry>> RocksDbRaftStorage::Entries(LogIndex lo, LogIndex hi,
                                                                     uint64_t max_bytes) const {
  // Declared before the iterator, which points to the bound until destroyed.
  const std::string upper = LogKey(hi);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it;
  {
    // The iterator's implicit snapshot is taken under the same lock as the
    // bounds, so both describe one committed batch.
    absl::ReaderMutexLock l(&mu_);
    if (lo < first_) return raft::StorageCompactedError();
    if (hi > last_ + 1) return raft::StorageUnavailableError();
    if (lo > hi) return absl::InvalidArgumentError("metastore raft storage: lo > hi");
    if (lo == hi) return std::vector<raft::Entry>{};
    it.reset(db_->NewIterator(ro, log_cf_));
  }
  std::vector<raft::Entry> out;
  uint64_t size = 0;
  LogIndex expected = lo;
  bool full = false;
  for (it->Seek(LogKey(lo)); it->Valid() && expected < hi; it->Next(), ++expected) {
    const std::string key = LogKey(expected);
    if (View(it->key()) != key) {
      return Corrupt(kLogFamily, key,
                     absl::StrFormat("entry is missing inside the log bounds (next key is %s)",
                                     absl::BytesToHexString(View(it->key()))));
    }
    absl::StatusOr<raft::Entry> e = DecodeEntryValue(expected, key, View(it->value()));
    if (!e.ok()) return e.status();
    size += raft::EntrySize(*e);
    if (!out.empty() && size > max_bytes) {
      full = true;
      break;
    }
    out.push_back(*std::move(e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), dir_, "read log entries");
  if (!full && expected < hi) {
    return Corrupt(kLogFamily, LogKey(expected), "entry is missing inside the log bounds");
  }
  return out;
}

absl::StatusOr<Term> RocksDbRaftStorage::TermAt(LogIndex i) const {
  // Reading under the lock keeps the bounds and the entry consistent; the
  // writer holds it only while committing a batch.
  absl::ReaderMutexLock l(&mu_);
  if (i + 1 < first_) return raft::StorageCompactedError();
  if (i > last_) return raft::StorageUnavailableError();
  if (i + 1 == first_) return snapshot_.term;
  absl::StatusOr<raft::Entry> e = ReadEntry(rocksdb::ReadOptions(), i);
  if (!e.ok()) return e.status();
  return e->term;
}

absl::StatusOr<raft::Snapshot> RocksDbRaftStorage::GetSnapshot() const {
  raft::Snapshot snap;
  SnapshotSource source;
  {
    absl::ReaderMutexLock l(&mu_);
    snap.metadata = snapshot_;
    source = source_;
  }
  if (snap.IsEmpty() || !source) return snap;
  absl::StatusOr<std::string> data = source(snap.metadata.index);
  if (!data.ok()) return data.status();
  snap.data = *std::move(data);
  return snap;
}

void RocksDbRaftStorage::SetSnapshotSource(SnapshotSource source) {
  absl::MutexLock l(&mu_);
  source_ = std::move(source);
}

void RocksDbRaftStorage::SetSnapshotSink(SnapshotSink sink) {
  absl::MutexLock l(&mu_);
  sink_ = std::move(sink);
}

// ---- GroupStorage ----

absl::Status RocksDbRaftStorage::WriteReady(const raft::Ready& rd) {
  if (!failed_.ok()) return failed_;
  const std::vector<raft::Entry>& entries = rd.entries;
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index != entries[i - 1].index + 1) {
      return absl::InvalidArgumentError("metastore raft storage: append of non-contiguous entries");
    }
  }
  LogIndex first, last;
  raft::SnapshotMetadata snap;
  SnapshotSink sink;
  {
    absl::ReaderMutexLock l(&mu_);
    first = first_;
    last = last_;
    snap = snapshot_;
    sink = sink_;
  }
  rocksdb::WriteBatch batch;
  if (rd.snapshot && !rd.snapshot->IsEmpty()) {
    const raft::SnapshotMetadata& m = rd.snapshot->metadata;
    if (m.index < snap.index) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "metastore raft storage: snapshot at %d is older than the current one at %d",
          m.index.value(), snap.index.value()));
    }
    if (sink) {
      if (absl::Status s = sink(*rd.snapshot); !s.ok()) return s;
    }
    batch.Put(meta_cf_, kSnapshotKey, EncodeSnapshotMetadata(m));
    // The core installs a snapshot only when its log lacks the snapshot's
    // entry (raft::Raft::Restore), so the whole log goes.
    if (last >= first) batch.DeleteRange(log_cf_, LogKey(first), LogKey(last + 1));
    snap = m;
    first = m.index + 1;
    last = m.index;
  }
  if (!entries.empty()) {
    size_t skip = 0;
    if (entries.front().index < first) {
      // Entries already covered by the snapshot are dropped.
      skip = std::min(entries.size(),
                      static_cast<size_t>(first.value() - entries.front().index.value()));
    }
    if (skip < entries.size()) {
      const LogIndex first_new = entries[skip].index;
      if (first_new > last + 1) {
        return absl::InvalidArgumentError(
            absl::StrFormat("metastore raft storage: append at %d leaves a gap after %d",
                            first_new.value(), last.value()));
      }
      if (first_new <= last) {
        // Conflict: the new entry replaces the one at its index and all later.
        batch.DeleteRange(log_cf_, LogKey(first_new), LogKey(last + 1));
      }
      for (size_t i = skip; i < entries.size(); ++i) {
        const std::string key = LogKey(entries[i].index);
        batch.Put(log_cf_, key, EncodeEntryValue(key, entries[i]));
      }
      last = entries.back().index;
    }
  }
  if (rd.hard_state) batch.Put(meta_cf_, kHardStateKey, EncodeHardState(*rd.hard_state));
  if (batch.Count() == 0) return absl::OkStatus();

  absl::MutexLock l(&mu_);
  rocksdb::WriteOptions wo;
  wo.sync = false;  // SyncReady syncs the WAL once for the whole round.
  if (absl::Status s = FromRocks(db_->Write(wo, &batch), dir_, "write ready"); !s.ok()) {
    failed_ = s;
    return s;
  }
  first_ = first;
  last_ = last;
  snapshot_ = snap;
  if (rd.hard_state) hard_state_ = *rd.hard_state;
  return absl::OkStatus();
}

absl::Status RocksDbRaftStorage::SyncReady() {
  if (!failed_.ok()) return failed_;
  // FlushWAL(true) = hand any buffered WAL to the OS, then fsync it.
  if (absl::Status s = FromRocks(db_->FlushWAL(/*sync=*/true), dir_, "sync WAL"); !s.ok()) {
    failed_ = s;  // Never retried: the kernel may have dropped the dirty pages.
    return s;
  }
  return absl::OkStatus();
}

absl::Status RocksDbRaftStorage::FinishReady(const raft::Ready& /*rd*/) {
  // The hard state went into WriteReady's batch, durable since SyncReady.
  return failed_;
}

absl::Status RocksDbRaftStorage::Compact(LogIndex index, const raft::ConfState& conf_state) {
  if (!failed_.ok()) return failed_;
  LogIndex first, last;
  {
    absl::ReaderMutexLock l(&mu_);
    first = first_;
    last = last_;
  }
  if (index < first || index > last) {
    return absl::OutOfRangeError(
        absl::StrFormat("metastore raft storage: compact to %d outside [%d, %d]", index.value(),
                        first.value(), last.value()));
  }
  absl::StatusOr<Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  const raft::SnapshotMetadata snap{index, *term, conf_state};
  rocksdb::WriteBatch batch;
  batch.Put(meta_cf_, kSnapshotKey, EncodeSnapshotMetadata(snap));
  batch.DeleteRange(log_cf_, LogKey(first), LogKey(index + 1));

  absl::MutexLock l(&mu_);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (absl::Status s = FromRocks(db_->Write(wo, &batch), dir_, "compact"); !s.ok()) {
    failed_ = s;
    return s;
  }
  first_ = index + 1;
  snapshot_ = snap;
  return absl::OkStatus();
}

}  // namespace raftlog::broker
