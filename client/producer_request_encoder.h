// Producer request encoder: the wire bytes of a raftlog.api.v1.ProduceRequest
// whose `batches` are gRPC slices shared with the producer's own copy of
// each encoded batch, not copies.
//
// A produced batch used to be copied three times on its way out of the
// client after it was built: into the batch's retained string (kept for
// retries), into the request's `batches` field, and by protobuf into gRPC's
// send slices. Here the built batch becomes a grpc::Slice once (owning the
// builder's buffer, no copy); every request that carries it, first attempt
// or retry, only adds a reference.
//
// Wire format: a valid ProduceRequest that any protobuf parser reads as the
// same message; only the field order differs from protobuf's own bytes
// (`batches`, field 3, comes after fields 4 and 5).
#pragma once

#include <cstdint>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "raftlog/api/v1/data.pb.h"

namespace raftlog::client {

// The encoded request: `fields` (whose own `batches` must be empty) plus
// `batches` in order, each referenced, not copied.
grpc::ByteBuffer EncodeProduceRequest(const raftlog::api::v1::ProduceRequest& fields,
                                      const std::vector<grpc::Slice>& batches);

// A slice owning `bytes` (moved in, not copied).
grpc::Slice SliceOwning(std::vector<uint8_t> bytes);

}  // namespace raftlog::client
