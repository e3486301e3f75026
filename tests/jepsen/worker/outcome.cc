// Outcome classification for jepsen_worker (see outcome.h for the rules).
#include "tests/jepsen/worker/outcome.h"

#include "absl/strings/str_cat.h"

namespace raftlog::jepsen {

std::string_view OpTypeName(OpType t) {
  switch (t) {
    case OpType::kOk:
      return "ok";
    case OpType::kFail:
      return "fail";
    case OpType::kInfo:
      break;
  }
  return "info";
}

std::string ErrorString(const absl::Status& status) {
  if (status.ok()) return "";
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

Outcome Classify(Path path, const absl::Status& status) {
  if (status.ok()) return {OpType::kOk, ""};
  Outcome out{OpType::kInfo, ErrorString(status)};
  switch (path) {
    case Path::kNeverSent:
    case Path::kRead:
      out.type = OpType::kFail;
      break;
    case Path::kProduce:
    case Path::kRetriedCall:
      // Decided by the request alone, so every attempt was refused alike.
      if (absl::IsInvalidArgument(status)) out.type = OpType::kFail;
      break;
  }
  return out;
}

}  // namespace raftlog::jepsen
