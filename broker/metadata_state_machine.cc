// MetadataStateMachine: command validation and application (one WriteBatch
// per log entry, applied index included), the read methods, the snapshot
// codec, and the pure helpers (names, configs, replica assignment). See the
// header for the key layout and invariants.
#include "broker/metadata_state_machine.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;

constexpr char kAppliedIndexKey[] = "applied_index";
constexpr char kBrokerPrefix[] = "broker/";
constexpr char kTopicPrefix[] = "topic/";
constexpr char kTopicIdPrefix[] = "topic_id/";
constexpr char kOffsetPrefix[] = "offset/";
constexpr char kCountersKey[] = "counters";

constexpr char kSnapshotMagic[] = "RLMDSNAP";  // 8 bytes, no terminator in the format.
constexpr size_t kMagicSize = 8;
constexpr uint32_t kSnapshotVersion = 1;
constexpr size_t kSnapshotHeaderSize = kMagicSize + 4 + 8 + 8;
constexpr size_t kCrcSize = 4;

constexpr char kRetentionMs[] = "retention.ms";
constexpr char kRetentionBytes[] = "retention.bytes";
constexpr char kSegmentBytes[] = "segment.bytes";
constexpr char kSegmentMs[] = "segment.ms";
constexpr char kCleanupPolicy[] = "cleanup.policy";
constexpr char kMaxMessageBytes[] = "max.message.bytes";

// ---------------------------------------------------------------- encoding

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }
rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Map fields make plain SerializeToString order-unstable; this is not.
std::string SerializeDeterministic(const google::protobuf::MessageLite& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  return out;
}

std::string Printable(absl::string_view key) { return absl::CHexEscape(key.substr(0, 80)); }

std::string BrokerKey(uint64_t node_id) {
  std::string k = kBrokerPrefix;
  storage::AppendBigEndian<uint64_t>(k, node_id);
  return k;
}
std::string TopicKey(absl::string_view name) { return absl::StrCat(kTopicPrefix, name); }
std::string TopicIdKey(absl::string_view id) { return absl::StrCat(kTopicIdPrefix, id); }
std::string OffsetGroupPrefix(absl::string_view group) {
  return absl::StrCat(kOffsetPrefix, group, absl::string_view("\0", 1));
}
std::string OffsetKey(absl::string_view group, absl::string_view topic, int32_t partition) {
  std::string k = absl::StrCat(OffsetGroupPrefix(group), topic, absl::string_view("\0", 1));
  storage::AppendBigEndian<uint32_t>(k, static_cast<uint32_t>(partition));
  return k;
}
std::string AppliedIndexValue(uint64_t index) {
  std::string v;
  storage::AppendBigEndian<uint64_t>(v, index);
  return v;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) return absl::DataLossError(absl::StrCat(what, ": ", s.ToString()));
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

// ---------------------------------------------------------------- reads

// Reads the raw value under `key`; nullopt if absent.
absl::StatusOr<std::optional<std::string>> GetRaw(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                  absl::string_view key) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, absl::StrCat("metadata state: reading key ", Printable(key)));
  return value;
}

template <typename T>
absl::StatusOr<T> ParseRecord(absl::string_view key, absl::string_view value) {
  T record;
  if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("metadata state: damaged ", record.GetTypeName(),
                                            " record under key ", Printable(key)));
  }
  return record;
}

template <typename T>
absl::StatusOr<std::optional<T>> GetRecord(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                           absl::string_view key) {
  absl::StatusOr<std::optional<std::string>> raw = GetRaw(db, cf, key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  absl::StatusOr<T> record = ParseRecord<T>(key, **raw);
  if (!record.ok()) return record.status();
  return std::optional<T>(*std::move(record));
}

// Calls fn(key, value) for every key starting with `prefix`, in key order,
// from one consistent view (`ro` may carry a RocksDB snapshot).
template <typename Fn>
absl::Status ScanPrefix(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, absl::string_view prefix,
                        Fn&& fn, const rocksdb::ReadOptions& ro = rocksdb::ReadOptions()) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    absl::string_view key = View(it->key());
    if (!absl::StartsWith(key, prefix)) break;
    if (absl::Status st = fn(key, View(it->value())); !st.ok()) return st;
  }
  return FromRocks(it->status(), absl::StrCat("metadata state: scanning ", Printable(prefix)));
}

template <typename T>
absl::StatusOr<std::vector<T>> ScanRecords(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                           absl::string_view prefix) {
  std::vector<T> out;
  absl::Status st = ScanPrefix(db, cf, prefix, [&](absl::string_view k, absl::string_view v) {
    absl::StatusOr<T> record = ParseRecord<T>(k, v);
    if (!record.ok()) return record.status();
    out.push_back(*std::move(record));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<uint64_t> ParseAppliedIndex(absl::string_view value) {
  if (value.size() != 8) {
    return absl::DataLossError(
        absl::StrFormat("metadata state: applied_index value has %d bytes, want 8", value.size()));
  }
  return storage::LoadBigEndianAt<uint64_t>(value, 0);
}

absl::StatusOr<mdpb::Counters> LoadCounters(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  absl::StatusOr<std::optional<mdpb::Counters>> c = GetRecord<mdpb::Counters>(db, cf, kCountersKey);
  if (!c.ok()) return c.status();
  if (c->has_value()) return **c;
  mdpb::Counters fresh;
  fresh.set_next_producer_id(0);
  fresh.set_next_partition_group_id(1);
  return fresh;
}

// ---------------------------------------------------------------- validation

// Plain decimal int64: optional '-', digits, no spaces, no '+', no overflow.
std::optional<int64_t> ParseStrictInt64(absl::string_view s) {
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  const uint64_t limit =
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0);
  if (v > limit) return std::nullopt;
  if (negative) return v == limit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(v);
  return static_cast<int64_t>(v);
}

bool IsKnownConfigKey(absl::string_view key) {
  return DefaultTopicConfigs().count(std::string(key)) > 0;
}

absl::Status UnknownConfigKey(absl::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown topic config key \"", Printable(key),
      "\" (supported: cleanup.policy, max.message.bytes, retention.bytes, retention.ms, "
      "segment.bytes, segment.ms)"));
}

