// The raw-disk loops: what the file system gives with no log on top. Plain
// write() and write()+fdatasync() into a new, a preallocated or an existing
// file, sequential read() of given files, and page-cache dropping.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <utility>

#include "bench/storage/bench_util.h"

namespace raftlog::bench {
namespace {

[[noreturn]] void Die(const char* what, const std::string& path) {
  std::fprintf(stderr, "storage_bench: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
  std::exit(1);
}

}  // namespace

double RawWriteLoop(const std::string& path, size_t block, uint64_t total, bool sync_each,
                    RawFile mode) {
  std::vector<char> buf(block);
  std::mt19937_64 rng(1);
  for (auto& c : buf) c = static_cast<char>(rng());
  const int flags = O_WRONLY | O_CLOEXEC | (mode == RawFile::kRewrite ? 0 : O_CREAT | O_TRUNC);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) Die("open", path);
  if (mode == RawFile::kPreallocated) {
    if (::posix_fallocate(fd, 0, static_cast<off_t>(total)) != 0) Die("fallocate", path);
    if (::fdatasync(fd) != 0) Die("fdatasync", path);
  }
  uint64_t done = 0;
  Stopwatch sw;
  for (; done < total; done += block) {
    if (::write(fd, buf.data(), block) != static_cast<ssize_t>(block)) Die("write", path);
    if (sync_each && ::fdatasync(fd) != 0) Die("fdatasync", path);
  }
  const double seconds = sw.Seconds();
  if (!sync_each && ::fdatasync(fd) != 0) Die("fdatasync", path);
  ::close(fd);
  return MBps(done, seconds);
}

RawAppender::RawAppender(std::string path, size_t block, uint64_t total, bool sync_each,
                         RawFile mode)
    : path_(std::move(path)), buf_(block), sync_each_(sync_each) {
  std::mt19937_64 rng(1);
  for (auto& c : buf_) c = static_cast<char>(rng());
  if (mode == RawFile::kRewrite) RawWriteLoop(path_, block, total, false, RawFile::kNew);
  const int flags = O_WRONLY | O_CLOEXEC | (mode == RawFile::kRewrite ? 0 : O_CREAT | O_TRUNC);
  fd_ = ::open(path_.c_str(), flags, 0644);
  if (fd_ < 0) Die("open", path_);
  if (mode == RawFile::kPreallocated) {
    if (::posix_fallocate(fd_, 0, static_cast<off_t>(total)) != 0) Die("fallocate", path_);
    if (::fdatasync(fd_) != 0) Die("fdatasync", path_);
  }
}

void RawAppender::Write(uint64_t blocks) {
  for (uint64_t i = 0; i < blocks; ++i) {
    if (::write(fd_, buf_.data(), buf_.size()) != static_cast<ssize_t>(buf_.size())) {
      Die("write", path_);
    }
    if (sync_each_ && ::fdatasync(fd_) != 0) Die("fdatasync", path_);
  }
}

void RawAppender::Finish() {
  if (fd_ < 0) return;
  if (!sync_each_ && ::fdatasync(fd_) != 0) Die("fdatasync", path_);
  ::close(fd_);
  fd_ = -1;
  std::filesystem::remove(path_);
}

double RawReadFiles(const std::vector<std::string>& files, size_t block) {
  std::vector<char> buf(block);
  uint64_t total = 0;
  Stopwatch sw;
  for (const std::string& path : files) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Die("open", path);
    while (true) {
      const ssize_t n = ::read(fd, buf.data(), block);
      if (n < 0) Die("read", path);
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
    }
    ::close(fd);
  }
  return MBps(total, sw.Seconds());
}

std::string FreshPath(const BenchConfig& config, const std::string& name) {
  std::filesystem::create_directories(config.dir);
  const std::string path = config.dir + "/" + name;
  std::filesystem::remove_all(path);
  return path;
}

std::string DropCaches(const std::string& path) {
  ::sync();
  {
    std::ofstream f("/proc/sys/vm/drop_caches");
    if (f << "3" << std::flush) return "drop_caches";
  }
  bool ok = true;
  auto evict = [&ok](const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) ok = false;
    if (fd >= 0) ::close(fd);
  };
  if (std::filesystem::is_directory(path)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) evict(e.path());
    }
  } else {
    evict(path);
  }
  return ok ? "fadvise DONTNEED (drop_caches refused)" : "NOT dropped (figures are warm)";
}

RawBaseline RunRawBaseline(const BenchConfig& config) {
  RawBaseline r;
  std::printf("raw disk, plain write() into a new file (codec reference; dir %s)\n",
              config.dir.c_str());
  const std::string path = FreshPath(config, "raw_ref");
  r.write_16k = RawWriteLoop(path, 16 << 10, config.raw_bytes, false, RawFile::kNew);
  Report("write() 16 KiB blocks, new file", r.write_16k, "MB/s");
  r.write_1m = RawWriteLoop(path, 1 << 20, config.raw_bytes, false, RawFile::kNew);
  Report("write() 1 MiB blocks, new file", r.write_1m, "MB/s");
  std::filesystem::remove(path);
  return r;
}

}  // namespace raftlog::bench
