// fsync_strategies: decides raftlogd's durability design (issue 4). Each round
// appends one record to each of G partition files (one per Raft group) and then
// makes the round durable with one strategy:
//   serial       fdatasync each file in turn on one thread
//   parallel-T   fdatasync the files spread over a persistent pool of T threads
//   syncfs       one syncfs() of the directory's file system
//   journal      the same bytes plus a 24-byte header appended to one journal
//                file, one fdatasync of it; segment files written, never synced
//   journal+ckpt journal, plus a checkpoint thread that syncfs()es every
//                --checkpoint_ms so the unsynced segment data really reaches the
//                disk while the rounds run (what a journal must do to truncate)
//   baseline     no sync (the CPU / page-cache ceiling)
// and prints rounds/s, records/s, MiB/s, p50/p99 round latency and the ratios
// of records/s to the same strategy at G=1 and to serial at the same G, all
// measured in the same run.
//
// Invariants: every case runs on fresh files in a fresh directory under --dir
// (a mkdtemp directory, removed with everything in it on exit, error or
// SIGINT); the file system is settled with an untimed syncfs() before each
// case; every loop is bounded by --rounds, --seconds and --case_mb; every
// syscall failure ends the run with its errno text and exit code 1.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "storage/crc32c.h"

namespace raftlog::bench {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void OnSignal(int) { g_interrupted = 1; }

constexpr size_t kJournalHeaderBytes = 24;  // group u64, offset u64, length u32, crc u32

absl::Status ErrnoError(absl::string_view what, absl::string_view path, int err = errno) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

// ---------------------------------------------------------------- config ----

enum class Kind { kSerial, kParallel, kSyncfs, kJournal, kBaseline };

struct Strategy {
  Kind kind;
  int threads;  // only for kParallel
  std::string name;
  bool checkpoint = false;  // only for kJournal: run the syncfs checkpoint thread
};

struct Config {
  std::vector<int> groups = {1, 10, 100, 1000};
  std::vector<int> threads = {4, 8, 32};
  std::vector<std::string> only;  // strategy names (or "parallel") to run; empty = all
  int64_t rounds = 1'000'000;     // cap per case; --seconds normally ends a case first
  double seconds = 4;
  size_t record_bytes = 1024;
  uint64_t case_bytes = 1ull << 30;  // payload cap per case (bounds the page-cache cases)
  std::string dir = "/tmp";
  int checkpoint_ms = 200;  // journal+ckpt: pause between checkpoint syncfs() calls
  bool json = false;
  bool allow_tmpfs = false;
};

std::vector<Strategy> Strategies(const Config& config) {
  std::vector<Strategy> all = {{Kind::kSerial, 1, "serial"}};
  for (int t : config.threads) all.push_back({Kind::kParallel, t, absl::StrCat("parallel-", t)});
  all.push_back({Kind::kSyncfs, 1, "syncfs"});
  all.push_back({Kind::kJournal, 1, "journal"});
  all.push_back({Kind::kJournal, 1, "journal+ckpt", true});
  all.push_back({Kind::kBaseline, 1, "baseline"});
  if (config.only.empty()) return all;
  std::vector<Strategy> chosen;
  for (const Strategy& s : all) {
    for (const std::string& want : config.only) {
      if (want == s.name || (want == "parallel" && s.kind == Kind::kParallel)) {
        chosen.push_back(s);
        break;
      }
    }
  }
  return chosen;
}

template <typename T>
bool ParseNumber(absl::string_view text, T* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

bool ParseIntList(absl::string_view text, int max, std::vector<int>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int v = 0;
    if (!ParseNumber(part, &v) || v < 1 || v > max) return false;
    out->push_back(v);
  }
  return !out->empty();
}

bool Flag(absl::string_view arg, absl::string_view name, absl::string_view* value) {
  if (arg.size() <= name.size() || arg.substr(0, name.size()) != name || arg[name.size()] != '=') {
    return false;
  }
  *value = arg.substr(name.size() + 1);
  return true;
}

constexpr char kUsage[] =
    "usage: fsync_strategies [--groups=1,10,100,1000] [--threads=4,8,32]\n"
    "  [--strategies=serial,parallel,syncfs,journal,journal+ckpt,baseline] [--rounds=N]\n"
    "  [--seconds=4] [--record_bytes=1024] [--case_mb=1024] [--checkpoint_ms=200] [--dir=/tmp]\n"
    "  [--json] [--allow_tmpfs]\n"
    "Each case runs until --rounds, --seconds or --case_mb of payload is reached.\n";

// Returns false (after printing why) on a usage error.
bool ParseFlags(int argc, char** argv, Config* config) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view a = argv[i];
    absl::string_view v;
    bool ok = true;
    if (Flag(a, "--groups", &v)) {
      ok = ParseIntList(v, 100000, &config->groups);
    } else if (Flag(a, "--threads", &v)) {
      ok = ParseIntList(v, 1024, &config->threads);
    } else if (Flag(a, "--strategies", &v)) {
      config->only = absl::StrSplit(v, ',', absl::SkipEmpty());
      ok = !config->only.empty();
    } else if (Flag(a, "--rounds", &v)) {
      ok = ParseNumber(v, &config->rounds) && config->rounds >= 1;
    } else if (Flag(a, "--seconds", &v)) {
      ok = ParseNumber(v, &config->seconds) && config->seconds > 0 && config->seconds <= 3600;
    } else if (Flag(a, "--record_bytes", &v)) {
      ok = ParseNumber(v, &config->record_bytes) && config->record_bytes >= 8 &&
           config->record_bytes <= (16u << 20);
    } else if (Flag(a, "--case_mb", &v)) {
      ok = ParseNumber(v, &config->case_bytes) && config->case_bytes >= 1 &&
           config->case_bytes <= (1u << 20);
      config->case_bytes <<= 20;
    } else if (Flag(a, "--checkpoint_ms", &v)) {
      ok = ParseNumber(v, &config->checkpoint_ms) && config->checkpoint_ms >= 1 &&
           config->checkpoint_ms <= 60000;
    } else if (Flag(a, "--dir", &v)) {
      config->dir = std::string(v);
      ok = !config->dir.empty();
    } else if (a == "--json") {
      config->json = true;
    } else if (a == "--allow_tmpfs") {
      config->allow_tmpfs = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "fsync_strategies: bad flag '%s'\n%s", argv[i], kUsage);
      return false;
    }
  }
  if (Strategies(*config).empty()) {
    std::fprintf(stderr, "fsync_strategies: --strategies selects nothing\n%s", kUsage);
    return false;
  }
  return true;
}

