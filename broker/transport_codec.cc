// Transport codec: raft::Message <-> transport.proto records, and batching.
// See transport_codec.h for the invariants.
#include "broker/transport_codec.h"

#include <algorithm>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace raftlog::broker {
namespace {

using raft::EntryType;
using raft::LogIndex;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Term;

constexpr uint32_t kMaxMessageType = static_cast<uint32_t>(MessageType::kReadIndexResp);
constexpr uint32_t kMaxEntryType = static_cast<uint32_t>(EntryType::kConfChange);

// Fixed overheads of the records (varints counted at their widest, roughly).
constexpr uint64_t kCompactRecordBytes = 32;
constexpr uint64_t kFullRecordBytes = 96;
constexpr uint64_t kEntryOverheadBytes = 24;

// Which record of a batch a message travels in; decoding yields the kinds in
// this order.
enum class RecordKind { kFull = 0, kHeartbeat = 1, kHeartbeatResponse = 2 };

RecordKind KindOf(const Message& m) {
  if (!FitsCompactRecord(m)) return RecordKind::kFull;
  return m.type == MessageType::kHeartbeat ? RecordKind::kHeartbeat
                                           : RecordKind::kHeartbeatResponse;
}

void EncodeConfState(const raft::ConfState& cs, transport_pb::ConfState* out) {
  for (NodeId v : cs.voters) out->add_voters(v.value());
  for (NodeId l : cs.learners) out->add_learners(l.value());
}

// A string field of a Msg to copy (const Message) or to move (Message).
template <typename Msg, typename Str>
decltype(auto) Payload(Str& s) {
  if constexpr (std::is_const_v<Msg>) {
    return static_cast<const std::string&>(s);
  } else {
    return std::move(s);
  }
}

// Where EncodeInto leaves the large entry payloads of a batch (see
// OutgoingBatch): `out` gets one slot per entry encoded so far, filled for
// entries of at least `min_bytes`; the tail of empty slots is left off.
struct Deferral {
  std::vector<raft::Payload>* out = nullptr;
  size_t min_bytes = 0;
  size_t entries = 0;  // entries of the batch encoded so far
};

// The record of `m` for `Msg` = const Message (copies) or Message (moves).
// Entry payloads are shared and immutable: they are copied into the record,
// or referenced in `deferral` when it is set (no copy).
template <typename Msg>
void EncodeInto(GroupId group, Msg& m, transport_pb::RaftMessage* out,
                Deferral* deferral = nullptr) {
  out->set_group(group);
  out->set_type(static_cast<uint32_t>(m.type));
  out->set_term(m.term.value());
  out->set_log_term(m.log_term.value());
  out->set_index(m.index.value());
  out->mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (auto& e : m.entries) {
    transport_pb::Entry* pe = out->add_entries();
    pe->set_term(e.term.value());
    pe->set_index(e.index.value());
    pe->set_type(static_cast<uint32_t>(e.type));
    if (deferral != nullptr && e.data.size() >= deferral->min_bytes) {
      deferral->out->resize(deferral->entries);
      if constexpr (std::is_const_v<Msg>) {
        deferral->out->push_back(e.data);
      } else {
        deferral->out->push_back(std::move(e.data));
      }
    } else {
      pe->set_data(e.data.data(), e.data.size());
    }
    if (deferral != nullptr) ++deferral->entries;
  }
  out->set_commit(m.commit.value());
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint.value());
  out->set_reject_hint_term(m.reject_hint_term.value());
  if (m.snapshot != raft::SnapshotMetadata{}) {
    transport_pb::SnapshotMetadata* sm = out->mutable_snapshot();
    sm->set_index(m.snapshot.index.value());
    sm->set_term(m.snapshot.term.value());
    EncodeConfState(m.snapshot.conf_state, sm->mutable_conf_state());
  }
  out->set_snapshot_offset(m.snapshot_offset);
  out->set_snapshot_total_size(m.snapshot_total_size);
  out->set_snapshot_data(Payload<Msg>(m.snapshot_data));
  out->set_snapshot_done(m.snapshot_done);
  out->set_context(Payload<Msg>(m.context));
  out->set_read_seq(m.read_seq);
  out->set_leader_transfer(m.leader_transfer);
}

template <typename Msg>
void AppendRecord(GroupId group, Msg& m, RecordKind kind, transport_pb::MessageBatch* batch,
                  Deferral* deferral) {
  switch (kind) {
    case RecordKind::kFull:
      EncodeInto(group, m, batch->add_messages(), deferral);
      return;
    case RecordKind::kHeartbeat: {
      transport_pb::Heartbeat* hb = batch->add_heartbeats();
      hb->set_group(group);
      hb->set_term(m.term.value());
      hb->set_commit(m.commit.value());
      hb->set_read_seq(m.read_seq);
      return;
    }
    case RecordKind::kHeartbeatResponse: {
      transport_pb::HeartbeatResponse* hr = batch->add_heartbeat_responses();
      hr->set_group(group);
      hr->set_term(m.term.value());
      hr->set_read_seq(m.read_seq);
      return;
    }
  }
}

}  // namespace

