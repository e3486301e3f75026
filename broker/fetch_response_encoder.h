// FetchResponseEncoder: the wire bytes of a raftlog.api.v1.FetchResponse
// whose `records` fields are the stored batches themselves, not copies.
//
// A Fetch answer is nearly all batch bytes. Building it as a protobuf
// message copies them twice more than needed (log read buffer -> the
// message's `records` string -> gRPC's send slices), each copy into fresh
// memory the kernel must fault in. Here every partition's small fields are
// serialized by protobuf as usual, and its `records` field (the batches of
// one PartitionLog::ReadView) is appended as gRPC slices that point into the
// read buffer, which the slices own from then on and free once gRPC has
// sent them.
//
// Wire format: unchanged. A partition is encoded as protobuf would encode
// it except that `records` (field 8) comes after the partition's other
// fields; protobuf serializes in field-number order, so this differs from
// protobuf's own bytes only when leader_id or leader_address (9, 10) is set
// together with records, which this service never does, and any protobuf
// parser accepts fields in any order anyway.
//
// Use: AddPartition, fill in its fields; SetRecords (at most once) for the
// partition added last. A `records` set directly on the message is sent as
// protobuf would send it; SetRecords clears it and takes its place.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "raftlog/api/v1/data.pb.h"
#include "storage/partition_log.h"

namespace raftlog::broker {

class FetchResponseEncoder {
 public:
  // Appends a partition's answer; fill its fields except `records`. The
  // pointer stays valid until Finish or the encoder's end.
  api::v1::FetchPartitionResponse* AddPartition();
  // The records of the partition added last: `view`'s batches, in order.
  // Takes the view's buffer (no copy).
  void SetRecords(storage::BatchView view);
  // Sum of the records set so far.
  size_t records_bytes() const { return records_bytes_; }
  // The encoded FetchResponse; leaves the encoder empty.
  grpc::ByteBuffer Finish();

 private:
  struct Part {
    api::v1::FetchPartitionResponse fields;
    grpc::Slice data;                                // owns the read buffer (empty: no records)
    std::vector<std::pair<size_t, size_t>> batches;  // [begin, end) in `data`
    size_t records_bytes = 0;
  };
  std::deque<Part> parts_;  // a deque: AddPartition's pointers stay valid
  size_t records_bytes_ = 0;
};

}  // namespace raftlog::broker
