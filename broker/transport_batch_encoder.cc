// Transport batch encoder: see transport_batch_encoder.h.
#include "broker/transport_batch_encoder.h"

#include <cstdint>
#include <memory>
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

// grpc::Slice's destroy hook for a payload handed over to gRPC.
void FreeString(void* p) { delete static_cast<std::string*>(p); }

bool HasLargeEntry(const pb::RaftMessage& m) {
  for (const pb::Entry& e : m.entries()) {
    if (e.data().size() >= kMinSliceBytes) return true;
  }
  return false;
}

// Appends message `m` as field `messages` of the batch: its fields, then its
// entries, a large payload as a slice of its own (see the header).
void AppendMessage(pb::RaftMessage* m, std::string* head, std::vector<grpc::Slice>* slices) {
  if (!HasLargeEntry(*m)) {
    AppendLengthDelimitedHeader(head, pb::MessageBatch::kMessagesFieldNumber, m->ByteSizeLong());
    m->AppendToString(head);
    return;
  }
  google::protobuf::RepeatedPtrField<pb::Entry> entries;
  entries.Swap(m->mutable_entries());
  std::string rest = m->SerializeAsString();
  // Per entry: its fields but a large payload, and that payload (owned).
  struct Part {
    std::string fields;
    std::unique_ptr<std::string> data;  // null: the payload is in `fields`
    size_t size = 0;                    // the entry's encoded length
  };
  std::vector<Part> parts(static_cast<size_t>(entries.size()));
  size_t len = rest.size();
  for (int i = 0; i < entries.size(); ++i) {
    pb::Entry& e = *entries.Mutable(i);
    Part& p = parts[static_cast<size_t>(i)];
    if (e.data().size() >= kMinSliceBytes) {
      p.data = std::make_unique<std::string>(std::move(*e.mutable_data()));
      e.clear_data();
    }
    e.SerializeToString(&p.fields);
    p.size = p.fields.size();
    if (p.data != nullptr)
      p.size += LengthDelimitedFieldSize(pb::Entry::kDataFieldNumber, p.data->size());
    len += LengthDelimitedFieldSize(pb::RaftMessage::kEntriesFieldNumber, p.size);
  }
  AppendLengthDelimitedHeader(head, pb::MessageBatch::kMessagesFieldNumber, len);
  *head += rest;
  for (Part& p : parts) {
    AppendLengthDelimitedHeader(head, pb::RaftMessage::kEntriesFieldNumber, p.size);
    *head += p.fields;
    if (p.data == nullptr) continue;
    AppendLengthDelimitedHeader(head, pb::Entry::kDataFieldNumber, p.data->size());
    slices->emplace_back(*head);
    head->clear();
    std::string* data = p.data.release();
    slices->emplace_back(data->data(), data->size(), &FreeString, data);
  }
}

}  // namespace

grpc::ByteBuffer EncodeMessageBatch(pb::MessageBatch* batch) {
  google::protobuf::RepeatedPtrField<pb::RaftMessage> messages;
  messages.Swap(batch->mutable_messages());
  std::string head;                 // bytes not yet in `slices`
  batch->SerializeToString(&head);  // cluster id, nodes, heartbeat records
  std::vector<grpc::Slice> slices;
  for (pb::RaftMessage& m : messages) AppendMessage(&m, &head, &slices);
  if (!head.empty() || slices.empty()) slices.emplace_back(head);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace raftlog::broker