absl::Status ValidateGroupId(absl::string_view group) {
  if (group.empty()) return absl::InvalidArgumentError("consumer group id is empty");
  if (group.size() > kMaxGroupIdLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "consumer group id has %d bytes, at most %d allowed", group.size(), kMaxGroupIdLength));
  }
  if (group.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("consumer group id contains a NUL byte");
  }
  return absl::OkStatus();
}

// Checks an assignment for partitions [first, first + count) of a topic with
// replication factor `rf`: one entry per partition, rf distinct registered
// replicas each.
absl::Status ValidateAssignment(
    const google::protobuf::RepeatedPtrField<mdpb::PartitionAssignment>& assignment, int32_t first,
    int32_t count, int32_t rf, const std::set<uint64_t>& registered) {
  if (assignment.size() != count) {
    return absl::InvalidArgumentError(
        absl::StrFormat("replica assignment has %d partitions, want %d (partitions %d..%d)",
                        assignment.size(), count, first, first + count - 1));
  }
  std::set<int32_t> seen;
  for (const mdpb::PartitionAssignment& a : assignment) {
    if (a.partition() < first || a.partition() >= first + count) {
      return absl::InvalidArgumentError(
          absl::StrFormat("replica assignment names partition %d, outside %d..%d", a.partition(),
                          first, first + count - 1));
    }
    if (!seen.insert(a.partition()).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("replica assignment names partition %d twice", a.partition()));
    }
    if (a.replicas_size() != rf) {
      return absl::InvalidArgumentError(
          absl::StrFormat("partition %d has %d replicas, replication factor is %d", a.partition(),
                          a.replicas_size(), rf));
    }
    std::set<uint64_t> replicas;
    for (uint64_t r : a.replicas()) {
      if (!replicas.insert(r).second) {
        return absl::InvalidArgumentError(
            absl::StrFormat("partition %d lists broker %d twice", a.partition(), r));
      }
      if (registered.count(r) == 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "partition %d is assigned to broker %d, which is not registered", a.partition(), r));
      }
    }
  }
  return absl::OkStatus();
}

// Appends the partitions of `assignment` (validated) to `topic` in partition
// order, allocating each a Raft group id from `counters`.
void AddPartitions(const google::protobuf::RepeatedPtrField<mdpb::PartitionAssignment>& assignment,
                   mdpb::Topic& topic, mdpb::Counters& counters) {
  std::vector<const mdpb::PartitionAssignment*> sorted;
  for (const mdpb::PartitionAssignment& a : assignment) sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->partition() < b->partition(); });
  for (const mdpb::PartitionAssignment* a : sorted) {
    mdpb::Partition* p = topic.add_partitions();
    p->set_partition(a->partition());
    *p->mutable_replicas() = a->replicas();
    p->set_group_id(counters.next_partition_group_id());
    counters.set_next_partition_group_id(counters.next_partition_group_id() + 1);
  }
  topic.set_partition_count(topic.partitions_size());
}

// ---------------------------------------------------------------- apply

// Applies one decoded command. The returned Status is an infrastructure
// failure; a deterministic rejection goes into result.status with nothing
// added to the batch.
class Applier {
 public:
  Applier(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, LogIndex index,
          rocksdb::WriteBatch& batch, ApplyResult& result)
      : db_(db), cf_(cf), index_(index), batch_(batch), result_(result) {}

  absl::Status Run(const mdpb::MetadataCommand& cmd) {
    switch (cmd.command_case()) {
      case mdpb::MetadataCommand::kRegisterBroker:
        return RegisterBroker(cmd.register_broker());
      case mdpb::MetadataCommand::kBrokerHeartbeat:
        return BrokerHeartbeat(cmd.broker_heartbeat());
      case mdpb::MetadataCommand::kFenceBroker:
        return FenceBroker(cmd.fence_broker());
      case mdpb::MetadataCommand::kCreateTopic:
        return CreateTopic(cmd.create_topic());
      case mdpb::MetadataCommand::kDeleteTopic:
        return DeleteTopic(cmd.delete_topic());
      case mdpb::MetadataCommand::kAlterTopicConfig:
        return AlterTopicConfig(cmd.alter_topic_config());
      case mdpb::MetadataCommand::kCreatePartitions:
        return CreatePartitions(cmd.create_partitions());
      case mdpb::MetadataCommand::kCommitOffsets:
        return CommitOffsets(cmd.commit_offsets());
      case mdpb::MetadataCommand::kAllocateProducerIds:
        return AllocateProducerIds(cmd.allocate_producer_ids());
      case mdpb::MetadataCommand::kDeleteGroupOffsets:
        return DeleteGroupOffsets(cmd.delete_group_offsets());
      case mdpb::MetadataCommand::COMMAND_NOT_SET:
        break;
    }
    return Reject(absl::InvalidArgumentError("metadata command has no command set"));
  }

 private:
  absl::Status Reject(absl::Status why) {
    result_.status = std::move(why);
    return absl::OkStatus();
  }

  void Put(absl::string_view key, const google::protobuf::MessageLite& record) {
    batch_.Put(cf_, ToSlice(key), SerializeDeterministic(record));
  }

