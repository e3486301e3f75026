// raftlog-storage-demo: a one-second tour of the partition log. Creates a log
// in a temporary directory (or --dir DIR), appends record batches and Raft
// entries, rolls segments, reads back by offset and by timestamp, truncates a
// suffix as Raft conflict resolution would, reopens (running recovery) and
// prints what happened. Exit code 0 on success, 1 on any error.
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/partition_log.h"
#include "storage/record_batch_builder.h"
#include "storage/record_batch_header.h"
#include "storage/record_batch_reader.h"

namespace {

using namespace raftlog::storage;  // NOLINT: a demo main

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return 1;
}

// One batch of `n` records "order-<batch>-<i>" at `ts`.
std::vector<uint8_t> Batch(int batch, int n, int64_t ts) {
  BatchBuilder b;
  for (int i = 0; i < n; ++i) {
    std::string key = "customer-" + std::to_string(i % 3);
    std::string value = "order-" + std::to_string(batch) + "-" + std::to_string(i);
    b.Add(key, value, ts);
  }
  return *b.Build();
}

// Decodes concatenated batches into "offset:value" strings.
std::string Describe(const std::vector<uint8_t>& bytes) {
  std::string out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::span<const uint8_t> rest(bytes.data() + pos, bytes.size() - pos);
    absl::StatusOr<BatchHeader> h = ParseBatchHeader(rest);
    if (!h.ok()) return out + " <bad batch>";
    absl::StatusOr<std::vector<Record>> recs = DecodeBatch(rest.subspan(0, h->size_bytes()));
    if (!recs.ok()) return out + " <bad batch>";
    for (const Record& r : *recs) {
      out += " " + std::to_string(r.offset) + ":" + r.value.value_or("null");
    }
    pos += h->size_bytes();
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  bool temp = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
      temp = false;
    } else {
      std::fprintf(stderr, "usage: %s [--dir DIR]\n", argv[0]);
      return 2;
    }
  }
  if (temp) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftlog-demo-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return Fail(absl::InternalError("mkdtemp failed"));
    dir = tmpl;
  }

  PartitionLogOptions options;
  options.segment_bytes = 2048;  // tiny, so the demo rolls segments
  options.index_interval_bytes = 256;
  options.fsync_policy = FsyncPolicy::kNever;  // group commit: one Sync below
  int64_t now = 1'700'000'000'000;
  options.clock = [&now] { return now; };

  int rc = 0;
  {
    absl::StatusOr<std::unique_ptr<PartitionLog>> opened = PartitionLog::Open(dir, options);
    if (!opened.ok()) return Fail(opened.status());
    PartitionLog& log = **opened;
    std::printf("opened %s: empty log, next offset %lld\n", dir.c_str(),
                static_cast<long long>(log.next_offset().value()));

    // A leader's first entry in its term is a Raft no-op: no offsets.
    std::vector<uint8_t> noop = {'n', 'o', 'o', 'p'};
    if (auto r = log.Append(AppendEntry{RaftIndex(1), Term(1), EntryType::kRaft, noop}); !r.ok()) {
      return Fail(r.status());
    }
    std::vector<std::vector<uint8_t>> batches;
    std::vector<AppendEntry> group;
    for (int b = 0; b < 12; ++b) batches.push_back(Batch(b, 5, now + b * 1000));
    for (int b = 0; b < 12; ++b) {
      group.push_back({RaftIndex(2 + b), Term(1), EntryType::kData, batches[b]});
    }
    absl::StatusOr<AppendResult> a = log.Append(group);
    if (!a.ok()) return Fail(a.status());
    if (absl::Status s = log.Sync(); !s.ok()) return Fail(s);
    std::printf(
        "appended 12 batches x 5 records as raft entries %lld..%lld: offsets %lld..%lld, "
        "%zu segments, flushed through index %lld\n",
        static_cast<long long>(a->first_index.value()),
        static_cast<long long>(a->last_index.value()),
        static_cast<long long>(a->first_offset.value()),
        static_cast<long long>(a->next_offset.value() - 1), log.segment_count(),
        static_cast<long long>(log.flushed_index().value()));
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".log") {
        std::printf("  segment %s (%llu bytes)\n", e.path().filename().c_str(),
                    static_cast<unsigned long long>(e.file_size()));
      }
    }

    absl::StatusOr<ReadResult> r = log.Read(Offset(17), ReadOptions{.max_bytes = 1});
    if (!r.ok()) return Fail(r.status());
    std::printf("read from offset 17 (max 1 byte -> one whole batch):%s\n",
                Describe(r->batches).c_str());

    absl::StatusOr<std::optional<Offset>> t = log.OffsetForTimestamp(now + 6500);
    if (!t.ok()) return Fail(t.status());
    std::printf("first offset with timestamp >= t0+6.5s: %lld\n",
                static_cast<long long>(t->value_or(Offset(-1)).value()));

    // A new leader in term 2 overwrites entries after index 8.
    if (absl::Status s = log.TruncateSuffix(RaftIndex(8)); !s.ok()) return Fail(s);
    std::vector<uint8_t> fresh = Batch(99, 3, now + 60'000);
    a = log.Append(AppendEntry{RaftIndex(9), Term(2), EntryType::kData, fresh});
    if (!a.ok()) return Fail(a.status());
    if (absl::Status s = log.Sync(); !s.ok()) return Fail(s);
    std::printf(
        "truncated after raft index 8, appended a term-2 batch at offsets %lld..%lld; "
        "%zu segments\n",
        static_cast<long long>(a->first_offset.value()),
        static_cast<long long>(a->next_offset.value() - 1), log.segment_count());
  }

  OpenReport report;
  absl::StatusOr<std::unique_ptr<PartitionLog>> reopened =
      PartitionLog::Open(dir, options, &report);
  if (!reopened.ok()) return Fail(reopened.status());
  PartitionLog& log = **reopened;
  std::printf(
      "reopened: raft indexes %lld..%lld (last term %lld), offsets %lld..%lld, "
      "%zu recovery notes\n",
      static_cast<long long>(log.first_index().value()),
      static_cast<long long>(log.last_index().value()),
      static_cast<long long>(log.last_term().value()),
      static_cast<long long>(log.log_start_offset().value()),
      static_cast<long long>(log.next_offset().value() - 1), report.notes.size());
  absl::StatusOr<ReadResult> all = log.Read(Offset(30), ReadOptions{.max_bytes = 1 << 20});
  if (!all.ok()) return Fail(all.status());
  std::printf("read from offset 30:%s\n", Describe(all->batches).c_str());
  absl::StatusOr<ReadResult> past = log.Read(Offset(1000));
  std::printf("read past the end: %s\n", past.status().ToString().c_str());
  if (past.ok()) rc = 1;

  if (temp) std::filesystem::remove_all(dir);
  return rc;
}