// ------------------------------------------------------------- resources ----

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// A directory removed, with everything in it, when this object goes away.
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Create(const std::string& parent) {
    std::string templ = parent + "/raftlog-fsync-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return ErrnoError("mkdtemp", templ);
    return ScratchDir(std::move(templ));
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::exchange(o.path_, "")) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec)
      std::fprintf(stderr, "fsync_strategies: removing %s: %s\n", path_.c_str(),
                   ec.message().c_str());
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// One case's files: G empty segment files and one empty journal, created and
// made durable (untimed) before the case starts; removed on destruction.
struct CaseFiles {
  ScratchDir dir;
  UniqueFd dir_fd;
  std::vector<UniqueFd> segments;
  std::vector<int> segment_fds;  // raw copies for the sync loops
  UniqueFd journal;

  static absl::StatusOr<CaseFiles> Create(const std::string& parent, int groups) {
    absl::StatusOr<ScratchDir> dir = ScratchDir::Create(parent);
    if (!dir.ok()) return dir.status();
    CaseFiles files{std::move(*dir), UniqueFd(), {}, {}, UniqueFd()};
    const std::string& path = files.dir.path();
    files.dir_fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (files.dir_fd.get() < 0) return ErrnoError("open", path);
    files.segments.reserve(static_cast<size_t>(groups));
    for (int g = 0; g < groups; ++g) {
      const std::string name = absl::StrCat(path, "/group-", g, ".log");
      UniqueFd fd(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd.get() < 0) return ErrnoError("open", name);
      files.segment_fds.push_back(fd.get());
      files.segments.push_back(std::move(fd));
    }
    const std::string journal = path + "/journal.log";
    files.journal =
        UniqueFd(::open(journal.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (files.journal.get() < 0) return ErrnoError("open", journal);
    // Creation is not what is measured: make it durable now, and settle the
    // file system so earlier cases' writeback does not land in this one.
    if (::fsync(files.dir_fd.get()) != 0) return ErrnoError("fsync", path);
    if (::syncfs(files.dir_fd.get()) != 0) return ErrnoError("syncfs", path);
    return files;
  }
};

// ------------------------------------------------------------ sync pool ----

// T persistent threads that fdatasync a set of files together: each round the
// caller hands over the fds, the threads take them one at a time from a shared
// counter, and SyncAll returns when every one is synced (or the first error).
class SyncPool {
 public:
  explicit SyncPool(int threads) {
    threads_.reserve(static_cast<size_t>(threads));
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;
  ~SyncPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  absl::Status SyncAll(const std::vector<int>& fds) {
    std::unique_lock<std::mutex> lock(mu_);
    fds_ = &fds;
    next_.store(0, std::memory_order_relaxed);
    busy_ = static_cast<int>(threads_.size());
    first_errno_ = 0;
    ++generation_;
    work_cv_.notify_all();
    done_cv_.wait(lock, [this] { return busy_ == 0; });
    if (first_errno_ != 0) {
      return ErrnoError("fdatasync", absl::StrCat("segment fd ", failed_fd_), first_errno_);
    }
    return absl::OkStatus();
  }

 private:
  void Work() {
    uint64_t seen = 0;
    while (true) {
      const std::vector<int>* fds = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        fds = fds_;
      }
      int err = 0, bad_fd = -1;
      // Bounded: the shared counter only grows, so at most fds->size() turns in all.
      for (size_t i = next_.fetch_add(1); i < fds->size(); i = next_.fetch_add(1)) {
        if (::fdatasync((*fds)[i]) != 0 && err == 0) {
          err = errno;
          bad_fd = (*fds)[i];
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (err != 0 && first_errno_ == 0) {
        first_errno_ = err;
        failed_fd_ = bad_fd;
      }
      if (--busy_ == 0) done_cv_.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  uint64_t generation_ = 0;                // guarded by mu_; bumped once per SyncAll
  bool stop_ = false;                      // guarded by mu_
  int busy_ = 0;                           // guarded by mu_; threads not done with this generation
  int first_errno_ = 0, failed_fd_ = -1;   // guarded by mu_
  const std::vector<int>* fds_ = nullptr;  // guarded by mu_
  std::atomic<size_t> next_{0};
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------- a case ----

struct CaseResult {
  std::string strategy;
  int groups = 0;
  int64_t rounds = 0;
  double seconds = 0;
  double rounds_per_s = 0, records_per_s = 0, mib_per_s = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  double vs_g1 = 0, vs_serial = 0;  // records/s ratios; 0 = reference not run
  const char* stopped_by = "";
  // Whole-disk counters over the case (the disk is shared: includes others' I/O).
  double dev_kib_per_round = -1, flushes_per_round = -1;
  int checkpoints = 0;  // journal+ckpt only
  double checkpoint_p50_ms = 0, checkpoint_max_ms = 0;
};

// Counters from /sys/.../stat of the disk under --dir (Documentation/block/stat.rst).
struct DiskStat {
  bool ok = false;
  uint64_t write_sectors = 0, flushes = 0;
};

DiskStat ReadDiskStat(const std::string& path) {
  DiskStat d;
  if (path.empty()) return d;
  std::ifstream in(path);
  std::vector<uint64_t> f;
  uint64_t v = 0;
  for (int i = 0; i < 32 && in >> v; ++i) f.push_back(v);
  if (f.size() < 17) return d;
  d.ok = true;
  d.write_sectors = f[6];
  d.flushes = f[15];
  return d;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

absl::Status WriteAll(int fd, const char* data, size_t n, uint64_t offset, absl::string_view what) {
  const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
  if (w < 0) return ErrnoError("pwrite", what);
  if (static_cast<size_t>(w) != n) {
    return absl::InternalError(absl::StrCat("pwrite ", what, ": short write ", w, " of ", n));
  }
  return absl::OkStatus();
}

void PutLe(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// A thread that syncfs()es the case's file system every `period` until
// stopped (at most 100000 times), timing each call. Stop() joins it.
class Checkpointer {
 public:
  Checkpointer(int dir_fd, std::chrono::milliseconds period)
      : dir_fd_(dir_fd), period_(period), thread_([this] { Loop(); }) {}
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  ~Checkpointer() { Stop().IgnoreError(); }  // errors matter only via an explicit Stop()

  // Joins the thread; returns the first syncfs error, if any.
  absl::Status Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (errno_ != 0) return ErrnoError("syncfs", "(checkpoint)", errno_);
    return absl::OkStatus();
  }
  // Valid after Stop().
  const std::vector<double>& durations_ms() const { return durations_ms_; }

 private:
  void Loop() {
    for (int n = 0; n < 100000; ++n) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (cv_.wait_for(lock, period_, [this] { return stop_; })) return;
      }
      const auto t0 = std::chrono::steady_clock::now();
      if (::syncfs(dir_fd_) != 0) {
        errno_ = errno;
        return;
      }
      durations_ms_.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }

  const int dir_fd_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                 // guarded by mu_
  int errno_ = 0;                     // written by the thread, read after join
  std::vector<double> durations_ms_;  // written by the thread, read after join
  std::thread thread_;                // last: starts after the fields above exist
};

absl::StatusOr<CaseResult> RunCase(const Config& config, const std::string& scratch,
                                   const std::string& disk_stat_path, const Strategy& strategy,
                                   int groups) {
  absl::StatusOr<CaseFiles> files_or = CaseFiles::Create(scratch, groups);
  if (!files_or.ok()) return files_or.status();
  CaseFiles& files = *files_or;
  std::unique_ptr<SyncPool> pool;
  if (strategy.kind == Kind::kParallel) pool = std::make_unique<SyncPool>(strategy.threads);

  const size_t rec = config.record_bytes;
  const size_t g = static_cast<size_t>(groups);
  std::vector<char> record(rec);
  std::mt19937_64 rng(42);
  for (char& c : record) c = static_cast<char>(rng());
  std::vector<char> journal_buf;
  if (strategy.kind == Kind::kJournal) journal_buf.resize(g * (kJournalHeaderBytes + rec));
  std::vector<uint64_t> segment_end(g, 0);
  uint64_t journal_end = 0;

  const uint64_t round_bytes = g * rec;
  const int64_t max_rounds = std::min<int64_t>(
      config.rounds, std::max<int64_t>(1, static_cast<int64_t>(config.case_bytes / round_bytes)));
  std::vector<double> latencies_us;
  latencies_us.reserve(static_cast<size_t>(std::min<int64_t>(max_rounds, 1 << 22)));

  std::unique_ptr<Checkpointer> checkpointer;
  if (strategy.checkpoint) {
    checkpointer = std::make_unique<Checkpointer>(files.dir_fd.get(),
                                                  std::chrono::milliseconds(config.checkpoint_ms));
  }
  using Clock = std::chrono::steady_clock;
  const DiskStat disk_before = ReadDiskStat(disk_stat_path);
  const Clock::time_point start = Clock::now();
  CaseResult result;
  result.stopped_by = "rounds";
  int64_t round = 0;
  for (; round < max_rounds; ++round) {
    if (g_interrupted) return absl::CancelledError("interrupted");
    if (round > 0 &&
        std::chrono::duration<double>(Clock::now() - start).count() >= config.seconds) {
      result.stopped_by = "seconds";
      break;
    }
    const Clock::time_point t0 = Clock::now();
    PutLe(record.data(), static_cast<uint64_t>(round), 8);  // every round's bytes differ
    for (size_t i = 0; i < g; ++i) {
      absl::Status s =
          WriteAll(files.segment_fds[i], record.data(), rec, segment_end[i], "segment file");
      if (!s.ok()) return s;
      if (strategy.kind == Kind::kJournal) {
        char* h = journal_buf.data() + i * (kJournalHeaderBytes + rec);
        PutLe(h, i, 8);
        PutLe(h + 8, segment_end[i], 8);
        PutLe(h + 16, rec, 4);
        PutLe(h + 20, storage::Crc32c(record.data(), rec), 4);
        std::memcpy(h + kJournalHeaderBytes, record.data(), rec);
      }
      segment_end[i] += rec;
    }
    switch (strategy.kind) {
      case Kind::kSerial:
        for (int fd : files.segment_fds) {
          if (::fdatasync(fd) != 0) return ErrnoError("fdatasync", "segment file");
        }
        break;
      case Kind::kParallel: {
        absl::Status s = pool->SyncAll(files.segment_fds);
        if (!s.ok()) return s;
        break;
      }
      case Kind::kSyncfs:
        if (::syncfs(files.dir_fd.get()) != 0) return ErrnoError("syncfs", files.dir.path());
        break;
      case Kind::kJournal: {
        absl::Status s = WriteAll(files.journal.get(), journal_buf.data(), journal_buf.size(),
                                  journal_end, "journal");
        if (!s.ok()) return s;
        journal_end += journal_buf.size();
        if (::fdatasync(files.journal.get()) != 0) return ErrnoError("fdatasync", "journal");
        break;
      }
      case Kind::kBaseline:
        break;
    }
    latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  if (round == max_rounds && max_rounds < config.rounds) result.stopped_by = "case_mb";
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (checkpointer != nullptr) {
    absl::Status s = checkpointer->Stop();
    if (!s.ok()) return s;
    result.checkpoints = static_cast<int>(checkpointer->durations_ms().size());
    result.checkpoint_p50_ms = Percentile(checkpointer->durations_ms(), 0.5);
    result.checkpoint_max_ms = Percentile(checkpointer->durations_ms(), 1.0);
  }
  const DiskStat disk_after = ReadDiskStat(disk_stat_path);
  if (disk_before.ok && disk_after.ok && round > 0) {
    const double rounds = static_cast<double>(round);
    result.dev_kib_per_round =
        static_cast<double>(disk_after.write_sectors - disk_before.write_sectors) / 2 / rounds;
    result.flushes_per_round =
        static_cast<double>(disk_after.flushes - disk_before.flushes) / rounds;
  }
  result.strategy = strategy.name;
  result.groups = groups;
  result.rounds = round;
  result.rounds_per_s = static_cast<double>(round) / result.seconds;
  result.records_per_s = result.rounds_per_s * static_cast<double>(groups);
  result.mib_per_s = result.records_per_s * static_cast<double>(rec) / (1 << 20);
  result.p50_us = Percentile(latencies_us, 0.50);
  result.p99_us = Percentile(latencies_us, 0.99);
  result.max_us =
      latencies_us.empty() ? 0 : *std::max_element(latencies_us.begin(), latencies_us.end());
  return result;
}

// ------------------------------------------------------- machine context ----

std::string FsTypeName(int64_t magic) {
  switch (static_cast<uint64_t>(magic) & 0xffffffffu) {
    case 0xEF53:
      return "ext2/3/4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x858458F6:
      return "ramfs";
    case 0x794C7630:
      return "overlayfs";
    case 0x2FC12FC1:
      return "zfs";
    case 0xF2F52010:
      return "f2fs";
    case 0x6969:
      return "nfs";
    case 0x65735546:
      return "fuse";
    case 0x01021997:
      return "9p";
    default:
      return "unknown";
  }
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "?";
  return line;
}

struct MachineContext {
  int nproc = 0;
  std::string kernel, fs_type, device, mount_point, mount_options, disk;
  std::string disk_stat_path;  // empty if the device has no /sys stat file
  bool in_memory_fs = false;
};

// Describes `dir`: statfs type, the mount (from /proc/self/mountinfo, matched
// by st_dev and longest mount-point prefix) and the block device's queue.
absl::StatusOr<MachineContext> DescribeMachine(const std::string& dir) {
  MachineContext m;
  m.nproc = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  struct utsname u {};
  if (::uname(&u) != 0) return ErrnoError("uname", "");
  m.kernel = absl::StrCat(u.release, " ", u.machine);
  struct statfs sfs {};
  if (::statfs(dir.c_str(), &sfs) != 0) return ErrnoError("statfs", dir);
  char magic[32];
  std::snprintf(magic, sizeof(magic), "0x%llx", static_cast<unsigned long long>(sfs.f_type));
  m.fs_type = absl::StrCat(FsTypeName(sfs.f_type), " (f_type ", magic, ")");
  m.in_memory_fs = sfs.f_type == 0x01021994 || sfs.f_type == static_cast<long>(0x858458F6);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoError("stat", dir);
  const unsigned maj = major(st.st_dev), min = minor(st.st_dev);
  const std::string dev_id = absl::StrCat(maj, ":", min);
  std::error_code ec;
  const std::string real = std::filesystem::canonical(dir, ec).string();
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line, best_fs, best_src;
  size_t best_len = 0;
  for (int n = 0; n < 100000 && std::getline(mounts, line); ++n) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point, options, f;
    fields >> id >> parent >> devno >> root >> mount_point >> options;
    if (devno != dev_id || real.compare(0, mount_point.size(), mount_point) != 0) continue;
    if (mount_point.size() < best_len && !m.mount_point.empty()) continue;
    for (int k = 0; k < 64 && fields >> f && f != "-"; ++k) {
    }
    std::string fstype, source;
    fields >> fstype >> source;
    best_len = mount_point.size();
    m.mount_point = mount_point;
    m.mount_options = options;
    best_fs = fstype;
    best_src = source;
  }
  m.device = absl::StrCat(best_src.empty() ? "?" : best_src, " (dev ", dev_id, ", mounted at ",
                          m.mount_point.empty() ? "?" : m.mount_point, " as ",
                          best_fs.empty() ? "?" : best_fs, ", ", m.mount_options, ")");
  // The queue of a partition sits on its parent disk.
  std::string disk_dir = absl::StrCat("/sys/dev/block/", dev_id);
  if (!std::filesystem::exists(disk_dir + "/queue", ec)) disk_dir += "/..";
  const std::string queue = disk_dir + "/queue";
  if (std::filesystem::exists(disk_dir + "/stat", ec)) m.disk_stat_path = disk_dir + "/stat";
  m.disk = absl::StrCat("write_cache=", ReadFirstLine(queue + "/write_cache"),
                        ", rotational=", ReadFirstLine(queue + "/rotational"),
                        ", scheduler=", ReadFirstLine(queue + "/scheduler"));
  return m;
}

// ---------------------------------------------------------------- output ----

std::string Ratio(double r) {
  if (r <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), r >= 10 ? "%.1fx" : "%.2fx", r);
  return buf;
}

void PrintTable(const std::vector<CaseResult>& results) {
  std::printf("%-12s %6s %8s %6s %11s %12s %9s %10s %10s %9s %9s %10s %8s %8s\n", "strategy",
              "groups", "rounds", "secs", "rounds/s", "records/s", "MiB/s", "p50_us", "p99_us",
              "vs_G=1", "vs_serial", "devKiB/rnd", "flush/rnd", "stop");
  int last_groups = -1;
  for (const CaseResult& r : results) {
    if (last_groups != -1 && r.groups != last_groups) std::printf("\n");
    last_groups = r.groups;
    std::printf(
        "%-12s %6d %8lld %6.2f %11.1f %12.0f %9.2f %10.0f %10.0f %9s %9s %10.1f %8.2f %8s\n",
        r.strategy.c_str(), r.groups, static_cast<long long>(r.rounds), r.seconds, r.rounds_per_s,
        r.records_per_s, r.mib_per_s, r.p50_us, r.p99_us, Ratio(r.vs_g1).c_str(),
        Ratio(r.vs_serial).c_str(), r.dev_kib_per_round, r.flushes_per_round, r.stopped_by);
  }
}

void PrintJson(const std::vector<CaseResult>& results, const Config& config,
               const MachineContext& m) {
  for (const CaseResult& r : results) {
    std::printf(
        "{\"bench\":\"fsync_strategies\",\"strategy\":\"%s\",\"groups\":%d,\"record_bytes\":%zu,"
        "\"rounds\":%lld,\"seconds\":%.3f,\"rounds_per_s\":%.2f,\"records_per_s\":%.1f,"
        "\"mib_per_s\":%.3f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
        "\"ratio_vs_g1\":%.4f,\"ratio_vs_serial\":%.4f,\"dev_kib_per_round\":%.2f,"
        "\"flushes_per_round\":%.3f,\"checkpoints\":%d,\"checkpoint_p50_ms\":%.2f,"
        "\"stopped_by\":\"%s\",\"nproc\":%d,"
        "\"kernel\":\"%s\",\"fs\":\"%s\"}\n",
        r.strategy.c_str(), r.groups, config.record_bytes, static_cast<long long>(r.rounds),
        r.seconds, r.rounds_per_s, r.records_per_s, r.mib_per_s, r.p50_us, r.p99_us, r.max_us,
        r.vs_g1, r.vs_serial, r.dev_kib_per_round, r.flushes_per_round, r.checkpoints,
        r.checkpoint_p50_ms, r.stopped_by, m.nproc, m.kernel.c_str(), m.fs_type.c_str());
  }
}

// Fills vs_g1 and vs_serial from the other results of the same run.
void ComputeRatios(std::vector<CaseResult>* results) {
  for (CaseResult& r : *results) {
    for (const CaseResult& o : *results) {
      if (o.strategy == r.strategy && o.groups == 1 && o.records_per_s > 0) {
        r.vs_g1 = r.records_per_s / o.records_per_s;
      }
      if (o.strategy == "serial" && o.groups == r.groups && o.records_per_s > 0) {
        r.vs_serial = r.records_per_s / o.records_per_s;
      }
    }
  }
}

// Raises the open-file soft limit to the hard one; G files must fit.
absl::Status EnsureFdLimit(int max_groups) {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return ErrnoError("getrlimit", "RLIMIT_NOFILE");
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return ErrnoError("setrlimit", "RLIMIT_NOFILE");
  }
  if (lim.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(max_groups) + 64 > lim.rlim_cur) {
    return absl::InvalidArgumentError(absl::StrCat("--groups=", max_groups, " needs more than the ",
                                                   lim.rlim_cur, " open files allowed"));
  }
  return absl::OkStatus();
}

absl::Status Run(const Config& config) {
  absl::StatusOr<MachineContext> machine = DescribeMachine(config.dir);
  if (!machine.ok()) return machine.status();
  if (machine->in_memory_fs && !config.allow_tmpfs) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dir=", config.dir, " is on ", machine->fs_type,
                     ", not a disk; pick a directory on the real disk (or pass --allow_tmpfs)"));
  }
  absl::Status s = EnsureFdLimit(*std::max_element(config.groups.begin(), config.groups.end()));
  if (!s.ok()) return s;
  absl::StatusOr<ScratchDir> scratch = ScratchDir::Create(config.dir);
  if (!scratch.ok()) return scratch.status();

  const std::vector<Strategy> strategies = Strategies(config);
  std::printf(
      "# fsync_strategies: one %zu-byte record per group per round, then make the round "
      "durable\n",
      config.record_bytes);
  std::printf("# nproc=%d  kernel=%s\n", machine->nproc, machine->kernel.c_str());
  std::printf("# dir=%s  fs=%s\n", scratch->path().c_str(), machine->fs_type.c_str());
  std::printf("# device=%s\n", machine->device.c_str());
  std::printf("# disk queue: %s; stat: %s\n", machine->disk.c_str(),
              machine->disk_stat_path.empty() ? "none" : machine->disk_stat_path.c_str());
  std::printf(
      "# devKiB/rnd, flush/rnd: whole-disk KiB written and cache flushes per round "
      "(shared disk: includes other processes' I/O)\n");
  std::printf("# per case: <= %.1f s, <= %lld rounds, <= %llu MiB payload; loadavg at start: %s\n",
              config.seconds, static_cast<long long>(config.rounds),
              static_cast<unsigned long long>(config.case_bytes >> 20),
              ReadFirstLine("/proc/loadavg").c_str());
  std::fflush(stdout);

  std::vector<CaseResult> results;
  for (int groups : config.groups) {
    for (const Strategy& strategy : strategies) {
      absl::StatusOr<CaseResult> r =
          RunCase(config, scratch->path(), machine->disk_stat_path, strategy, groups);
      if (!r.ok()) {
        return absl::Status(r.status().code(),
                            absl::StrCat(strategy.name, " G=", groups, ": ", r.status().message()));
      }
      std::fprintf(stderr, "  done %-12s G=%-5d %8.0f records/s p99 %8.0f us\n",
                   r->strategy.c_str(), groups, r->records_per_s, r->p99_us);
      results.push_back(std::move(*r));
    }
  }
  ComputeRatios(&results);
  std::printf("# loadavg at end: %s\n", ReadFirstLine("/proc/loadavg").c_str());
  PrintTable(results);
  for (const CaseResult& r : results) {
    if (r.checkpoints == 0) continue;
    std::printf("# %s G=%d: %d checkpoint syncfs() calls, p50 %.1f ms, max %.1f ms\n",
                r.strategy.c_str(), r.groups, r.checkpoints, r.checkpoint_p50_ms,
                r.checkpoint_max_ms);
  }
  if (config.json) PrintJson(results, config, *machine);
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace raftlog::bench

int main(int argc, char** argv) {
  raftlog::bench::Config config;
  if (!raftlog::bench::ParseFlags(argc, argv, &config)) return 2;
  std::signal(SIGINT, raftlog::bench::OnSignal);
  std::signal(SIGTERM, raftlog::bench::OnSignal);
  const absl::Status status = raftlog::bench::Run(config);
  if (!status.ok()) {
    std::fprintf(stderr, "fsync_strategies: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