  absl::StatusOr<std::optional<mdpb::Broker>> GetBroker(uint64_t node_id) {
    return GetRecord<mdpb::Broker>(db_, cf_, BrokerKey(node_id));
  }
  absl::StatusOr<std::optional<mdpb::Topic>> GetTopic(absl::string_view name) {
    return GetRecord<mdpb::Topic>(db_, cf_, TopicKey(name));
  }

  // Registered broker ids, and how many of them are unfenced.
  absl::Status LoadBrokers(std::set<uint64_t>& registered, int64_t& live) {
    absl::StatusOr<std::vector<mdpb::Broker>> brokers =
        ScanRecords<mdpb::Broker>(db_, cf_, kBrokerPrefix);
    if (!brokers.ok()) return brokers.status();
    live = 0;
    for (const mdpb::Broker& b : *brokers) {
      registered.insert(b.node_id());
      if (!b.fenced()) ++live;
    }
    return absl::OkStatus();
  }

  absl::Status RegisterBroker(const mdpb::RegisterBroker& c) {
    if (c.node_id() == 0) return Reject(absl::InvalidArgumentError("broker node id must be >= 1"));
    if (c.addresses().empty()) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("broker %d registers with no address", c.node_id())));
    }
    for (const std::string& a : c.addresses()) {
      if (a.empty()) {
        return Reject(absl::InvalidArgumentError(
            absl::StrFormat("broker %d registers with an empty address", c.node_id())));
      }
    }
    if (c.time_ms() < 0) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("broker %d registers with time_ms %d < 0", c.node_id(), c.time_ms())));
    }
    mdpb::Broker b;
    b.set_node_id(c.node_id());
    *b.mutable_addresses() = c.addresses();
    b.set_fenced(false);
    b.set_last_heartbeat_ms(c.time_ms());
    b.set_epoch(index_.value());
    Put(BrokerKey(b.node_id()), b);
    result_.broker = std::move(b);
    return absl::OkStatus();
  }

  // Loads a registered broker for a heartbeat or fence, checking the epoch.
  absl::StatusOr<std::optional<mdpb::Broker>> BrokerForUpdate(uint64_t node_id, uint64_t epoch,
                                                              absl::string_view what) {
    absl::StatusOr<std::optional<mdpb::Broker>> b = GetBroker(node_id);
    if (!b.ok()) return b.status();
    if (!b->has_value()) {
      result_.status =
          absl::NotFoundError(absl::StrFormat("%s: broker %d is not registered", what, node_id));
      return std::nullopt;
    }
    if (epoch != 0 && epoch != (*b)->epoch()) {
      result_.status = absl::FailedPreconditionError(
          absl::StrFormat("%s: stale broker epoch %d for broker %d (current %d)", what, epoch,
                          node_id, (*b)->epoch()));
      return std::nullopt;
    }
    return b;
  }

  absl::Status BrokerHeartbeat(const mdpb::BrokerHeartbeat& c) {
    if (c.time_ms() < 0) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("heartbeat of broker %d has time_ms %d < 0", c.node_id(), c.time_ms())));
    }
    absl::StatusOr<std::optional<mdpb::Broker>> b =
        BrokerForUpdate(c.node_id(), c.broker_epoch(), "heartbeat");
    if (!b.ok()) return b.status();
    if (!b->has_value()) return absl::OkStatus();
    mdpb::Broker& broker = **b;
    broker.set_fenced(false);
    broker.set_last_heartbeat_ms(std::max(broker.last_heartbeat_ms(), c.time_ms()));
    Put(BrokerKey(broker.node_id()), broker);
    result_.broker = std::move(broker);
    return absl::OkStatus();
  }

  absl::Status FenceBroker(const mdpb::FenceBroker& c) {
    absl::StatusOr<std::optional<mdpb::Broker>> b =
        BrokerForUpdate(c.node_id(), c.broker_epoch(), "fence");
    if (!b.ok()) return b.status();
    if (!b->has_value()) return absl::OkStatus();
    mdpb::Broker& broker = **b;
    broker.set_fenced(true);
    Put(BrokerKey(broker.node_id()), broker);
    result_.broker = std::move(broker);
    return absl::OkStatus();
  }

  absl::Status CreateTopic(const mdpb::CreateTopic& c) {
    if (absl::Status st = ValidateTopicName(c.name()); !st.ok()) return Reject(st);
    absl::StatusOr<std::optional<mdpb::Topic>> existing = GetTopic(c.name());
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return Reject(
          absl::AlreadyExistsError(absl::StrCat("topic \"", c.name(), "\" already exists")));
    }
    if (c.topic_id().size() != kTopicIdBytes) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("topic id of \"%s\" has %d bytes, want %d", c.name(), c.topic_id().size(),
                          kTopicIdBytes)));
    }
    if (c.topic_id() == std::string(kTopicIdBytes, '\0')) {
      return Reject(
          absl::InvalidArgumentError(absl::StrCat("topic id of \"", c.name(), "\" is all zero")));
    }
    absl::StatusOr<std::optional<std::string>> id_owner =
        GetRaw(db_, cf_, TopicIdKey(c.topic_id()));
    if (!id_owner.ok()) return id_owner.status();
    if (id_owner->has_value()) {
      return Reject(
          absl::AlreadyExistsError(absl::StrCat("topic id ", absl::BytesToHexString(c.topic_id()),
                                                " is already used by topic \"", **id_owner, "\"")));
    }
    if (c.partitions() < 1 || c.partitions() > kMaxPartitionsPerTopic) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("topic \"%s\": partitions must be in 1..%d, got %d", c.name(),
                          kMaxPartitionsPerTopic, c.partitions())));
    }
    std::set<uint64_t> registered;
    int64_t live = 0;
    if (absl::Status st = LoadBrokers(registered, live); !st.ok()) return st;
    if (c.replication_factor() < 1) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("topic \"%s\": replication factor must be >= 1, got %d", c.name(),
                          c.replication_factor())));
    }
    if (c.replication_factor() > live) {
      return Reject(absl::InvalidArgumentError(absl::StrFormat(
          "topic \"%s\": replication factor %d exceeds the %d live (registered, unfenced) brokers",
          c.name(), c.replication_factor(), live)));
    }
    for (const auto& [key, value] : c.configs()) {
      if (absl::Status st = ValidateTopicConfig(key, value); !st.ok()) return Reject(st);
    }
    if (absl::Status st = ValidateAssignment(c.assignment(), 0, c.partitions(),
                                             c.replication_factor(), registered);
        !st.ok()) {
      return Reject(
          absl::InvalidArgumentError(absl::StrCat("topic \"", c.name(), "\": ", st.message())));
    }
    absl::StatusOr<mdpb::Counters> counters = LoadCounters(db_, cf_);
    if (!counters.ok()) return counters.status();

    mdpb::Topic t;
    t.set_name(c.name());
    t.set_topic_id(c.topic_id());
    t.set_replication_factor(c.replication_factor());
    *t.mutable_configs() = c.configs();
    t.set_created_index(index_.value());
    AddPartitions(c.assignment(), t, *counters);
    Put(TopicKey(t.name()), t);
    batch_.Put(cf_, ToSlice(TopicIdKey(t.topic_id())), ToSlice(t.name()));
    Put(kCountersKey, *counters);
    result_.topic = std::move(t);
    return absl::OkStatus();
  }

  absl::Status DeleteTopic(const mdpb::DeleteTopic& c) {
    absl::StatusOr<std::optional<mdpb::Topic>> t = GetTopic(c.name());
    if (!t.ok()) return t.status();
    if (!t->has_value()) {
      return Reject(
          absl::NotFoundError(absl::StrCat("delete: unknown topic \"", Printable(c.name()), "\"")));
    }
    batch_.Delete(cf_, ToSlice(TopicKey(c.name())));
    batch_.Delete(cf_, ToSlice(TopicIdKey((*t)->topic_id())));
    // Committed offsets of the topic go with it (a later topic of the same
    // name starts with none). Offsets are keyed by group first: full scan.
    absl::Status st =
        ScanPrefix(db_, cf_, kOffsetPrefix, [&](absl::string_view k, absl::string_view) {
          // k = "offset/" group \0 topic \0 u32
          absl::string_view rest = k.substr(sizeof(kOffsetPrefix) - 1);
          size_t nul = rest.find('\0');
          if (nul == absl::string_view::npos || rest.size() < nul + 1 + 5) {
            return absl::DataLossError(
                absl::StrCat("metadata state: malformed offset key ", Printable(k)));
          }
          absl::string_view topic = rest.substr(nul + 1, rest.size() - nul - 1 - 5);
          if (topic == c.name()) batch_.Delete(cf_, ToSlice(k));
          return absl::OkStatus();
        });
    return st;
  }

  absl::Status AlterTopicConfig(const mdpb::AlterTopicConfig& c) {
    absl::StatusOr<std::optional<mdpb::Topic>> t = GetTopic(c.name());
    if (!t.ok()) return t.status();
    if (!t->has_value()) {
      return Reject(absl::NotFoundError(
          absl::StrCat("alter config: unknown topic \"", Printable(c.name()), "\"")));
    }
    for (const auto& [key, value] : c.set()) {
      if (absl::Status st = ValidateTopicConfig(key, value); !st.ok()) return Reject(st);
    }
    for (const std::string& key : c.delete_keys()) {
      if (!IsKnownConfigKey(key)) return Reject(UnknownConfigKey(key));
      if (c.set().count(key) > 0) {
        return Reject(absl::InvalidArgumentError(
            absl::StrCat("alter config: key \"", key, "\" is both set and deleted")));
      }
    }
    mdpb::Topic& topic = **t;
    for (const std::string& key : c.delete_keys()) topic.mutable_configs()->erase(key);
    for (const auto& [key, value] : c.set()) (*topic.mutable_configs())[key] = value;
    Put(TopicKey(topic.name()), topic);
    result_.topic = std::move(topic);
    return absl::OkStatus();
  }

  absl::Status CreatePartitions(const mdpb::CreatePartitions& c) {
    absl::StatusOr<std::optional<mdpb::Topic>> t = GetTopic(c.name());
    if (!t.ok()) return t.status();
    if (!t->has_value()) {
      return Reject(absl::NotFoundError(
          absl::StrCat("create partitions: unknown topic \"", Printable(c.name()), "\"")));
    }
    mdpb::Topic& topic = **t;
    const int32_t current = topic.partition_count();
    if (c.new_total() <= current) {
      return Reject(absl::InvalidArgumentError(absl::StrFormat(
          "topic \"%s\": new partition count %d must be greater than the current %d", c.name(),
          c.new_total(), current)));
    }
    if (c.new_total() > kMaxPartitionsPerTopic) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("topic \"%s\": new partition count %d exceeds the maximum %d", c.name(),
                          c.new_total(), kMaxPartitionsPerTopic)));
    }
    std::set<uint64_t> registered;
    int64_t live = 0;
    if (absl::Status st = LoadBrokers(registered, live); !st.ok()) return st;
    if (absl::Status st = ValidateAssignment(c.assignment(), current, c.new_total() - current,
                                             topic.replication_factor(), registered);
        !st.ok()) {
      return Reject(
          absl::InvalidArgumentError(absl::StrCat("topic \"", c.name(), "\": ", st.message())));
    }
    absl::StatusOr<mdpb::Counters> counters = LoadCounters(db_, cf_);
    if (!counters.ok()) return counters.status();
    AddPartitions(c.assignment(), topic, *counters);
    Put(TopicKey(topic.name()), topic);
    Put(kCountersKey, *counters);
    result_.topic = std::move(topic);
    return absl::OkStatus();
  }

  absl::Status CommitOffsets(const mdpb::CommitOffsets& c) {
    if (absl::Status st = ValidateGroupId(c.group()); !st.ok()) return Reject(st);
    if (c.entries().empty()) {
      return Reject(absl::InvalidArgumentError(
          absl::StrCat("offset commit of group \"", Printable(c.group()), "\" has no entries")));
    }
    if (c.time_ms() < 0) {
      return Reject(absl::InvalidArgumentError(
          absl::StrFormat("offset commit has time_ms %d < 0", c.time_ms())));
    }
    std::map<std::string, int32_t> partition_counts;  // Topics seen so far.
    std::set<std::pair<std::string, int32_t>> seen;
    for (const mdpb::OffsetCommitEntry& e : c.entries()) {
      auto it = partition_counts.find(e.topic());
      if (it == partition_counts.end()) {
        absl::StatusOr<std::optional<mdpb::Topic>> t = GetTopic(e.topic());
        if (!t.ok()) return t.status();
        if (!t->has_value()) {
          return Reject(absl::NotFoundError(
              absl::StrCat("offset commit: unknown topic \"", Printable(e.topic()), "\"")));
        }
        it = partition_counts.emplace(e.topic(), (*t)->partition_count()).first;
      }
      if (e.partition() < 0 || e.partition() >= it->second) {
        return Reject(absl::NotFoundError(
            absl::StrFormat("offset commit: topic \"%s\" has no partition %d (it has %d)",
                            e.topic(), e.partition(), it->second)));
      }
      if (e.offset() < 0) {
        return Reject(absl::InvalidArgumentError(
            absl::StrFormat("offset commit: offset %d for %s-%d is negative", e.offset(), e.topic(),
                            e.partition())));
      }
      if (e.metadata().size() > kMaxOffsetMetadataBytes) {
        return Reject(absl::InvalidArgumentError(absl::StrFormat(
            "offset commit: metadata for %s-%d has %d bytes, at most %d allowed", e.topic(),
            e.partition(), e.metadata().size(), kMaxOffsetMetadataBytes)));
      }
      if (!seen.emplace(e.topic(), e.partition()).second) {
        return Reject(absl::InvalidArgumentError(
            absl::StrFormat("offset commit: %s-%d appears twice", e.topic(), e.partition())));
      }
    }
    for (const mdpb::OffsetCommitEntry& e : c.entries()) {
      mdpb::CommittedOffset o;
      o.set_group(c.group());
      o.set_topic(e.topic());
      o.set_partition(e.partition());
      o.set_offset(e.offset());
      o.set_metadata(e.metadata());
      o.set_commit_time_ms(c.time_ms());
      o.set_generation(c.generation());
      Put(OffsetKey(c.group(), e.topic(), e.partition()), o);
    }
    return absl::OkStatus();
  }

  // Every key under the group's prefix goes, in this entry's batch; the keys
  // are read from the state before the batch, which is the state as of the
  // previous entry, so every replica deletes the same keys.
  absl::Status DeleteGroupOffsets(const mdpb::DeleteGroupOffsets& c) {
    if (absl::Status st = ValidateGroupId(c.group()); !st.ok()) return Reject(st);
    int64_t deleted = 0;
    absl::Status st = ScanPrefix(db_, cf_, OffsetGroupPrefix(c.group()),
                                 [&](absl::string_view k, absl::string_view) {
                                   batch_.Delete(cf_, ToSlice(k));
                                   ++deleted;
                                   return absl::OkStatus();
                                 });
    if (!st.ok()) return st;
    result_.deleted_offsets = deleted;
    return absl::OkStatus();
  }

  absl::Status AllocateProducerIds(const mdpb::AllocateProducerIds& c) {
    if (c.count() < 1 || c.count() > kMaxProducerIdBlock) {
      return Reject(absl::InvalidArgumentError(absl::StrFormat(
          "producer id block size must be in 1..%d, got %d", kMaxProducerIdBlock, c.count())));
    }
    absl::StatusOr<mdpb::Counters> counters = LoadCounters(db_, cf_);
    if (!counters.ok()) return counters.status();
    const int64_t first = counters->next_producer_id();
    if (first < 0 || first > std::numeric_limits<int64_t>::max() - c.count()) {
      return Reject(absl::ResourceExhaustedError("producer ids are exhausted"));
    }
    counters->set_next_producer_id(first + c.count());
    Put(kCountersKey, *counters);
    mdpb::ProducerIdBlock block;
    block.set_first(first);
    block.set_count(c.count());
    result_.producer_ids = std::move(block);
    return absl::OkStatus();
  }

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const LogIndex index_;
  rocksdb::WriteBatch& batch_;
  ApplyResult& result_;
};

