// Producer request encoder: see producer_request_encoder.h.
#include "client/producer_request_encoder.h"

#include <memory>
#include <string>
#include <utility>

#include "google/protobuf/io/coded_stream.h"

namespace raftlog::client {
namespace {

namespace apipb = raftlog::api::v1;
using google::protobuf::io::CodedOutputStream;

constexpr uint32_t kLengthDelimited = 2;  // protobuf wire type

// Appends the key and length of a length-delimited field of `len` bytes.
void AppendFieldHeader(std::string* out, int field, size_t len) {
  uint8_t buf[2 * 10];  // two varints of at most 10 bytes
  uint8_t* end = CodedOutputStream::WriteVarint64ToArray(
      (static_cast<uint64_t>(field) << 3) | kLengthDelimited, buf);
  end = CodedOutputStream::WriteVarint64ToArray(len, end);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

void FreeBytes(void* p) { delete static_cast<std::vector<uint8_t>*>(p); }

}  // namespace

grpc::ByteBuffer EncodeProduceRequest(const apipb::ProduceRequest& fields,
                                      const std::vector<grpc::Slice>& batches) {
  std::vector<grpc::Slice> slices;
  slices.reserve(2 * batches.size() + 1);
  std::string head;  // bytes not yet in `slices`
  fields.SerializeToString(&head);
  for (const grpc::Slice& b : batches) {
    AppendFieldHeader(&head, apipb::ProduceRequest::kBatchesFieldNumber, b.size());
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
