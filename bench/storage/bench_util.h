// Small helpers shared by the storage_bench parts: a monotonic stopwatch,
// throughput/latency formatting, test-data generation, the raw-disk loops the
// log figures are compared against, and the run's configuration. No
// benchmark library: each figure is the median of a few repetitions over a
// fixed amount of work, printed next to its raw-disk counterpart.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace raftlog::bench {

struct BenchConfig {
  std::string dir = "/tmp/raftlog-storage-bench";  // scratch files go here
  uint64_t raw_bytes = 256ull << 20;               // per plain-write / append run
  uint64_t sync_bytes = 32ull << 20;               // per write+fdatasync run
  uint64_t codec_bytes = 256ull << 20;             // per codec figure
  uint64_t lookup_log_bytes = 5ull << 30;          // size of the lookup log
  int lookups = 2000;
  int reps = 3;  // repetitions per read and fsync-per-batch append figure (median reported)
  // Repetitions of the fsync-off append figures: each run is short (~0.3 s
  // of timed writes per side), so more of them.
  int append_off_reps = 9;
  bool append_variants = true;  // also preallocated / rewrite / other log options
  bool run_codec = true;
  bool run_append = true;
  bool run_read = true;
  bool run_lookup = true;
  bool cold = true;  // also measure with the page cache dropped
};

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// CPU time (user + system) of the calling thread: unlike wall time it does
// not count the time the thread waited for a core, so a ratio of two CPU
// figures tells a log's own cost from another process's preemption.
class ThreadCpuStopwatch {
 public:
  ThreadCpuStopwatch() : start_(Now()) {}
  double Seconds() const { return Now() - start_; }

 private:
  static double Now() {
    timespec t;
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
  }
  double start_;
};

inline double MBps(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / (1 << 20) / seconds : 0;
}

// One output line: name, figure, unit, and the ratio to a baseline (if > 0).
inline void Report(const std::string& name, double value, const char* unit, double baseline = 0,
                   const std::string& baseline_name = "") {
  if (baseline > 0) {
    std::printf("  %-60s %10.1f %-5s (%.2fx %s)\n", name.c_str(), value, unit, value / baseline,
                baseline_name.c_str());
  } else {
    std::printf("  %-60s %10.1f %s\n", name.c_str(), value, unit);
  }
  std::fflush(stdout);
}

// Bytes that compress about 2:1: runs of a repeated letter mixed with noise.
inline std::string RecordValue(std::mt19937_64& rng, size_t n) {
  std::string s(n, 'x');
  for (size_t i = 0; i < n; ++i) {
    s[i] = (i / 16) % 2 == 0 ? static_cast<char>('a' + (i / 32) % 26) : static_cast<char>(rng());
  }
  return s;
}

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

inline double Median(const std::vector<double>& v) { return Percentile(v, 0.5); }

// Figures the codec part compares against, filled by RunRawBaseline.
struct RawBaseline {
  double write_16k = 0, write_1m = 0;  // MB/s, plain write() into a new file
};

// How a raw write loop treats its file.
enum class RawFile {
  kNew,           // created empty (O_TRUNC): every write extends it
  kPreallocated,  // created empty, then posix_fallocate'd to the full size
  kRewrite,       // an existing file of >= the size, overwritten in place
};

// Writes `total` bytes in `block`-sized write() calls; fdatasync after each
// block if `sync_each`, otherwise one fdatasync at the end, not timed (the
// plain figure is the page-cache write rate). Returns MB/s.
double RawWriteLoop(const std::string& path, size_t block, uint64_t total, bool sync_each,
                    RawFile mode);
// The loop of RawWriteLoop cut into pieces, so that a log can be written
// between them (log_bench.cc interleaves the two): the constructor creates
// (and for kPreallocated fallocates, for kRewrite first fills) the file,
// each Write(n) writes n blocks (with fdatasync after each if `sync_each`),
// Finish (or the destructor) fdatasyncs and deletes it. Nothing is timed
// here: the caller times the Write calls.
class RawAppender {
 public:
  RawAppender(std::string path, size_t block, uint64_t total, bool sync_each, RawFile mode);
  ~RawAppender() { Finish(); }
  RawAppender(const RawAppender&) = delete;
  RawAppender& operator=(const RawAppender&) = delete;
  void Write(uint64_t blocks);
  void Finish();

 private:
  std::string path_;
  std::vector<char> buf_;
  bool sync_each_;
  int fd_ = -1;
};

// read() of each file in turn, `block` bytes at a time. Returns MB/s.
double RawReadFiles(const std::vector<std::string>& files, size_t block);

RawBaseline RunRawBaseline(const BenchConfig& config);
void RunCodecBench(const BenchConfig& config, const RawBaseline& raw);
void RunLogBench(const BenchConfig& config);

// Creates config.dir/name afresh (removing an old one) and returns its path.
std::string FreshPath(const BenchConfig& config, const std::string& name);
// Empties the page cache: sync, then "3" into /proc/sys/vm/drop_caches
// (root only); if that is refused, posix_fadvise(DONTNEED) on every file
// under `path`. Returns a note saying which was done.
std::string DropCaches(const std::string& path);

}  // namespace raftlog::bench
