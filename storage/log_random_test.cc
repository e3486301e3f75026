// Randomized operation test (seeded): append groups, truncate suffix, drop
// prefix by index and by offset, reset, reads by offset / index / timestamp,
// term lookups, reopen and disk-full appends, all checked against a simple
// in-memory model.
#include <random>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "storage/fault_env.h"
#include "storage/log_test_util.h"
#include "storage/partition_log.h"
#include "storage/record_batch_header.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::MakeBatch;
using ::raftlog::storage::testing::TempDir;
using ::raftlog::storage::testing::TestOptions;

struct ModelEntry {
  RaftIndex index;
  Term term;
  EntryType type;
  std::vector<uint8_t> payload;  // as stored (base offset patched)
  Offset first;
  Offset next;
  int64_t max_ts = -1;
};

// The log as a vector of the visible entries plus its start and end.
struct Model {
  std::vector<ModelEntry> entries;  // indexes start.index .. last
  RaftIndex start_index{1};
  Offset start_offset{0};
  Term prev_term{0};
  Offset next_offset{0};
  RaftIndex last() const { return start_index + static_cast<int64_t>(entries.size()) - 1; }
  Term last_term() const { return entries.empty() ? prev_term : entries.back().term; }
  const ModelEntry& at(RaftIndex i) const { return entries[i - start_index]; }
  Term TermAt(RaftIndex i) const { return i == start_index - 1 ? prev_term : at(i).term; }
};

class LogRandomTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(LogRandomTest, MatchesModel) {
  std::mt19937_64 rng(GetParam());
  auto uniform = [&](int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  TempDir dir;
  FaultInjectingEnv env;
  env.SetSkipSyncs(true);
  int64_t now = 1'000'000;
  PartitionLogOptions options = TestOptions(&env, &now);
  options.preallocate = GetParam() % 2 == 0;
  // Seeds 9-16 gather appends in a write-behind buffer of varied size.
  constexpr size_t kWriteBuffers[] = {64, 700, 4096, 1 << 16};
  options.write_buffer_bytes = GetParam() > 8 ? kWriteBuffers[GetParam() % 4] : 0;
  absl::StatusOr<std::unique_ptr<PartitionLog>> opened = PartitionLog::Open(dir.path(), options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<PartitionLog> log = std::move(*opened);
  Model m;
  Term term(1);

  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE(absl::StrFormat("seed %d step %d", GetParam(), step));
    const int64_t op = uniform(0, 99);
    const std::string what =
        absl::StrFormat("op %d on log [%d..%d] offsets [%d, %d)", op, m.start_index.value(),
                        m.last().value(), m.start_offset.value(), m.next_offset.value());
    if (op < 45) {  // append a group
      std::vector<std::vector<uint8_t>> payloads;
      std::vector<AppendEntry> group;
      if (uniform(0, 9) == 0) term = term + 1;
      const int n = static_cast<int>(uniform(1, 4));
      for (int i = 0; i < n; ++i) {
        if (uniform(0, 9) < 7) {
          payloads.push_back(MakeBatch(static_cast<int>(uniform(1, 5)), uniform(0, 1000), step,
                                       static_cast<size_t>(uniform(1, 100))));
          group.push_back({m.last() + 1 + i, term, EntryType::kData, {}});
        } else {
          payloads.push_back(std::vector<uint8_t>(uniform(0, 50), static_cast<uint8_t>(step)));
          group.push_back({m.last() + 1 + i, term, EntryType::kRaft, {}});
        }
      }
      for (int i = 0; i < n; ++i) group[i].payload = payloads[i];
      if (uniform(0, 9) == 0) {
        // Disk full somewhere in this append (a short write of some bytes):
        // it fails as a whole and leaves the log as it was.
        env.FailNthWrite(static_cast<int>(uniform(1, 3)),
                         absl::ResourceExhaustedError("injected ENOSPC"),
                         static_cast<size_t>(uniform(0, 200)));
        absl::StatusOr<AppendResult> r = log->Append(group);
        env.FailNthWrite(0, absl::OkStatus());
        if (!r.ok()) {
          ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
          ASSERT_TRUE(log->health().ok());
          ASSERT_EQ(log->last_index(), m.last());
          ASSERT_EQ(log->next_offset(), m.next_offset);
          continue;
        }
        ASSERT_TRUE(log->TruncateSuffix(m.last()).ok());  // fault unused: undo by hand
      }
      absl::StatusOr<AppendResult> r = log->Append(group);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->first_offset, m.next_offset);
      for (int i = 0; i < n; ++i) {
        ModelEntry e{group[i].index, term,          group[i].type,
                     payloads[i],    m.next_offset, m.next_offset};
        if (e.type == EntryType::kData) {
          BatchHeader h = *ParseBatchHeader(e.payload);
          e.next = e.first + (h.last_offset_delta + 1);
          e.max_ts = h.max_timestamp;
          SetBaseOffset(e.payload, e.first.value());
        }
        m.next_offset = e.next;
        m.entries.push_back(std::move(e));
      }
      ASSERT_EQ(r->next_offset, m.next_offset);
    } else if (op < 55) {  // truncate suffix
      const RaftIndex k(uniform(m.start_index.value() - 1, m.last().value()));
      ASSERT_TRUE(log->TruncateSuffix(k).ok());
      if (k < m.start_index) {
        m.entries.clear();
        m.next_offset = m.start_offset;
      } else if (k < m.last()) {
        m.next_offset = m.at(k + 1).first;
        m.entries.resize(k - m.start_index + 1);
      }
      if (!m.entries.empty()) term = std::max(term, m.last_term());
    } else if (op < 60) {  // drop prefix by index
      const RaftIndex r(uniform(m.start_index.value(), m.last().value() + 1));
      ASSERT_TRUE(log->DropPrefixBeforeIndex(r).ok());
      if (r > m.start_index) {
        const Offset off = r <= m.last() ? std::max(m.at(r).first, m.start_offset) : m.next_offset;
        m.prev_term = m.TermAt(r - 1);
        m.entries.erase(m.entries.begin(), m.entries.begin() + (r - m.start_index));
        m.start_index = r;
        m.start_offset = off;
      }
    } else if (op < 64) {  // drop prefix by offset
      const Offset o(uniform(m.start_offset.value(), m.next_offset.value()));
      ASSERT_TRUE(log->DropPrefixBeforeOffset(o).ok());
      if (o > m.start_offset) {
        RaftIndex r = m.last() + 1;
        for (const ModelEntry& e : m.entries) {
          if (e.type == EntryType::kData && e.next > o) {
            r = e.index;
            break;
          }
        }
        m.prev_term = m.TermAt(r - 1);
        m.entries.erase(m.entries.begin(), m.entries.begin() + (r - m.start_index));
        m.start_index = r;
        m.start_offset = o;
      }
    } else if (op < 66) {  // reset (snapshot install)
      const RaftIndex ni = m.last() + uniform(1, 5);
      const Term pt = term + uniform(0, 1);
      const Offset no = m.next_offset + uniform(0, 10);
      ASSERT_TRUE(log->ResetTo(ni, pt, no).ok());
      m = Model{{}, ni, no, pt, no};
      term = pt;
    } else if (op < 80) {  // read by offset
      const Offset from(
          uniform(std::max<int64_t>(0, m.start_offset.value() - 2), m.next_offset.value() + 2));
      const size_t max_bytes = static_cast<size_t>(uniform(1, 2000));
      absl::StatusOr<ReadResult> r = log->Read(from, ReadOptions{.max_bytes = max_bytes});
      if (from < m.start_offset || from > m.next_offset) {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status();
      std::vector<uint8_t> expect;
      int count = 0;
      for (const ModelEntry& e : m.entries) {
        if (e.type != EntryType::kData || e.next <= from) continue;
        if (count > 0 && expect.size() + e.payload.size() > max_bytes) break;
        expect.insert(expect.end(), e.payload.begin(), e.payload.end());
        ++count;
        if (expect.size() >= max_bytes) break;
      }
      ASSERT_EQ(r->batch_count, count);
      ASSERT_EQ(r->batches, expect);
    } else if (op < 88) {  // read entries + terms
      const RaftIndex from(uniform(m.start_index.value(), m.last().value() + 1));
      const RaftIndex to(uniform(from.value(), m.last().value() + 1));
      absl::StatusOr<std::vector<LogEntry>> es = log->ReadEntries(from, to);
      ASSERT_TRUE(es.ok()) << es.status();
      ASSERT_EQ(es->size(), static_cast<size_t>(to - from));
      for (const LogEntry& e : *es) {
        const ModelEntry& me = m.at(e.index);
        ASSERT_EQ(e.term, me.term);
        ASSERT_EQ(e.type, me.type);
        ASSERT_EQ(e.payload, me.payload);
        ASSERT_EQ(e.first_offset, me.first);
        ASSERT_EQ(e.next_offset, me.next);
      }
      const RaftIndex t(uniform(m.start_index.value() - 1, m.last().value()));
      absl::StatusOr<Term> got = log->TermAt(t);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, m.TermAt(t));
    } else if (op < 94) {  // timestamp lookup
      const int64_t ts = uniform(0, 1001);
      std::optional<Offset> expect;
      for (const ModelEntry& e : m.entries) {
        if (e.type == EntryType::kData && e.next > m.start_offset && e.max_ts >= ts) {
          expect = std::max(e.first, m.start_offset);
          break;
        }
      }
      absl::StatusOr<std::optional<Offset>> got = log->OffsetForTimestamp(ts);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(*got, expect);
    } else {  // reopen
      log.reset();
      OpenReport report;
      opened = PartitionLog::Open(dir.path(), options, &report);
      ASSERT_TRUE(opened.ok()) << opened.status();
      log = std::move(*opened);
      ASSERT_EQ(report.truncated_bytes, 0u) << report.notes.back();
      ASSERT_EQ(report.indexes_rebuilt, 0) << report.notes.front();
    }
    ASSERT_EQ(log->first_index(), m.start_index) << what;
    ASSERT_EQ(log->last_index(), m.last()) << what;
    ASSERT_EQ(log->last_term(), m.last_term()) << what;
    ASSERT_EQ(log->log_start_offset(), m.start_offset) << what;
    ASSERT_EQ(log->next_offset(), m.next_offset) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, LogRandomTest, ::testing::Range<uint64_t>(1, 17));

}  // namespace
}  // namespace raftlog::storage