uint64_t ApproximateWireSize(const Message& m) {
  if (FitsCompactRecord(m)) return kCompactRecordBytes;
  uint64_t size = kFullRecordBytes + m.snapshot_data.size() + m.context.size() +
                  8 * (m.snapshot.conf_state.voters.size() + m.snapshot.conf_state.learners.size());
  for (const raft::Entry& e : m.entries) size += kEntryOverheadBytes + e.data.size();
  return size;
}

bool FitsCompactRecord(const Message& m) {
  if (m.type != MessageType::kHeartbeat && m.type != MessageType::kHeartbeatResp) return false;
  // Everything but type/from/to/term/commit/read_seq must be default; a
  // response carries no commit either.
  Message rest = m;
  rest.from = NodeId();
  rest.to = NodeId();
  rest.term = Term();
  rest.read_seq = 0;
  if (m.type == MessageType::kHeartbeat) rest.commit = LogIndex();
  Message empty;
  empty.type = m.type;
  return rest == empty;
}

void EncodeRaftMessage(GroupId group, const Message& m, transport_pb::RaftMessage* out) {
  EncodeInto(group, m, out);
}

namespace {

// DecodeRaftMessage for `In` = const RaftMessage (copies) or RaftMessage
// (moves the payloads out).
template <typename In>
absl::StatusOr<Message> DecodeFrom(In& in, NodeId from, NodeId to) {
  if (in.type() > kMaxMessageType) {
    return absl::InvalidArgumentError(
        absl::StrFormat("group %d: unknown message type %d", in.group(), in.type()));
  }
  Message m;
  m.type = static_cast<MessageType>(in.type());
  m.from = from;
  m.to = to;
  m.term = Term(in.term());
  m.log_term = Term(in.log_term());
  m.index = LogIndex(in.index());
  m.entries.reserve(in.entries_size());
  for (int i = 0; i < in.entries_size(); ++i) {
    const transport_pb::Entry& pe = in.entries(i);
    if (pe.type() > kMaxEntryType) {
      return absl::InvalidArgumentError(
          absl::StrFormat("group %d: %s entry %d (index %d): unknown entry type %d", in.group(),
                          raft::MessageTypeName(m.type), i, pe.index(), pe.type()));
    }
    raft::Entry& e = m.entries.emplace_back();
    e.term = Term(pe.term());
    e.index = LogIndex(pe.index());
    e.type = static_cast<EntryType>(pe.type());
    if constexpr (std::is_const_v<In>) {
      e.data = raft::Payload::Copy(pe.data());
    } else {
      // The parsed string's buffer becomes the payload: no copy.
      e.data = std::move(*in.mutable_entries(i)->mutable_data());
    }
  }
  m.commit = LogIndex(in.commit());
  m.reject = in.reject();
  m.reject_hint = LogIndex(in.reject_hint());
  m.reject_hint_term = Term(in.reject_hint_term());
  if (in.has_snapshot()) {
    const transport_pb::SnapshotMetadata& sm = in.snapshot();
    m.snapshot.index = LogIndex(sm.index());
    m.snapshot.term = Term(sm.term());
    for (uint64_t v : sm.conf_state().voters()) m.snapshot.conf_state.voters.emplace_back(v);
    for (uint64_t l : sm.conf_state().learners()) m.snapshot.conf_state.learners.emplace_back(l);
  }
  m.snapshot_offset = in.snapshot_offset();
  m.snapshot_total_size = in.snapshot_total_size();
  if constexpr (std::is_const_v<In>) {
    m.snapshot_data = in.snapshot_data();
    m.context = in.context();
  } else {
    m.snapshot_data = std::move(*in.mutable_snapshot_data());
    m.context = std::move(*in.mutable_context());
  }
  m.snapshot_done = in.snapshot_done();
  m.read_seq = in.read_seq();
  m.leader_transfer = in.leader_transfer();
  return m;
}

// BuildBatches over `Messages` = span<const GroupMessage> (copies the
// payloads) or span<GroupMessage> (moves them). With `deferred` set, entry
// payloads of at least `min_deferred_bytes` are left out of the records and
// collected there instead, one vector per batch (OutgoingBatch::deferred).
template <typename Messages>
std::vector<transport_pb::MessageBatch> Build(
    const BatchHeader& header, Messages messages, uint64_t max_batch_bytes,
    std::vector<std::vector<raft::Payload>>* deferred = nullptr, size_t min_deferred_bytes = 0) {
  std::vector<transport_pb::MessageBatch> batches;
  Deferral deferral;
  deferral.min_bytes = min_deferred_bytes;
  uint64_t batch_bytes = 0;
  // Per group, the latest record kind in the current batch: a message of an
  // earlier-decoded kind after it would be reordered, so it starts a new batch.
  // Only kinds after kFull (the first decoded) are kept: a group absent
  // from the map has sent only full records in this batch, and the common
  // batch (appends and their responses) needs no map entry at all.
  std::unordered_map<GroupId, RecordKind> last_kind;
  auto start_batch = [&] {
    transport_pb::MessageBatch& b = batches.emplace_back();
    b.set_cluster_id(header.cluster_id);
    b.set_from_node(header.from.value());
    b.set_to_node(header.to.value());
    batch_bytes = 0;
    last_kind.clear();
    if (deferred != nullptr) {
      deferral.out = &deferred->emplace_back();
      deferral.entries = 0;
    }
  };
  for (auto& gm : messages) {
    const RecordKind kind = KindOf(gm.message);
    const uint64_t size = ApproximateWireSize(gm.message);
    bool cut = batches.empty();
    if (!cut && batch_bytes > 0 && batch_bytes + size > max_batch_bytes) cut = true;
    if (!cut && !last_kind.empty() && kind != RecordKind::kHeartbeatResponse) {
      auto it = last_kind.find(gm.group);
      if (it != last_kind.end() && it->second > kind) cut = true;
    }
    if (cut) start_batch();
    AppendRecord(gm.group, gm.message, kind, &batches.back(),
                 deferred != nullptr ? &deferral : nullptr);
    batch_bytes += size;
    if (kind != RecordKind::kFull) last_kind[gm.group] = kind;
  }
  return batches;
}

template <typename Batch>
absl::StatusOr<std::vector<GroupMessage>> Decode(Batch& batch) {
  const NodeId from(batch.from_node());
  const NodeId to(batch.to_node());
  std::vector<GroupMessage> out;
  out.reserve(BatchMessageCount(batch));
  for (int i = 0; i < batch.messages_size(); ++i) {
    absl::StatusOr<Message> m;
    if constexpr (std::is_const_v<Batch>) {
      m = DecodeFrom(batch.messages(i), from, to);
    } else {
      m = DecodeFrom(*batch.mutable_messages(i), from, to);
    }
    if (!m.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "batch from node %d: message %d: %s", batch.from_node(), i, m.status().message()));
    }
    out.push_back(GroupMessage{batch.messages(i).group(), *std::move(m)});
  }
  for (const transport_pb::Heartbeat& hb : batch.heartbeats()) {
    GroupMessage& gm = out.emplace_back();
    gm.group = hb.group();
    gm.message.type = MessageType::kHeartbeat;
    gm.message.from = from;
    gm.message.to = to;
    gm.message.term = Term(hb.term());
    gm.message.commit = LogIndex(hb.commit());
    gm.message.read_seq = hb.read_seq();
  }
  for (const transport_pb::HeartbeatResponse& hr : batch.heartbeat_responses()) {
    GroupMessage& gm = out.emplace_back();
    gm.group = hr.group();
    gm.message.type = MessageType::kHeartbeatResp;
    gm.message.from = from;
    gm.message.to = to;
    gm.message.term = Term(hr.term());
    gm.message.read_seq = hr.read_seq();
  }
  return out;
}

}  // namespace

