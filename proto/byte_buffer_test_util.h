// Tests of the hand-written gRPC encoders (Fetch answers, transport
// batches, Produce requests): the bytes of a grpc::ByteBuffer in one
// string, and optionally its slices (to check what was sent uncopied).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace raftlog::proto {

inline std::string FlattenByteBuffer(const grpc::ByteBuffer& bb, std::vector<grpc::Slice>* slices) {
  EXPECT_TRUE(bb.Dump(slices).ok());
  std::string out;
  for (const grpc::Slice& s : *slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

inline std::string FlattenByteBuffer(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> slices;
  return FlattenByteBuffer(bb, &slices);
}

}  // namespace raftlog::proto