// ---------------------------------------------------------------- snapshots

struct ParsedSnapshot {
  uint64_t applied_index = 0;
  std::vector<std::pair<absl::string_view, absl::string_view>> entries;  // Into the input.
};

absl::StatusOr<ParsedSnapshot> ParseSnapshot(absl::string_view s) {
  if (s.size() < kSnapshotHeaderSize + kCrcSize) {
    return absl::DataLossError(
        absl::StrFormat("metadata snapshot: %d bytes, shorter than its header", s.size()));
  }
  const uint32_t stored_crc = storage::LoadBigEndianAt<uint32_t>(s, s.size() - kCrcSize);
  const absl::string_view body = s.substr(0, s.size() - kCrcSize);
  if (storage::Crc32c(body.data(), body.size()) != stored_crc) {
    return absl::DataLossError("metadata snapshot: checksum mismatch");
  }
  if (body.substr(0, kMagicSize) != absl::string_view(kSnapshotMagic, kMagicSize)) {
    return absl::DataLossError("metadata snapshot: bad magic (not a metadata snapshot)");
  }
  const uint32_t version = storage::LoadBigEndianAt<uint32_t>(body, kMagicSize);
  if (version != kSnapshotVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "metadata snapshot: unsupported version %d (want %d)", version, kSnapshotVersion));
  }
  ParsedSnapshot out;
  out.applied_index = storage::LoadBigEndianAt<uint64_t>(body, kMagicSize + 4);
  const uint64_t count = storage::LoadBigEndianAt<uint64_t>(body, kMagicSize + 12);
  size_t pos = kSnapshotHeaderSize;
  // Each entry takes at least 8 bytes: bounds count before reserving.
  if (count > (body.size() - pos) / 8) {
    return absl::DataLossError(absl::StrFormat(
        "metadata snapshot: %d entries cannot fit in %d bytes", count, body.size() - pos));
  }
  out.entries.reserve(count);
  auto read_chunk = [&](absl::string_view what, uint64_t i) -> absl::StatusOr<absl::string_view> {
    if (body.size() - pos < 4) {
      return absl::DataLossError(
          absl::StrFormat("metadata snapshot: entry %d: truncated %s length", i, what));
    }
    const uint32_t len = storage::LoadBigEndianAt<uint32_t>(body, pos);
    pos += 4;
    if (body.size() - pos < len) {
      return absl::DataLossError(
          absl::StrFormat("metadata snapshot: entry %d: %s of %d bytes overruns", i, what, len));
    }
    absl::string_view chunk = body.substr(pos, len);
    pos += len;
    return chunk;
  };
  std::optional<uint64_t> applied_in_entries;
  for (uint64_t i = 0; i < count; ++i) {
    absl::StatusOr<absl::string_view> key = read_chunk("key", i);
    if (!key.ok()) return key.status();
    absl::StatusOr<absl::string_view> value = read_chunk("value", i);
    if (!value.ok()) return value.status();
    if (!out.entries.empty() && !(out.entries.back().first < *key)) {
      return absl::DataLossError(
          absl::StrFormat("metadata snapshot: entry %d: keys not strictly ascending", i));
    }
    if (*key == kAppliedIndexKey) {
      absl::StatusOr<uint64_t> applied = ParseAppliedIndex(*value);
      if (!applied.ok()) return applied.status();
      applied_in_entries = *applied;
    }
    out.entries.emplace_back(*key, *value);
  }
  if (pos != body.size()) {
    return absl::DataLossError(absl::StrFormat(
        "metadata snapshot: %d trailing bytes after %d entries", body.size() - pos, count));
  }
  if (applied_in_entries.value_or(0) != out.applied_index) {
    return absl::DataLossError(
        absl::StrFormat("metadata snapshot: header applied index %d disagrees with its state (%d)",
                        out.applied_index, applied_in_entries.value_or(0)));
  }
  return out;
}

}  // namespace

