// Raw disk and loopback loops for client_bench (raw_figures.h).
#include "bench/client/raw_figures.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace raftlog::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "client_bench: raw figures: %s %s: %s\n", what, detail.c_str(),
               std::strerror(errno));
  std::exit(2);
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double WriteSyncMBps(const std::string& path) {
  constexpr size_t kBlock = 1 << 20;
  constexpr size_t kBlocks = 256;
  std::vector<char> buf(kBlock, 'r');
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open", path);
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < kBlocks; ++i) {
    if (::write(fd, buf.data(), kBlock) != static_cast<ssize_t>(kBlock)) Die("write", path);
    if (::fdatasync(fd) != 0) Die("fdatasync", path);
  }
  const double seconds = SecondsSince(start);
  ::close(fd);
  ::unlink(path.c_str());
  return kBlock * kBlocks / seconds / 1e6;
}

void FdatasyncLatency(const std::string& path, double* p50_ms, double* p99_ms) {
  constexpr int kRounds = 300;
  std::vector<char> buf(1024, 'l');
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open", path);
  std::vector<double> ms;
  for (int i = 0; i < kRounds; ++i) {
    const Clock::time_point start = Clock::now();
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
      Die("write", path);
    }
    if (::fdatasync(fd) != 0) Die("fdatasync", path);
    ms.push_back(SecondsSince(start) * 1e3);
  }
  ::close(fd);
  ::unlink(path.c_str());
  std::sort(ms.begin(), ms.end());
  *p50_ms = ms[ms.size() / 2];
  *p99_ms = ms[ms.size() * 99 / 100];
}

double LoopbackMBps() {
  constexpr size_t kChunk = 256 << 10;
  constexpr size_t kTotal = size_t{2} << 30;
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) Die("socket", "");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("bind/listen", "127.0.0.1");
  }
  const int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (out < 0 || ::connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Die("connect", "127.0.0.1");
  }
  const int in = ::accept(listener, nullptr, nullptr);
  if (in < 0) Die("accept", "127.0.0.1");
  ::close(listener);
  const Clock::time_point start = Clock::now();
  std::thread reader([in] {
    std::vector<char> buf(kChunk);
    size_t got = 0;
    while (got < kTotal) {
      const ssize_t n = ::read(in, buf.data(), buf.size());
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
  });
  std::vector<char> buf(kChunk, 't');
  size_t sent = 0;
  while (sent < kTotal) {
    const ssize_t n = ::write(out, buf.data(), std::min(kChunk, kTotal - sent));
    if (n <= 0) Die("write", "loopback socket");
    sent += static_cast<size_t>(n);
  }
  ::shutdown(out, SHUT_WR);
  reader.join();
  const double seconds = SecondsSince(start);
  ::close(out);
  ::close(in);
  return kTotal / seconds / 1e6;
}

}  // namespace

RawFigures MeasureRawFigures(const std::string& dir) {
  RawFigures r;
  r.write_sync_MBps = WriteSyncMBps(dir + "/raw-write-sync");
  FdatasyncLatency(dir + "/raw-fdatasync", &r.fdatasync_p50_ms, &r.fdatasync_p99_ms);
  r.loopback_MBps = LoopbackMBps();
  return r;
}

}  // namespace raftlog::bench
