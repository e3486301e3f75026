// Transport batch encoder: see transport_batch_encoder.h.
#include "broker/transport_batch_encoder.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/support/slice.h"
#include "proto/length_delimited.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::transport::v1;
using proto::AppendLengthDelimitedHeader;
using proto::LengthDelimitedFieldSize;

// grpc::Slice's destroy hook for a payload referenced by a slice: drops the
// heap-held reference (the bytes go when their last Payload does).
void DropPayloadRef(void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }

// A slice over `payload`'s bytes that keeps them alive until gRPC is done
// with them. gRPC only reads send slices, so the const_cast is safe.
grpc::Slice SliceOf(const raft::Payload& payload) {
  auto ref = std::make_unique<std::shared_ptr<const std::string>>(payload.shared());
  void* bytes = const_cast<char*>(payload.data());
  const size_t size = payload.size();
  return grpc::Slice(bytes, size, &DropPayloadRef, ref.release());
}

// Appends message `m` as field `messages` of the batch: its fields, then its
// entries, a deferred payload as a slice of its own (see the header).
// `deferred` holds the slots of m's entries (possibly fewer: the rest are
// not deferred).
void AppendMessage(pb::RaftMessage* m, std::span<const raft::Payload> deferred, std::string* head,
                   std::vector<grpc::Slice>* slices) {
  const bool any = std::any_of(deferred.begin(), deferred.end(),
                               [](const raft::Payload& p) { return !p.empty(); });
  if (!any) {
    AppendLengthDelimitedHeader(head, pb::MessageBatch::kMessagesFieldNumber, m->ByteSizeLong());
    m->AppendToString(head);
    return;
  }
  google::protobuf::RepeatedPtrField<pb::Entry> entries;
  entries.Swap(m->mutable_entries());
  std::string rest = m->SerializeAsString();
  // Per entry: its fields but a deferred payload, and its encoded length.
  struct Part {
    std::string fields;
    size_t size = 0;
  };
  std::vector<Part> parts(static_cast<size_t>(entries.size()));
  size_t len = rest.size();
  for (size_t i = 0; i < parts.size(); ++i) {
    Part& p = parts[i];
    entries.Get(static_cast<int>(i)).SerializeToString(&p.fields);
    p.size = p.fields.size();
    if (i < deferred.size() && !deferred[i].empty()) {
      p.size += LengthDelimitedFieldSize(pb::Entry::kDataFieldNumber, deferred[i].size());
    }
    len += LengthDelimitedFieldSize(pb::RaftMessage::kEntriesFieldNumber, p.size);
  }
  AppendLengthDelimitedHeader(head, pb::MessageBatch::kMessagesFieldNumber, len);
  *head += rest;
  for (size_t i = 0; i < parts.size(); ++i) {
    AppendLengthDelimitedHeader(head, pb::RaftMessage::kEntriesFieldNumber, parts[i].size);
    *head += parts[i].fields;
    if (i >= deferred.size() || deferred[i].empty()) continue;
    AppendLengthDelimitedHeader(head, pb::Entry::kDataFieldNumber, deferred[i].size());
    slices->emplace_back(*head);
    head->clear();
    slices->push_back(SliceOf(deferred[i]));
  }
}

}  // namespace

grpc::ByteBuffer EncodeMessageBatch(OutgoingBatch* out) {
  google::protobuf::RepeatedPtrField<pb::RaftMessage> messages;
  messages.Swap(out->batch.mutable_messages());
  std::string head;                     // bytes not yet in `slices`
  out->batch.SerializeToString(&head);  // cluster id, nodes, heartbeat records
  std::vector<grpc::Slice> slices;
  const std::span<const raft::Payload> deferred(out->deferred);
  size_t first = 0;  // slot of the message's first entry
  for (pb::RaftMessage& m : messages) {
    const size_t n = static_cast<size_t>(m.entries_size());
    const size_t lo = std::min(first, deferred.size());
    const size_t hi = std::min(first + n, deferred.size());
    AppendMessage(&m, deferred.subspan(lo, hi - lo), &head, &slices);
    first += n;
  }
  if (!head.empty() || slices.empty()) slices.emplace_back(head);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::ByteBuffer EncodeMessageBatch(pb::MessageBatch* batch) {
  // Large payloads leave the records for shared Payloads (a move of each
  // string's buffer, no copy), then go out as slices like any deferred one.
  OutgoingBatch out;
  for (pb::RaftMessage& m : *batch->mutable_messages()) {
    for (pb::Entry& e : *m.mutable_entries()) {
      if (e.data().size() >= kMinSliceBytes) {
        out.deferred.push_back(raft::Payload(std::move(*e.mutable_data())));
        e.clear_data();
      } else {
        out.deferred.emplace_back();
      }
    }
  }
  out.batch.Swap(batch);
  return EncodeMessageBatch(&out);
}

}  // namespace raftlog::broker