// ==================================================================== public

absl::StatusOr<std::unique_ptr<MetadataStateMachine>> MetadataStateMachine::Open(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* state_cf) {
  if (db == nullptr || state_cf == nullptr) {
    return absl::InvalidArgumentError("MetadataStateMachine::Open: null database or family");
  }
  absl::StatusOr<std::optional<std::string>> raw = GetRaw(db, state_cf, kAppliedIndexKey);
  if (!raw.ok()) return raw.status();
  uint64_t applied = 0;
  if (raw->has_value()) {
    absl::StatusOr<uint64_t> parsed = ParseAppliedIndex(**raw);
    if (!parsed.ok()) return parsed.status();
    applied = *parsed;
  }
  return std::make_unique<MetadataStateMachine>(PrivateTag(), db, state_cf, applied);
}

MetadataStateMachine::MetadataStateMachine(PrivateTag, rocksdb::DB* db,
                                           rocksdb::ColumnFamilyHandle* state_cf, uint64_t applied)
    : db_(db), cf_(state_cf), applied_index_(applied) {}

absl::StatusOr<ApplyResult> MetadataStateMachine::Apply(LogIndex index,
                                                        const std::string& command_bytes) {
  ApplyResult result;
  result.index = index;
  if (index.value() <= applied_index_.load()) {
    result.already_applied = true;
    return result;
  }
  rocksdb::WriteBatch batch;
  mdpb::MetadataCommand cmd;
  if (!cmd.ParseFromString(command_bytes)) {
    result.status = absl::InvalidArgumentError(
        absl::StrFormat("log entry %d: %d bytes that are not a MetadataCommand", index.value(),
                        command_bytes.size()));
  } else {
    Applier applier(db_, cf_, index, batch, result);
    if (absl::Status st = applier.Run(cmd); !st.ok()) return st;
  }
  if (!result.status.ok()) {
    // A rejected command changes nothing but the applied index.
    batch.Clear();
    result.topic.reset();
    result.broker.reset();
    result.producer_ids.reset();
    result.deleted_offsets.reset();
  }
  batch.Put(cf_, kAppliedIndexKey, AppliedIndexValue(index.value()));
  rocksdb::WriteOptions wo;
  wo.sync = false;
  if (absl::Status st =
          FromRocks(db_->Write(wo, &batch),
                    absl::StrFormat("metadata state: writing log entry %d", index.value()));
      !st.ok()) {
    return st;
  }
  applied_index_.store(index.value());
  return result;
}

