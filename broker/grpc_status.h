// Conversion of absl::Status to grpc::Status. The canonical codes are the
// same numbers in both, so the code maps one to one and the message is kept.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace raftlog::broker {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace raftlog::broker
