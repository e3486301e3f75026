// FetchResponseEncoder: see fetch_response_encoder.h.
#include "broker/fetch_response_encoder.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "proto/length_delimited.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::api::v1;

using proto::AppendLengthDelimitedHeader;
using proto::LengthDelimitedFieldSize;

// grpc::Slice's destroy hook for a read buffer handed over by release().
void FreeReadBuffer(void* p) { std::unique_ptr<uint8_t[]>(static_cast<uint8_t*>(p)).reset(); }

}  // namespace

pb::FetchPartitionResponse* FetchResponseEncoder::AddPartition() {
  return &parts_.emplace_back().fields;
}

void FetchResponseEncoder::SetRecords(storage::BatchView view) {
  Part& part = parts_.back();
  part.fields.clear_records();
  if (view.batches.empty()) return;
  const uint8_t* base = view.data.get();
  part.batches.reserve(view.batches.size());
  for (std::span<const uint8_t> b : view.batches) {
    const auto begin = static_cast<size_t>(b.data() - base);
    part.batches.emplace_back(begin, begin + b.size());
  }
  part.records_bytes = view.batches_bytes;
  records_bytes_ += view.batches_bytes;
  part.data = grpc::Slice(view.data.release(), view.data_size, &FreeReadBuffer);
}

grpc::ByteBuffer FetchResponseEncoder::Finish() {
  std::vector<grpc::Slice> slices;
  std::string head;  // bytes not yet in `slices`: keys, lengths, small fields
  std::string fields;
  for (Part& part : parts_) {
    fields.clear();
    part.fields.SerializeToString(&fields);
    size_t len = fields.size();
    if (part.records_bytes > 0) {
      len += LengthDelimitedFieldSize(pb::FetchPartitionResponse::kRecordsFieldNumber,
                                      part.records_bytes);
    }
    AppendLengthDelimitedHeader(&head, pb::FetchResponse::kPartitionsFieldNumber, len);
    head += fields;
    if (part.records_bytes == 0) continue;
    AppendLengthDelimitedHeader(&head, pb::FetchPartitionResponse::kRecordsFieldNumber,
                                part.records_bytes);
    slices.emplace_back(head);
    head.clear();
    for (const auto& [begin, end] : part.batches) slices.push_back(part.data.sub(begin, end));
  }
  if (!head.empty()) slices.emplace_back(head);
  parts_.clear();
  records_bytes_ = 0;
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace raftlog::broker