absl::StatusOr<std::vector<mdpb::Topic>> MetadataStateMachine::ListTopics() const {
  return ScanRecords<mdpb::Topic>(db_, cf_, kTopicPrefix);
}

absl::StatusOr<mdpb::Topic> MetadataStateMachine::GetTopic(absl::string_view name) const {
  absl::StatusOr<std::optional<mdpb::Topic>> t = GetRecord<mdpb::Topic>(db_, cf_, TopicKey(name));
  if (!t.ok()) return t.status();
  if (!t->has_value()) {
    return absl::NotFoundError(absl::StrCat("unknown topic \"", Printable(name), "\""));
  }
  return **t;
}

absl::StatusOr<std::vector<mdpb::Broker>> MetadataStateMachine::ListBrokers() const {
  return ScanRecords<mdpb::Broker>(db_, cf_, kBrokerPrefix);
}

absl::StatusOr<std::vector<mdpb::CommittedOffset>> MetadataStateMachine::GetCommittedOffsets(
    absl::string_view group) const {
  if (absl::Status st = ValidateGroupId(group); !st.ok()) return st;
  return ScanRecords<mdpb::CommittedOffset>(db_, cf_, OffsetGroupPrefix(group));
}

absl::StatusOr<std::vector<CommittedGroup>> MetadataStateMachine::ListCommittedGroups() const {
  // Keys sort by group first, so one group's offsets are consecutive.
  std::vector<CommittedGroup> groups;
  absl::Status st =
      ScanPrefix(db_, cf_, kOffsetPrefix, [&](absl::string_view k, absl::string_view v) {
        absl::StatusOr<mdpb::CommittedOffset> o = ParseRecord<mdpb::CommittedOffset>(k, v);
        if (!o.ok()) return o.status();
        if (groups.empty() || groups.back().group != o->group()) {
          groups.push_back(CommittedGroup{o->group()});
        }
        CommittedGroup& g = groups.back();
        ++g.partitions;
        g.max_generation = std::max(g.max_generation, o->generation());
        g.last_commit_time_ms = std::max(g.last_commit_time_ms, o->commit_time_ms());
        return absl::OkStatus();
      });
  if (!st.ok()) return st;
  return groups;
}

