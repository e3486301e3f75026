// Partition-log figures, each against its raw-disk counterpart measured in
// the same run, the same way (new file for new file, same block size):
//   1. append MB/s of 1 KiB records in ~16 KiB and ~1 MiB batches, fsync off
//      and fsync per batch, with default options against a write() /
//      write()+fdatasync() loop into a new file written in the same run,
//      interleaved with it ~1 MiB at a time (the ratio is the median over
//      the reps of the runs' ratios, printed with their range); then
//      (unless --no_variants) a second raw new file (A/A: the noise floor),
//      a preallocated and a rewritten raw file, and the log: fsync off
//      without block reservation (reserve_ahead_bytes = 0, the default
//      before it), fsync per batch the broker's way (kNever + Sync() per
//      append, with and without reservation), with segment preallocation,
//      with the frame CRC derived from the batch CRC (trust_batch_crc) and,
//      fsync off, with a write-behind buffer (write_buffer_bytes);
//   2. sequential Read() / ReadView() MB/s against read() of the same segment
//      files, page cache warm and dropped;
//   3. p50/p99 latency of reading one record by offset in a >= 5 GB log,
//      cold (page cache dropped, log reopened) and warm (after a full pass),
//      against a raw 16 KiB pread at random places in the same files.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
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

std::unique_ptr<PartitionLog> OpenLog(
    const std::string& dir, FsyncPolicy policy, uint64_t segment_bytes, bool preallocate,
    bool trust_batch_crc = false, size_t write_buffer_bytes = 0,
    uint64_t reserve_ahead_bytes = PartitionLogOptions{}.reserve_ahead_bytes) {
  PartitionLogOptions options;
  options.trust_batch_crc = trust_batch_crc;
  options.write_buffer_bytes = write_buffer_bytes;
  options.fsync_policy = policy;
  options.segment_bytes = segment_bytes;
  options.preallocate = preallocate;
  options.reserve_ahead_bytes = reserve_ahead_bytes;
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

// One log configuration measured in the append figures.
struct LogVariant {
  const char* name;
  bool preallocate = false;
  bool trust_batch_crc = false;
  size_t write_buffer_bytes = 0;
  uint64_t reserve_ahead_bytes = PartitionLogOptions{}.reserve_ahead_bytes;
  // Fsync per batch the broker's way: FsyncPolicy::kNever and a Sync()
  // after every Append (one fsync per Raft Ready).
  bool sync_by_caller = false;
};

// What one side of an interleaved run achieved: MB/s of wall time and MB
// per second of this thread's CPU time (user + system).
struct Speed {
  double wall = 0;
  double cpu = 0;
};

// Something appended to a chunk at a time: a raw file or a log.
class Appender {
 public:
  virtual ~Appender() = default;
  virtual void Write(uint64_t blocks) = 0;   // `blocks` frames / batches
  virtual uint64_t block_bytes() const = 0;  // bytes credited per block
  virtual void Finish() = 0;                 // untimed: final sync, close, delete
};

class RawSide final : public Appender {
 public:
  RawSide(const BenchConfig& config, const std::string& name, size_t frame, uint64_t total,
          bool sync, RawFile mode)
      : raw_(FreshPath(config, name), frame, total, sync, mode), frame_(frame) {}
  void Write(uint64_t blocks) override { raw_.Write(blocks); }
  uint64_t block_bytes() const override { return frame_; }
  void Finish() override { raw_.Finish(); }

 private:
  RawAppender raw_;
  const size_t frame_;
};

// fsyncs inside Append (per the policy) are timed; the final Sync for
// kNever is not, as in the raw loop. Credited with the batch bytes (the
// frame headers it also writes are not counted).
class LogSide final : public Appender {
 public:
  LogSide(const BenchConfig& config, const LogVariant& v, FsyncPolicy policy,
          const std::vector<uint8_t>& batch)
      : dir_(FreshPath(config, "log")), batch_(batch), sync_by_caller_(v.sync_by_caller) {
    // 1 GiB segments: no roll (and its sealing fsync) inside the timed run.
    log_ = OpenLog(dir_, v.sync_by_caller ? FsyncPolicy::kNever : policy, 1ull << 30, v.preallocate,
                   v.trust_batch_crc, v.write_buffer_bytes, v.reserve_ahead_bytes);
  }
  ~LogSide() override { Finish(); }
  void Write(uint64_t blocks) override {
    for (uint64_t i = 0; i < blocks; ++i) {
      storage::AppendEntry e{log_->last_index() + 1, storage::Term(1), storage::EntryType::kData,
                             batch_};
      auto r = log_->Append(e);
      if (!r.ok()) Fail("append", r.status());
      if (sync_by_caller_) {
        if (auto s = log_->Sync(); !s.ok()) Fail("sync", s);
      }
    }
  }
  uint64_t block_bytes() const override { return batch_.size(); }
  void Finish() override {
    if (log_ == nullptr) return;
    if (auto s = log_->Sync(); !s.ok()) Fail("sync", s);
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

 private:
  const std::string dir_;
  const std::vector<uint8_t>& batch_;
  const bool sync_by_caller_;
  std::unique_ptr<PartitionLog> log_;
};

// Writes `total` bytes into each of `a` and `b`, alternating between them
// every ~`chunk` bytes (and which goes first at each turn), timing each
// chunk. Both sides then see the same machine: another process's burst,
// the host's mood, page-cache state, which between separate runs of a few
// hundred ms each moved one side's figure by up to +-30% (an A/A pair of
// two identical raw loops varied that much).
std::pair<Speed, Speed> Interleaved(Appender& a, Appender& b, uint64_t total, uint64_t chunk) {
  double wall[2] = {0, 0}, cpu[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
  Appender* side[2] = {&a, &b};
  const uint64_t frame = a.block_bytes();
  const uint64_t blocks = std::max<uint64_t>(1, chunk / frame);
  for (uint64_t done = 0, turn = 0; done < total; done += blocks * frame, ++turn) {
    const uint64_t n = std::min(blocks, (total - done + frame - 1) / frame);
    for (int k = 0; k < 2; ++k) {
      const int i = (turn % 2 == 0) ? k : 1 - k;
      Stopwatch sw;
      ThreadCpuStopwatch cs;
      side[i]->Write(n);
      wall[i] += sw.Seconds();
      cpu[i] += cs.Seconds();
      bytes[i] += n * side[i]->block_bytes();
    }
  }
  a.Finish();
  b.Finish();
  return {Speed{MBps(bytes[0], wall[0]), MBps(bytes[0], cpu[0])},
          Speed{MBps(bytes[1], wall[1]), MBps(bytes[1], cpu[1])}};
}

// "0.93x (0.88-0.99, 2 of 9 < 0.90)": the median of per-rep ratios, their
// range and how many reps fell below `target`.
std::string RatioSummary(const std::vector<double>& ratios, double target) {
  const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  const auto below =
      std::count_if(ratios.begin(), ratios.end(), [target](double r) { return r < target; });
  return absl::StrFormat("%.2fx (%.2f-%.2f, %d of %d < %.2f)", Median(ratios), *lo, *hi, below,
                         ratios.size(), target);
}

// One figure: pairs[rep] = (raw new file, X) from one interleaved run.
struct Figure {
  std::string name;
  double target = 0.90;
  std::vector<std::pair<Speed, Speed>> pairs = {};
};

void ReportFigure(const Figure& f, bool cpu) {
  std::vector<double> mbps, wall_ratio, cpu_ratio;
  for (const auto& [raw, x] : f.pairs) {
    mbps.push_back(x.wall);
    wall_ratio.push_back(raw.wall > 0 ? x.wall / raw.wall : 0);
    cpu_ratio.push_back(raw.cpu > 0 ? x.cpu / raw.cpu : 0);
  }
  std::printf("  %-46s %7.1f MB/s  %s", f.name.c_str(), Median(mbps),
              RatioSummary(wall_ratio, f.target).c_str());
  if (cpu) std::printf("  cpu %.2fx", Median(cpu_ratio));
  std::printf("\n");
  std::fflush(stdout);
}

// Each figure is X against a raw new-file loop written in the same run,
// interleaved with it chunk by chunk (Interleaved); the ratio printed is
// the median over the reps of (X MB/s / raw MB/s), with its range and the
// number of reps below the target. The first is the target figure: the log
// with default options. With fsync off, the ratio of CPU times is printed
// too (the median over reps): CPU time leaves out waiting for a core, so it
// separates the log's own cost from preemption by other processes.
void AppendCase(const BenchConfig& config, size_t block, bool sync) {
  const std::vector<uint8_t> batch = MakeBatch(block);
  const size_t frame = batch.size() + storage::kFrameHeaderSize;
  const uint64_t total = sync ? config.sync_bytes : config.raw_bytes;
  const FsyncPolicy policy = sync ? FsyncPolicy::kEveryAppend : FsyncPolicy::kNever;
  const int reps = sync ? config.reps : config.append_off_reps;
  // ~1 MiB per turn at 16 KiB (64 appends), 4 appends at 1 MiB.
  const uint64_t chunk = std::max<uint64_t>(1 << 20, 4 * frame);
  std::vector<LogVariant> log_variants = {{.name = "log Append, default options"}};
  if (config.append_variants) {
    if (sync) {
      // The broker's fsync per batch, which gets reserve_ahead_bytes (kNever).
      log_variants.push_back(
          {.name = "log Append + Sync(), policy kNever (broker)", .sync_by_caller = true});
      log_variants.push_back({.name = "log Append + Sync(), kNever, reserve_ahead_bytes = 0",
                              .reserve_ahead_bytes = 0,
                              .sync_by_caller = true});
    } else {
      log_variants.push_back(
          {.name = "log Append, reserve_ahead_bytes = 0", .reserve_ahead_bytes = 0});
    }
    log_variants.push_back({.name = "log Append, preallocate", .preallocate = true});
    log_variants.push_back({.name = "log Append, trust_batch_crc", .trust_batch_crc = true});
    if (!sync) {
      log_variants.push_back(
          {.name = "log Append, write_buffer_bytes = 64 KiB", .write_buffer_bytes = 64 << 10});
    }
  }
  std::vector<Figure> figures;
  for (const LogVariant& v : log_variants) {
    figures.push_back({.name = std::string(v.name) + (figures.empty() ? " [target >= 0.90]" : "")});
  }
  const size_t first_raw_figure = figures.size();
  if (config.append_variants) {
    // The same loop twice: how far apart two identical sides land (noise).
    figures.push_back({.name = "raw write() new file again (A/A: noise)", .target = 1.0});
    figures.push_back({.name = "raw write() preallocated new file", .target = 1.0});
    figures.push_back({.name = "raw write() rewrite of existing file", .target = 1.0});
  }
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t f = 0; f < figures.size(); ++f) {
      RawSide raw(config, "raw", frame, total, sync, RawFile::kNew);
      std::unique_ptr<Appender> x;
      if (f < first_raw_figure) {
        x = std::make_unique<LogSide>(config, log_variants[f], policy, batch);
      } else {
        const RawFile modes[] = {RawFile::kNew, RawFile::kPreallocated, RawFile::kRewrite};
        const RawFile mode = modes[f - first_raw_figure];
        x = std::make_unique<RawSide>(config, "raw_x", frame, total, sync, mode);
      }
      figures[f].pairs.push_back(Interleaved(raw, *x, total, chunk));
    }
  }
  const std::string what =
      absl::StrFormat("%s batches (%d B frames), fsync %s",
                      block == (16 << 10) ? "16 KiB" : "1 MiB", frame, sync ? "per batch" : "off");
  std::printf(
      "append, %s, %d MB per run, %d reps, each run interleaved with a raw new-file loop\n"
      "  (ratio to that loop: median over reps (range, reps below target))\n",
      what.c_str(), static_cast<int>(total >> 20), reps);
  std::vector<double> raw_wall;
  for (const auto& [raw, x] : figures[0].pairs) raw_wall.push_back(raw.wall);
  Report("raw write() new file, in the target figure's runs", Median(raw_wall), "MB/s");
  for (const Figure& f : figures) ReportFigure(f, !sync);
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
