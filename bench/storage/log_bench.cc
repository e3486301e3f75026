// Partition-log figures, each against its raw-disk counterpart measured in
// the same run, the same way (new file for new file, same block size):
//   1. append MB/s of 1 KiB records in ~16 KiB and ~1 MiB batches, fsync off
//      and fsync per batch, without and with segment preallocation (and with
//      the frame CRC derived from the batch CRC: trust_batch_crc), against
//      write() / write()+fdatasync() loops into a new, a preallocated and a
//      rewritten file (raw and log runs interleaved, median of --reps);
//   2. sequential Read() / ReadView() MB/s against read() of the same segment
//      files, page cache warm and dropped;
//   3. p50/p99 latency of reading one record by offset in a >= 5 GB log,
//      cold (page cache dropped, log reopened) and warm (after a full pass),
//      against a raw 16 KiB pread at random places in the same files.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/storage/bench_util.h"
#include "storage/log_entry_format.h"
#include "storage/partition_log.h"
#include "storage/record_batch.h"

namespace raftlog::bench {
namespace {

using storage::FsyncPolicy;
using storage::Offset;
using storage::PartitionLog;
using storage::PartitionLogOptions;

[[noreturn]] void Fail(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "storage_bench: %s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

// A batch of 1 KiB records whose log frame (batch + frame header) is at most
// `frame_bytes`.
std::vector<uint8_t> MakeBatch(size_t frame_bytes) {
  std::mt19937_64 rng(9);
  storage::BatchBuilder b;
  const size_t limit = frame_bytes - storage::kFrameHeaderSize;
  while (b.records_bytes() + 1024 + 16 + 61 <= limit) {
    b.Add(std::nullopt, RecordValue(rng, 1024), 1'700'000'000'000 + b.record_count());
  }
  auto built = b.Build();
  if (!built.ok()) Fail("build batch", built.status());
  return *built;
}

std::unique_ptr<PartitionLog> OpenLog(const std::string& dir, FsyncPolicy policy,
                                      uint64_t segment_bytes, bool preallocate,
                                      bool trust_batch_crc = false) {
  PartitionLogOptions options;
  options.trust_batch_crc = trust_batch_crc;
  options.fsync_policy = policy;
  options.segment_bytes = segment_bytes;
  options.preallocate = preallocate;
  auto log = PartitionLog::Open(dir, options);
  if (!log.ok()) Fail("open log", log.status());
  return std::move(*log);
}

// Appends `batch` until `total` bytes went in; returns MB/s of batch bytes.
// fsyncs inside Append (per the policy) are timed; the final Sync for kNever
// is not, as in the raw loop.
double AppendLoop(PartitionLog* log, const std::vector<uint8_t>& batch, uint64_t total) {
  Stopwatch sw;
  uint64_t done = 0;
  for (; done < total; done += batch.size()) {
    storage::AppendEntry e{log->last_index() + 1, storage::Term(1), storage::EntryType::kData,
                           batch};
    auto r = log->Append(e);
    if (!r.ok()) Fail("append", r.status());
  }
  const double seconds = sw.Seconds();
  if (auto s = log->Sync(); !s.ok()) Fail("sync", s);
  return MBps(done, seconds);
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".log") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// ---- 1. Append ----

void AppendCase(const BenchConfig& config, size_t block, bool sync) {
  const std::vector<uint8_t> batch = MakeBatch(block);
  const size_t frame = batch.size() + storage::kFrameHeaderSize;
  const uint64_t total = sync ? config.sync_bytes : config.raw_bytes;
  const FsyncPolicy policy = sync ? FsyncPolicy::kEveryAppend : FsyncPolicy::kNever;
  std::vector<double> raw_new, raw_pre, raw_re, log_plain, log_pre, log_trust;
  for (int rep = 0; rep < config.reps; ++rep) {
    const std::string raw = FreshPath(config, "raw");
    raw_new.push_back(RawWriteLoop(raw, frame, total, sync, RawFile::kNew));
    raw_re.push_back(RawWriteLoop(raw, frame, total, sync, RawFile::kRewrite));
    std::filesystem::remove(raw);
    raw_pre.push_back(RawWriteLoop(raw, frame, total, sync, RawFile::kPreallocated));
    std::filesystem::remove(raw);
    // 1 GiB segments: no roll (and its sealing fsync) inside the timed run.
    for (int variant = 0; variant < 3; ++variant) {
      const std::string dir = FreshPath(config, "log");
      auto log = OpenLog(dir, policy, 1ull << 30, variant >= 1, variant == 2);
      const double mbps = AppendLoop(log.get(), batch, total);
      (variant == 0 ? log_plain : variant == 1 ? log_pre : log_trust).push_back(mbps);
      log.reset();
      std::filesystem::remove_all(dir);
    }
  }
  const std::string what =
      absl::StrFormat("%s batches (%d B frames), fsync %s",
                      block == (16 << 10) ? "16 KiB" : "1 MiB", frame, sync ? "per batch" : "off");
  std::printf("append, %s, %d MB per run, median of %d\n", what.c_str(),
              static_cast<int>(total >> 20), config.reps);
  const double base = Median(raw_new);
  Report("raw write() new file", base, "MB/s");
  Report("raw write() preallocated new file", Median(raw_pre), "MB/s", base, "raw new");
  Report("raw write() rewrite of existing file", Median(raw_re), "MB/s", base, "raw new");
  Report("log Append", Median(log_plain), "MB/s", base, "raw new [target >= 0.90]");
  Report("log Append, preallocate", Median(log_pre), "MB/s", base, "raw new [target >= 0.90]");
  Report("log Append, preallocate", Median(log_pre), "MB/s", Median(raw_pre), "raw preallocated");
  Report("log Append, preallocate + trust_batch_crc", Median(log_trust), "MB/s", base,
         "raw new [target >= 0.90]");
}

// ---- 2. Sequential read ----

double SequentialRead(const PartitionLog& log, bool view) {
  storage::ReadOptions options;
  options.max_bytes = 1 << 20;
  Offset from = log.log_start_offset();
  uint64_t bytes = 0;
  Stopwatch sw;
  while (from < log.next_offset()) {
    if (view) {
      auto r = log.ReadView(from, options);
      if (!r.ok()) Fail("read", r.status());
      bytes += r->batches_bytes;
      from = r->next_offset;
    } else {
      auto r = log.Read(from, options);
      if (!r.ok()) Fail("read", r.status());
      bytes += r->batches.size();
      from = r->next_offset;
    }
  }
  return MBps(bytes, sw.Seconds());
}

void ReadBench(const BenchConfig& config) {
  const std::vector<uint8_t> batch = MakeBatch(16 << 10);
  const std::string dir = FreshPath(config, "log_read");
  auto log = OpenLog(dir, FsyncPolicy::kNever, 128ull << 20, false);
  AppendLoop(log.get(), batch, config.raw_bytes);
  const std::vector<std::string> files = SegmentFiles(dir);
  std::printf("sequential read of a %d MB log of ~16 KiB batches, 1 MiB per Read, median of %d\n",
              static_cast<int>(log->size_bytes() >> 20), config.reps);
  RawReadFiles(files, 1 << 20);  // warm the page cache
  std::vector<double> raw, copy, view;
  for (int rep = 0; rep < config.reps; ++rep) {
    raw.push_back(RawReadFiles(files, 1 << 20));
    copy.push_back(SequentialRead(*log, false));
    view.push_back(SequentialRead(*log, true));
  }
  const double base = Median(raw);
  Report("raw read() 1 MiB blocks of the segment files, warm", base, "MB/s");
  Report("log Read() (one copy into the result), warm", Median(copy), "MB/s", base, "raw read");
  Report("log ReadView() (no copy), warm", Median(view), "MB/s", base, "raw read");
  if (config.cold) {
    const std::string how = DropCaches(dir);
    const double raw_cold = RawReadFiles(files, 1 << 20);
    DropCaches(dir);
    const double log_cold = SequentialRead(*log, false);
    Report("raw read() 1 MiB blocks, cold (" + how + ")", raw_cold, "MB/s");
    Report("log Read(), cold", log_cold, "MB/s", raw_cold, "raw read cold");
  }
  log.reset();
  std::filesystem::remove_all(dir);
}

// ---- 3. Lookup by offset ----

struct LookupFigures {
  std::vector<double> log_us, raw_us;
};

LookupFigures Lookups(const BenchConfig& config, const PartitionLog& log,
                      const std::vector<std::string>& files, uint64_t seed,
                      const std::string& dir_to_drop) {
  LookupFigures f;
  std::mt19937_64 rng(seed);
  const int64_t start = log.log_start_offset().value();
  const int64_t end = log.next_offset().value();
  storage::ReadOptions one;
  one.max_bytes = 1;  // the first batch is always returned whole
  for (int i = 0; i < config.lookups; ++i) {
    const int64_t want = start + static_cast<int64_t>(rng() % static_cast<uint64_t>(end - start));
    Stopwatch sw;
    auto r = log.Read(Offset(want), one);
    if (!r.ok()) Fail("lookup read", r.status());
    auto records = storage::DecodeBatch(r->batches);
    if (!records.ok()) Fail("lookup decode", records.status());
    bool found = false;
    for (const auto& rec : *records) found |= rec.offset == want;
    f.log_us.push_back(sw.Seconds() * 1e6);
    if (!found) {
      std::fprintf(stderr, "storage_bench: offset %lld not in the batch read\n",
                   static_cast<long long>(want));
      std::exit(1);
    }
  }
  // Raw counterpart: 16 KiB pread at random 4 KiB-aligned places in the same
  // segment files, in the same cache state.
  if (!dir_to_drop.empty()) DropCaches(dir_to_drop);
  std::vector<int> fds;
  std::vector<uint64_t> sizes;
  for (const std::string& path : files) {
    fds.push_back(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    sizes.push_back(std::filesystem::file_size(path));
  }
  std::vector<char> buf(16 << 10);
  for (int i = 0; i < config.lookups && !files.empty(); ++i) {
    const size_t k = rng() % files.size();
    if (sizes[k] <= buf.size()) continue;
    const uint64_t pos = (rng() % (sizes[k] - buf.size())) & ~uint64_t{4095};
    Stopwatch sw;
    const ssize_t n = ::pread(fds[k], buf.data(), buf.size(), static_cast<off_t>(pos));
    f.raw_us.push_back(sw.Seconds() * 1e6);
    if (n <= 0) std::exit(1);
  }
  for (int fd : fds) ::close(fd);
  return f;
}

void ReportLookups(const char* label, const LookupFigures& f) {
  const double raw50 = Percentile(f.raw_us, 0.50), raw99 = Percentile(f.raw_us, 0.99);
  Report(absl::StrFormat("raw pread 16 KiB p50, %s", label), raw50, "us");
  Report(absl::StrFormat("raw pread 16 KiB p99, %s", label), raw99, "us");
  Report(absl::StrFormat("log read one record by offset p50, %s", label),
         Percentile(f.log_us, 0.50), "us", raw50, "raw pread");
  Report(absl::StrFormat("log read one record by offset p99, %s", label),
         Percentile(f.log_us, 0.99), "us", raw99, "raw pread");
  Report(absl::StrFormat("log read one record by offset p99.9, %s", label),
         Percentile(f.log_us, 0.999), "us");
}

void LookupBench(const BenchConfig& config) {
  const std::vector<uint8_t> batch = MakeBatch(16 << 10);
  const std::string dir = FreshPath(config, "log_lookup");
  // Default segment size (128 MiB): rolls and their sealing fsyncs included.
  auto log = OpenLog(dir, FsyncPolicy::kNever, 128ull << 20, false);
  std::printf("lookup: building a %.2f GB log of ~16 KiB batches (128 MiB segments)...\n",
              static_cast<double>(config.lookup_log_bytes) / (1ull << 30));
  const double build = AppendLoop(log.get(), batch, config.lookup_log_bytes);
  Report("lookup log build (append, fsync off, incl. segment rolls)", build, "MB/s");
  const uint64_t size = log->size_bytes();
  const size_t segments = log->segment_count();
  log.reset();
  const std::vector<std::string> files = SegmentFiles(dir);
  std::printf("lookup: %d random offsets in %.2f GB, %zu segments; Read(max_bytes=1) + decode\n",
              config.lookups, static_cast<double>(size) / (1ull << 30), segments);
  if (config.cold) {
    const std::string how = DropCaches(dir);
    Stopwatch open_sw;
    log = OpenLog(dir, FsyncPolicy::kNever, 128ull << 20, false);
    Report("open (loads every sparse index), page cache dropped", open_sw.Seconds() * 1e3, "ms");
    ReportLookups(("cold, " + how).c_str(), Lookups(config, *log, files, 11, dir));
  } else {
    log = OpenLog(dir, FsyncPolicy::kNever, 128ull << 20, false);
  }
  // Warm: a full sequential pass brings every segment into the page cache;
  // the sparse indexes are in memory since Open.
  RawReadFiles(files, 1 << 20);
  Lookups(config, *log, files, 12, "");  // untimed warm-up of the code paths
  ReportLookups("warm (index + page cache)", Lookups(config, *log, files, 13, ""));
  log.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

void RunLogBench(const BenchConfig& config) {
  if (config.run_append) {
    for (bool sync : {false, true}) {
      for (size_t block : {size_t{16} << 10, size_t{1} << 20}) AppendCase(config, block, sync);
    }
  }
  if (config.run_read) ReadBench(config);
  if (config.run_lookup) LookupBench(config);
}

}  // namespace raftlog::bench