absl::StatusOr<mdpb::Counters> MetadataStateMachine::GetCounters() const {
  return LoadCounters(db_, cf_);
}

absl::StatusOr<std::map<uint64_t, int64_t>> MetadataStateMachine::ReplicaCountsByBroker() const {
  // One RocksDB snapshot for both scans.
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::map<uint64_t, int64_t> counts;
  absl::Status st = ScanPrefix(
      db_, cf_, kBrokerPrefix,
      [&](absl::string_view k, absl::string_view v) {
        absl::StatusOr<mdpb::Broker> b = ParseRecord<mdpb::Broker>(k, v);
        if (!b.ok()) return b.status();
        counts[b->node_id()] = 0;
        return absl::OkStatus();
      },
      ro);
  if (st.ok()) {
    st = ScanPrefix(
        db_, cf_, kTopicPrefix,
        [&](absl::string_view k, absl::string_view v) {
          absl::StatusOr<mdpb::Topic> t = ParseRecord<mdpb::Topic>(k, v);
          if (!t.ok()) return t.status();
          for (const mdpb::Partition& p : t->partitions()) {
            for (uint64_t r : p.replicas()) ++counts[r];
          }
          return absl::OkStatus();
        },
        ro);
  }
  db_->ReleaseSnapshot(snap);
  if (!st.ok()) return st;
  return counts;
}

absl::StatusOr<std::string> MetadataStateMachine::Snapshot() const {
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::string entries;
  uint64_t count = 0;
  uint64_t applied = 0;
  absl::Status st = ScanPrefix(
      db_, cf_, "",
      [&](absl::string_view k, absl::string_view v) {
        if (k.size() > std::numeric_limits<uint32_t>::max() ||
            v.size() > std::numeric_limits<uint32_t>::max()) {
          return absl::InternalError(
              absl::StrCat("metadata snapshot: value too large under key ", Printable(k)));
        }
        if (k == kAppliedIndexKey) {
          absl::StatusOr<uint64_t> a = ParseAppliedIndex(v);
          if (!a.ok()) return a.status();
          applied = *a;
        }
        storage::AppendBigEndian<uint32_t>(entries, static_cast<uint32_t>(k.size()));
        entries.append(k.data(), k.size());
        storage::AppendBigEndian<uint32_t>(entries, static_cast<uint32_t>(v.size()));
        entries.append(v.data(), v.size());
        ++count;
        return absl::OkStatus();
      },
      ro);
  db_->ReleaseSnapshot(snap);
  if (!st.ok()) return st;
  std::string out(kSnapshotMagic, kMagicSize);
  storage::AppendBigEndian<uint32_t>(out, kSnapshotVersion);
  storage::AppendBigEndian<uint64_t>(out, applied);
  storage::AppendBigEndian<uint64_t>(out, count);
  out.append(entries);
  storage::AppendBigEndian<uint32_t>(out, storage::Crc32c(out.data(), out.size()));
  return out;
}

absl::StatusOr<std::string> MetadataStateMachine::SnapshotCovering(LogIndex index) const {
  absl::StatusOr<std::string> snapshot = Snapshot();
  if (!snapshot.ok()) return snapshot.status();
  // The index the snapshot's own view carries, not applied_index() read apart.
  const uint64_t applied = storage::LoadBigEndianAt<uint64_t>(*snapshot, kMagicSize + 4);
  if (applied < index.value()) {
    return absl::UnavailableError(absl::StrFormat(
        "metadata snapshot: state applied up to %d, snapshot index %d not reached yet", applied,
        index.value()));
  }
  return snapshot;
}

absl::StatusOr<LogIndex> MetadataStateMachine::SnapshotAppliedIndex(const std::string& snapshot) {
  absl::StatusOr<ParsedSnapshot> parsed = ParseSnapshot(snapshot);
  if (!parsed.ok()) return parsed.status();
  return LogIndex(parsed->applied_index);
}

