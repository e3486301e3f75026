// storage_bench: measures the raw disk, then the codec and the partition log
// on it, printing every figure with its ratio to the raw baseline of the same
// run. Flags (all optional):
//   --dir=PATH            scratch directory (default /tmp/raftlog-storage-bench)
//   --raw_mb=N            MB per plain write / fsync-off append run (256)
//   --sync_mb=N           MB per fdatasync-per-block run (32)
//   --codec_mb=N          MB of record payload per codec figure (256)
//   --lookup_gb=X         size of the lookup log in GB (5; fractions allowed)
//   --lookups=N           random lookups (2000)
//   --reps=N              repetitions per figure, median (3; fsync-off appends 9)
//   --append_reps=N       repetitions of the fsync-off append figures only (9; give
//                         it after --reps, which sets both)
//   --no_variants         append: only raw new file vs log with default options
//   --no_codec / --no_append / --no_read / --no_lookup   skip parts
//   --warm                skip the cold (page cache dropped) figures
//   --quick               small sizes for a smoke run (lookup log 256 MB)
// Cold figures drop the page cache (/proc/sys/vm/drop_caches, root only;
// falls back to posix_fadvise DONTNEED and says so).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/synchronization/mutex.h"
#include "bench/storage/bench_util.h"

namespace {

bool Flag(const char* arg, const char* name, std::string* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // As raftlogd does: the distribution's Abseil checks lock order on every
  // absl::Mutex lock (~50 ns each here) unless told not to.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  raftlog::bench::BenchConfig config;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    std::string v;
    if (Flag(a, "--dir", &v)) {
      config.dir = v;
    } else if (Flag(a, "--raw_mb", &v)) {
      config.raw_bytes = std::stoull(v) << 20;
    } else if (Flag(a, "--sync_mb", &v)) {
      config.sync_bytes = std::stoull(v) << 20;
    } else if (Flag(a, "--codec_mb", &v)) {
      config.codec_bytes = std::stoull(v) << 20;
    } else if (Flag(a, "--lookup_gb", &v)) {
      config.lookup_log_bytes = static_cast<uint64_t>(std::stod(v) * (1ull << 30));
    } else if (Flag(a, "--lookups", &v)) {
      config.lookups = std::stoi(v);
    } else if (Flag(a, "--reps", &v)) {
      config.reps = std::max(1, std::stoi(v));
      config.append_off_reps = config.reps;
    } else if (Flag(a, "--append_reps", &v)) {
      config.append_off_reps = std::max(1, std::stoi(v));
    } else if (std::strcmp(a, "--no_variants") == 0) {
      config.append_variants = false;
    } else if (std::strcmp(a, "--no_codec") == 0) {
      config.run_codec = false;
    } else if (std::strcmp(a, "--no_append") == 0) {
      config.run_append = false;
    } else if (std::strcmp(a, "--no_read") == 0) {
      config.run_read = false;
    } else if (std::strcmp(a, "--no_lookup") == 0) {
      config.run_lookup = false;
    } else if (std::strcmp(a, "--warm") == 0) {
      config.cold = false;
    } else if (std::strcmp(a, "--quick") == 0) {
      config.raw_bytes = 64ull << 20;
      config.sync_bytes = 8ull << 20;
      config.codec_bytes = 32ull << 20;
      config.lookup_log_bytes = 256ull << 20;
      config.lookups = 500;
      config.reps = 1;
      config.append_off_reps = 2;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--dir=PATH] [--raw_mb=N] [--sync_mb=N] [--codec_mb=N] "
                   "[--lookup_gb=X] [--lookups=N] [--reps=N] [--append_reps=N] [--no_variants] "
                   "[--no_codec] [--no_append] [--no_read] [--no_lookup] [--warm] [--quick]\n",
                   argv[0]);
      return 2;
    }
  }
  if (config.run_codec) {
    const raftlog::bench::RawBaseline raw = raftlog::bench::RunRawBaseline(config);
    raftlog::bench::RunCodecBench(config, raw);
  }
  raftlog::bench::RunLogBench(config);
  std::filesystem::remove_all(config.dir);
  return 0;
}
