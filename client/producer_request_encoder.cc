// Producer request encoder: see producer_request_encoder.h.
#include "client/producer_request_encoder.h"

#include <memory>
#include <string>
#include <utility>

#include "proto/length_delimited.h"

namespace raftlog::client {
namespace {

namespace apipb = raftlog::api::v1;
using proto::AppendLengthDelimitedHeader;

void FreeBytes(void* p) { delete static_cast<std::vector<uint8_t>*>(p); }

}  // namespace

grpc::ByteBuffer EncodeProduceRequest(const apipb::ProduceRequest& fields,
                                      const std::vector<grpc::Slice>& batches) {
  std::vector<grpc::Slice> slices;
  slices.reserve(2 * batches.size() + 1);
  std::string head;  // bytes not yet in `slices`
  fields.SerializeToString(&head);
  for (const grpc::Slice& b : batches) {
    AppendLengthDelimitedHeader(&head, apipb::ProduceRequest::kBatchesFieldNumber, b.size());
    slices.emplace_back(head);
    head.clear();
    slices.push_back(b);  // a reference
  }
  if (!head.empty() || slices.empty()) slices.emplace_back(head);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::Slice SliceOwning(std::vector<uint8_t> bytes) {
  auto owned = std::make_unique<std::vector<uint8_t>>(std::move(bytes));
  grpc::Slice slice(owned->data(), owned->size(), &FreeBytes, owned.get());
  owned.release();  // now owned by the slice: FreeBytes deletes it
  return slice;
}

}  // namespace raftlog::client