absl::Status MetadataStateMachine::Restore(const std::string& snapshot) {
  absl::StatusOr<ParsedSnapshot> parsed = ParseSnapshot(snapshot);
  if (!parsed.ok()) return parsed.status();
  rocksdb::WriteBatch batch;
  // Delete [smallest current key, successor of the largest): every key.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
    it->SeekToFirst();
    if (it->Valid()) {
      std::string first = it->key().ToString();
      it->SeekToLast();
      std::string end = it->key().ToString();
      end.push_back('\0');
      batch.DeleteRange(cf_, first, end);
    }
    if (absl::Status st = FromRocks(it->status(), "metadata restore: scanning current state");
        !st.ok()) {
      return st;
    }
  }
  for (const auto& [k, v] : parsed->entries) batch.Put(cf_, ToSlice(k), ToSlice(v));
  rocksdb::WriteOptions wo;
  wo.sync = false;
  if (absl::Status st = FromRocks(db_->Write(wo, &batch), "metadata restore: writing state");
      !st.ok()) {
    return st;
  }
  applied_index_.store(parsed->applied_index);
  return absl::OkStatus();
}

// ==================================================================== helpers

absl::Status ValidateTopicName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("topic name is empty");
  if (name.size() > kMaxTopicNameLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "topic name has %d characters, at most %d allowed", name.size(), kMaxTopicNameLength));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("topic name \"", name, "\" is not allowed"));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic name \"", Printable(name), "\" has an illegal character '",
                       Printable(absl::string_view(&c, 1)), "' (allowed: a-z A-Z 0-9 . _ -)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTopicConfig(absl::string_view key, absl::string_view value) {
  if (!IsKnownConfigKey(key)) return UnknownConfigKey(key);
  if (key == kCleanupPolicy) {
    if (value == "delete" || value == "compact") return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("config cleanup.policy=\"", Printable(value),
                                                   "\": must be delete or compact"));
  }
  const std::optional<int64_t> v = ParseStrictInt64(value);
  if (!v.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", key, "=\"", Printable(value), "\": not a decimal integer"));
  }
  int64_t min = 0;
  int64_t max = std::numeric_limits<int64_t>::max();
  absl::string_view rule;
  if (key == kRetentionMs || key == kRetentionBytes) {
    min = -1;
    rule = "-1 (unlimited) or >= 0";
  } else if (key == kSegmentBytes) {
    min = 1 << 20;
    rule = ">= 1048576 (1 MiB)";
  } else if (key == kSegmentMs) {
    min = 1;
    rule = ">= 1";
  } else {  // max.message.bytes
    min = 1;
    max = 64 << 20;
    rule = "in 1..67108864 (64 MiB)";
  }
  if (*v < min || *v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", key, "=", *v, " is out of range: must be ", rule));
  }
  return absl::OkStatus();
}

const std::map<std::string, std::string>& DefaultTopicConfigs() {
  static const std::map<std::string, std::string> defaults{
      {kCleanupPolicy, "delete"},  {kMaxMessageBytes, "1048588"}, {kRetentionBytes, "-1"},
      {kRetentionMs, "604800000"}, {kSegmentBytes, "1073741824"}, {kSegmentMs, "604800000"},
  };
  return defaults;
}

std::map<std::string, std::string> EffectiveTopicConfigs(const mdpb::Topic& topic) {
  std::map<std::string, std::string> out = DefaultTopicConfigs();
  for (const auto& [k, v] : topic.configs()) out[k] = v;
  return out;
}

absl::StatusOr<std::vector<mdpb::PartitionAssignment>> AssignReplicas(
    int32_t partitions, int32_t replication_factor, const std::vector<uint64_t>& live_brokers,
    const std::map<uint64_t, int64_t>& existing, int32_t first_partition) {
  if (partitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("assign replicas: partitions must be >= 1, got %d", partitions));
  }
  if (first_partition < 0 || first_partition > kMaxPartitionsPerTopic - partitions) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "assign replicas: partitions %d..%d exceed the maximum %d", first_partition,
        static_cast<int64_t>(first_partition) + partitions - 1, kMaxPartitionsPerTopic));
  }
  if (replication_factor < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "assign replicas: replication factor must be >= 1, got %d", replication_factor));
  }
  std::set<uint64_t> distinct;
  for (uint64_t b : live_brokers) {
    if (b == 0) return absl::InvalidArgumentError("assign replicas: broker id 0 is not valid");
    if (!distinct.insert(b).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("assign replicas: broker %d listed twice", b));
    }
  }
  const int64_t n = static_cast<int64_t>(live_brokers.size());
  if (replication_factor > n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("assign replicas: replication factor %d exceeds the %d live brokers",
                        replication_factor, n));
  }
  auto load = [&](uint64_t b) {
    auto it = existing.find(b);
    return it == existing.end() ? int64_t{0} : it->second;
  };
  std::vector<uint64_t> order(distinct.begin(), distinct.end());
  std::stable_sort(order.begin(), order.end(),
                   [&](uint64_t a, uint64_t b) { return load(a) < load(b); });
  std::vector<mdpb::PartitionAssignment> out;
  out.reserve(partitions);
  int64_t shift = 0;
  for (int64_t i = 0; i < partitions; ++i) {
    if (i > 0 && i % n == 0) ++shift;
    const int64_t leader = i % n;
    mdpb::PartitionAssignment a;
    a.set_partition(static_cast<int32_t>(first_partition + i));
    a.add_replicas(order[leader]);
    for (int64_t j = 1; j < replication_factor; ++j) {
      // Kafka's replicaIndex: followers at leader + 1 + (shift + j - 1) mod (n - 1), never
      // the leader and distinct for j = 1 .. n-1.
      const int64_t idx = (leader + 1 + (shift + j - 1) % (n - 1)) % n;
      a.add_replicas(order[idx]);
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace raftlog::broker