absl::StatusOr<Message> DecodeRaftMessage(const transport_pb::RaftMessage& in, NodeId from,
                                          NodeId to) {
  return DecodeFrom(in, from, to);
}

std::vector<transport_pb::MessageBatch> BuildBatches(const BatchHeader& header,
                                                     std::span<const GroupMessage> messages,
                                                     uint64_t max_batch_bytes) {
  return Build(header, messages, max_batch_bytes);
}

std::vector<OutgoingBatch> BuildOutgoingBatches(const BatchHeader& header,
                                                std::span<GroupMessage> messages,
                                                uint64_t max_batch_bytes,
                                                size_t min_deferred_bytes) {
  std::vector<std::vector<raft::Payload>> deferred;
  std::vector<transport_pb::MessageBatch> batches =
      Build(header, messages, max_batch_bytes, &deferred, std::max<size_t>(min_deferred_bytes, 1));
  std::vector<OutgoingBatch> out(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    out[i].batch.Swap(&batches[i]);
    out[i].deferred = std::move(deferred[i]);
  }
  return out;
}

int BatchMessageCount(const transport_pb::MessageBatch& batch) {
  return batch.messages_size() + batch.heartbeats_size() + batch.heartbeat_responses_size();
}

absl::StatusOr<std::vector<GroupMessage>> DecodeBatch(const transport_pb::MessageBatch& batch) {
  return Decode(batch);
}

absl::StatusOr<std::vector<GroupMessage>> DecodeBatchConsuming(transport_pb::MessageBatch* batch) {
  return Decode(*batch);
}

}  // namespace raftlog::broker
