// History: the JSON Lines writer of jepsen_worker (see history.h).
#include "tests/jepsen/worker/history.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace raftlog::jepsen {

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::unique_ptr<History>> History::Open(const std::string& path, int process) {
  if (path.empty() || path == "-") {
    return std::make_unique<History>(STDOUT_FILENO, /*owns_fd=*/false, process);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open history file ", path, ": ", std::strerror(errno)));
  }
  return std::make_unique<History>(fd, /*owns_fd=*/true, process);
}

History::History(int fd, bool owns_fd, int process, ClockFn clock)
    : fd_(fd), owns_fd_(owns_fd), process_(process), clock_(std::move(clock)) {}

History::~History() {
  if (owns_fd_) ::close(fd_);
}

void History::WriteLocked(Json line) {
  std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
  text.push_back('\n');
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (write_status_.ok()) {
        write_status_ = absl::InternalError(absl::StrCat("history write: ", std::strerror(errno)));
      }
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int64_t History::Invoke(std::string_view f, Json value, Json extra) {
  std::lock_guard<std::mutex> l(mu_);
  const int64_t op = next_op_++;
  if (closed_) return op;
  Json line = {{"process", process_}, {"type", "invoke"}, {"f", f}, {"op", op}, {"value", value}};
  if (extra.is_object()) {
    for (auto& [k, v] : extra.items()) line[k] = v;
  }
  line["time"] = clock_();
  WriteLocked(std::move(line));
  pending_.emplace(op, Pending{std::string(f), std::move(value), std::move(extra)});
  return op;
}

bool History::Complete(int64_t op, OpType type, std::optional<Json> value, Json extra,
                       std::string_view error) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(op);
  if (it == pending_.end()) return false;
  Pending p = std::move(it->second);
  pending_.erase(it);
  Json line = {{"process", process_},
               {"type", OpTypeName(type)},
               {"f", p.f},
               {"op", op},
               {"value", value ? std::move(*value) : std::move(p.value)}};
  if (p.extra.is_object()) {
    for (auto& [k, v] : p.extra.items()) line[k] = v;
  }
  if (extra.is_object()) {
    for (auto& [k, v] : extra.items()) line[k] = v;
  }
  if (!error.empty()) line["error"] = error;
  ++counts_[p.f][static_cast<size_t>(type)];
  line["time"] = clock_();
  WriteLocked(std::move(line));
  return true;
}

bool History::Complete(int64_t op, const Outcome& outcome, std::optional<Json> value, Json extra) {
  return Complete(op, outcome.type, std::move(value), std::move(extra), outcome.error);
}

void History::Event(std::string_view f, Json value) {
  std::lock_guard<std::mutex> l(mu_);
  Json line = {{"process", process_}, {"type", "ok"}, {"f", f}, {"value", std::move(value)}};
  line["time"] = clock_();
  WriteLocked(std::move(line));
}

size_t History::FinishOutstanding(std::string_view error) {
  std::vector<int64_t> ops;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [op, p] : pending_) ops.push_back(op);
    closed_ = true;
  }
  size_t n = 0;
  for (int64_t op : ops) {
    if (Complete(op, OpType::kInfo, std::nullopt, nullptr, error)) ++n;
  }
  return n;
}

size_t History::outstanding() const {
  std::lock_guard<std::mutex> l(mu_);
  return pending_.size();
}

std::map<std::string, std::array<int64_t, 3>> History::Counts() const {
  std::lock_guard<std::mutex> l(mu_);
  return counts_;
}

absl::Status History::write_status() const {
  std::lock_guard<std::mutex> l(mu_);
  return write_status_;
}

}  // namespace raftlog::jepsen
