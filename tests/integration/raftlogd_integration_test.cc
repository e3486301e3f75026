// End-to-end tests of raftlogd: three real processes on loopback
// (tests/cluster/process_cluster.h), driven through NodeAdmin. Covers leader
// election for many groups, replication, kill -9 of a leader, catch-up of a
// restarted node (log and snapshot paths), a paused follower that must not
// disrupt the leader (Pre-Vote over the real transport), SIGTERM hand-off,
// whole-cluster restart from disk, and start-up refusals.
//
// Invariants checked: every acknowledged record is read back at the offset
// its acknowledgement named, exactly once, with dense offsets. Timings are
// logged (stdout and RecordProperty), never asserted, except in the SIGTERM
// hand-off test where the election timeout is made long enough that only a
// hand-off can produce the new leaders inside the bound.
//
// Every wait is bounded. tick 50 ms, election 10 ticks (0.5-1 s) by default.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "storage/record_batch_header.h"
#include "storage/record_batch_reader.h"
#include "tests/cluster/process_cluster.h"

namespace raftlog::testing {
namespace {

namespace pb = raftlog::node::v1;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#define ASSERT_OK(expr)                            \
  do {                                             \
    const absl::Status _st = (expr);               \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st; \
  } while (0)

int64_t MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Polls `done` every 50 ms until it is true or `timeout` passed.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

// One acknowledged record: its value and the offset the ack implies.
struct Acked {
  std::string value;
  int64_t offset = 0;
};

// Proposes `batches` batches of `records` records (values
// "<prefix>-<b>-<i>"), `per_call` batches per Propose call, and returns
// every record with the offset its acknowledgement named.
absl::StatusOr<std::vector<Acked>> ProposeBatches(ProcessCluster& c, uint64_t group,
                                                  const std::string& prefix, int batches,
                                                  int records, int per_call = 1) {
  std::vector<Acked> acked;
  for (int b = 0; b < batches; b += per_call) {
    std::vector<std::string> entries;
    for (int k = b; k < std::min(batches, b + per_call); ++k) {
      entries.push_back(MakeTestBatch(absl::StrCat(prefix, "-", k), records));
    }
    absl::StatusOr<pb::ProposeResponse> r = c.Propose(group, entries);
    if (!r.ok()) return r.status();
    if (r->base_offsets_size() != static_cast<int>(entries.size())) {
      return absl::InternalError(absl::StrCat("ack has ", r->base_offsets_size(),
                                              " base offsets for ", entries.size(), " entries"));
    }
    for (int e = 0; e < static_cast<int>(entries.size()); ++e) {
      for (int i = 0; i < records; ++i) {
        acked.push_back({absl::StrCat(prefix, "-", b + e, "-", i), r->base_offsets(e) + i});
      }
    }
  }
  return acked;
}

// Splits concatenated RecordBatch v2 bytes and decodes every record.
absl::StatusOr<std::vector<storage::Record>> DecodeAll(const std::string& bytes) {
  std::span<const uint8_t> all(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  std::vector<storage::Record> out;
  size_t pos = 0;
  while (pos < all.size()) {
    absl::StatusOr<size_t> size = storage::BatchSize(all.subspan(pos));
    if (!size.ok()) return size.status();
    if (pos + *size > all.size()) return absl::DataLossError("truncated batch in a Read answer");
    absl::StatusOr<std::vector<storage::Record>> records =
        storage::DecodeBatch(all.subspan(pos, *size));
    if (!records.ok()) return records.status();
    out.insert(out.end(), records->begin(), records->end());
    pos += *size;
  }
  return out;
}

// Reads every committed record of `group` from `from` on, from the agreed
// leader, once its high watermark reaches `min_hw` (a new leader's may lag
// until its first entry commits).
absl::StatusOr<std::vector<storage::Record>> ReadAll(ProcessCluster& c, uint64_t group,
                                                     int64_t min_hw, int64_t from = 0,
                                                     std::chrono::milliseconds timeout = 20s) {
  const Clock::time_point deadline = Clock::now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no attempt");
  while (Clock::now() < deadline) {
    const uint64_t leader = c.WaitForLeader(group, 2s);
    if (leader == 0) {
      last = absl::UnavailableError(absl::StrCat("no leader for group ", group));
      continue;
    }
    std::vector<storage::Record> records;
    int64_t offset = from;
    int64_t hw = -1;
    bool retry = false;
    for (int round = 0; round < 10000 && (hw < 0 || offset < hw); ++round) {
      pb::ReadRequest req;
      req.set_group(group);
      req.set_offset(offset);
      req.set_max_bytes(64 << 10);
      pb::ReadResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      grpc::Status s = c.Admin(static_cast<int>(leader)).Read(&ctx, req, &resp);
      if (!s.ok()) {
        last =
            absl::UnavailableError(absl::StrCat("Read on node ", leader, ": ", s.error_message()));
        retry = true;
        break;
      }
      if (hw < 0) hw = resp.high_watermark();
      if (hw < min_hw) {
        last = absl::UnavailableError(
            absl::StrCat("high watermark ", hw, " on node ", leader, " < ", min_hw));
        retry = true;
        break;
      }
      absl::StatusOr<std::vector<storage::Record>> decoded = DecodeAll(resp.batches());
      if (!decoded.ok()) return decoded.status();
      if (resp.next_offset() <= offset) {
        return absl::InternalError(absl::StrCat("Read from ", offset, " did not advance (next ",
                                                resp.next_offset(), ", hw ", hw, ")"));
      }
      records.insert(records.end(), decoded->begin(), decoded->end());
      offset = resp.next_offset();
    }
    if (!retry) return records;
    std::this_thread::sleep_for(100ms);
  }
  return last;
}

// Offsets dense from `from`, each value once, each acknowledged record at its
// acknowledged offset (those at or after `from`).
void ExpectAckedReadBack(const std::vector<storage::Record>& records,
                         const std::vector<Acked>& acked, int64_t from = 0) {
  std::set<std::string> seen;
  std::map<int64_t, std::string> by_offset;
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].offset, from + static_cast<int64_t>(i)) << "offsets are not dense";
    ASSERT_TRUE(records[i].value.has_value()) << "null value at offset " << records[i].offset;
    EXPECT_TRUE(seen.insert(*records[i].value).second)
        << "value " << *records[i].value << " read twice (offset " << records[i].offset << ")";
    by_offset[records[i].offset] = *records[i].value;
  }
  int checked = 0;
  for (const Acked& a : acked) {
    if (a.offset < from) continue;
    auto it = by_offset.find(a.offset);
    ASSERT_NE(it, by_offset.end()) << "acknowledged " << a.value << " at offset " << a.offset
                                   << " is missing (read " << records.size() << " records)";
    EXPECT_EQ(it->second, a.value) << "at offset " << a.offset;
    ++checked;
  }
  EXPECT_GT(checked, 0) << "nothing acknowledged to check";
}

const pb::GroupStatus* FindGroup(const pb::StatusResponse& s, uint64_t group) {
  for (const pb::GroupStatus& g : s.groups()) {
    if (g.group() == group) return &g;
  }
  return nullptr;
}

// The status of `group` on node `id`, or nullopt if unavailable.
std::optional<pb::GroupStatus> GroupStatusOn(ProcessCluster& c, int id, uint64_t group) {
  absl::StatusOr<pb::StatusResponse> s = c.Status(id);
  if (!s.ok()) return std::nullopt;
  const pb::GroupStatus* g = FindGroup(*s, group);
  if (g == nullptr) return std::nullopt;
  return *g;
}

// True once node `id` holds the same last and commit index as `leader` for `group`.
bool CaughtUp(ProcessCluster& c, int id, int leader, uint64_t group) {
  std::optional<pb::GroupStatus> l = GroupStatusOn(c, leader, group);
  std::optional<pb::GroupStatus> f = GroupStatusOn(c, id, group);
  return l && f && l->last_index() == f->last_index() && l->commit_index() == f->commit_index() &&
         f->applied_index() == f->commit_index();
}

void LogTiming(const std::string& key, int64_t ms) {
  std::cout << "[timing] " << key << " = " << ms << " ms" << std::endl;
  ::testing::Test::RecordProperty(key, static_cast<int>(ms));
}

std::string AllLogTails(ProcessCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) {
    absl::StrAppend(&out, "---- node ", id, " ----\n", c.LogTail(id, 2500), "\n");
  }
  return out;
}

std::vector<uint64_t> GroupRange(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t g = first; g <= last; ++g) out.push_back(g);
  return out;
}

// a. Every partition group and the metadata group elect one agreed leader.
TEST(RaftlogdIntegration, GroupsElectLeaders) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  const Clock::time_point t0 = Clock::now();
  for (uint64_t g = 1; g <= 20; ++g) ASSERT_OK(c.EnsureGroupOnAll(g, {1, 2, 3}));
  const std::vector<uint64_t> groups = GroupRange(0, 20);
  absl::StatusOr<std::map<uint64_t, uint64_t>> leaders = c.WaitForLeaders(groups, 30s);
  ASSERT_TRUE(leaders.ok()) << leaders.status() << "\n" << AllLogTails(c);
  LogTiming("elect_21_groups_ms", MillisSince(t0));
  std::map<uint64_t, int> led;
  for (const auto& [g, l] : *leaders) {
    EXPECT_GE(l, 1u);
    EXPECT_LE(l, 3u);
    ++led[l];
  }
  std::cout << "leaders per node:";
  for (const auto& [node, n] : led) std::cout << " " << node << "=" << n;
  std::cout << std::endl;
  for (int id = 1; id <= 3; ++id) {
    absl::StatusOr<pb::StatusResponse> s = c.Status(id);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->node(), static_cast<uint64_t>(id));
    EXPECT_EQ(s->cluster_id(), "test-cluster");
    for (uint64_t g : groups) {
      const pb::GroupStatus* gs = FindGroup(*s, g);
      ASSERT_NE(gs, nullptr) << "node " << id << " lacks group " << g;
      EXPECT_EQ(std::vector<uint64_t>(gs->voters().begin(), gs->voters().end()),
                (std::vector<uint64_t>{1, 2, 3}))
          << "group " << g;
    }
  }
  // EnsureGroup is idempotent: a second call changes nothing.
  ASSERT_OK(c.EnsureGroupOnAll(7, {1, 2, 3}));
  EXPECT_NE(c.WaitForLeader(7, 10s), 0u);
}

// b. 50 batches replicate to every node; the leader reads each record once.
TEST(RaftlogdIntegration, EntriesReplicate) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  ASSERT_OK(c.EnsureGroupOnAll(1, {1, 2, 3}));
  ASSERT_NE(c.WaitForLeader(1), 0u) << AllLogTails(c);

  const Clock::time_point t0 = Clock::now();
  // 25 single-batch proposals, then 25 batches in 5 proposals of 5.
  absl::StatusOr<std::vector<Acked>> first = ProposeBatches(c, 1, "b1", 25, 3);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::vector<Acked>> second = ProposeBatches(c, 1, "b2", 25, 3, /*per_call=*/5);
  ASSERT_TRUE(second.ok()) << second.status();
  LogTiming("propose_50_batches_ms", MillisSince(t0));
  std::vector<Acked> acked = *first;
  acked.insert(acked.end(), second->begin(), second->end());
  ASSERT_EQ(acked.size(), 150u);
  // Offsets are assigned densely from 0 in proposal order.
  for (size_t i = 0; i < acked.size(); ++i) {
    EXPECT_EQ(acked[i].offset, static_cast<int64_t>(i)) << acked[i].value;
  }

  const int leader = static_cast<int>(c.WaitForLeader(1));
  ASSERT_NE(leader, 0);
  const bool same = WaitUntil(
      [&] {
        std::optional<pb::GroupStatus> l = GroupStatusOn(c, leader, 1);
        if (!l || l->commit_index() != l->last_index()) return false;
        // The leader learns a follower's match from its ack, which may
        // still be in flight when the follower already holds the entries.
        for (const pb::FollowerProgress& f : l->followers()) {
          if (f.match_index() != l->last_index()) return false;
        }
        for (int id = 1; id <= 3; ++id) {
          std::optional<pb::GroupStatus> g = GroupStatusOn(c, id, 1);
          if (!g || g->last_index() != l->last_index() || g->commit_index() != l->commit_index() ||
              g->log_end_offset() != 150 || g->high_watermark() != 150) {
            return false;
          }
        }
        return true;
      },
      20s);
  ASSERT_TRUE(same) << "nodes do not converge on the same commit/last index\n" << AllLogTails(c);

  // The leader's view of its followers: caught up, no lag.
  std::optional<pb::GroupStatus> ls = GroupStatusOn(c, leader, 1);
  ASSERT_TRUE(ls.has_value());
  EXPECT_EQ(ls->followers_size(), 2);
  for (const pb::FollowerProgress& f : ls->followers()) {
    EXPECT_EQ(f.match_index(), ls->last_index()) << "follower " << f.node();
    EXPECT_EQ(f.lag(), 0u) << "follower " << f.node();
  }

  absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, 1, 150);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->size(), 150u);
  ExpectAckedReadBack(*records, acked);

  // A Read at the high watermark is empty, not an error.
  pb::ReadRequest req;
  req.set_group(1);
  req.set_offset(150);
  pb::ReadResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  ASSERT_TRUE(c.Admin(leader).Read(&ctx, req, &resp).ok());
  EXPECT_TRUE(resp.batches().empty());
  EXPECT_EQ(resp.high_watermark(), 150);
}

// c. SIGKILL of a leader: another node takes over and every acknowledged
// entry stays readable; the killed node comes back as a follower.
TEST(RaftlogdIntegration, KillNineOfTheLeader) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  ASSERT_OK(c.EnsureGroupOnAll(1, {1, 2, 3}));
  ASSERT_NE(c.WaitForLeader(1), 0u) << AllLogTails(c);
  absl::StatusOr<std::vector<Acked>> acked = ProposeBatches(c, 1, "c", 20, 2);
  ASSERT_TRUE(acked.ok()) << acked.status();

  const int old_leader = static_cast<int>(c.WaitForLeader(1));
  ASSERT_NE(old_leader, 0);
  const Clock::time_point t0 = Clock::now();
  c.Kill(old_leader);
  ASSERT_FALSE(c.IsRunning(old_leader));
  const uint64_t new_leader = c.WaitForLeader(1, 20s);
  const int64_t takeover_ms = MillisSince(t0);
  ASSERT_NE(new_leader, 0u) << "no new leader after kill -9 of node " << old_leader << "\n"
                            << AllLogTails(c);
  EXPECT_NE(new_leader, static_cast<uint64_t>(old_leader));
  LogTiming("kill9_takeover_ms", takeover_ms);
  // The metadata group too has a leader among the survivors.
  EXPECT_NE(c.WaitForLeader(0, 20s), 0u);

  absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, 1, 40);
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectAckedReadBack(*records, *acked);

  // Two of three still commit.
  absl::StatusOr<std::vector<Acked>> more = ProposeBatches(c, 1, "c-after", 5, 2);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(more->front().offset, static_cast<int64_t>(records->size()));

  // The killed node restarts as a follower and catches up.
  ASSERT_OK(c.Start(old_leader));
  const int leader = static_cast<int>(c.WaitForLeader(1, 20s));
  ASSERT_NE(leader, 0);
  EXPECT_TRUE(WaitUntil([&] { return CaughtUp(c, old_leader, leader, 1); }, 30s)) << AllLogTails(c);
}

// d. A restarted follower catches up from the log, and then from a snapshot
// when the live nodes compacted past its log.
TEST(RaftlogdIntegration, RestartedNodeCatchesUp) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  ASSERT_OK(c.EnsureGroupOnAll(1, {1, 2, 3}));
  ASSERT_OK(c.EnsureGroupOnAll(2, {1, 2, 3}));
  ASSERT_TRUE(c.WaitForLeaders({1, 2}, 30s).ok()) << AllLogTails(c);

  // ---- Log path (group 1) ----
  absl::StatusOr<std::vector<Acked>> acked = ProposeBatches(c, 1, "d1", 10, 2);
  ASSERT_TRUE(acked.ok()) << acked.status();
  int leader = static_cast<int>(c.WaitForLeader(1));
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  c.Kill(follower);
  absl::StatusOr<std::vector<Acked>> more = ProposeBatches(c, 1, "d1-down", 20, 2);
  ASSERT_TRUE(more.ok()) << more.status();
  acked->insert(acked->end(), more->begin(), more->end());
  const Clock::time_point t0 = Clock::now();
  ASSERT_OK(c.Start(follower));
  leader = static_cast<int>(c.WaitForLeader(1, 20s));
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, follower, leader, 1); }, 30s))
      << "node " << follower << " did not catch up on group 1\n"
      << AllLogTails(c);
  LogTiming("log_catch_up_ms", MillisSince(t0));
  absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, 1, 60);
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectAckedReadBack(*records, *acked);

  // ---- Snapshot path (group 2) ----
  absl::StatusOr<std::vector<Acked>> acked2 = ProposeBatches(c, 2, "d2", 10, 2);
  ASSERT_TRUE(acked2.ok()) << acked2.status();
  leader = static_cast<int>(c.WaitForLeader(2));
  ASSERT_NE(leader, 0);
  const int lagger = leader % 3 + 1;
  ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, lagger, leader, 2); }, 20s));
  std::optional<pb::GroupStatus> before = GroupStatusOn(c, lagger, 2);
  ASSERT_TRUE(before.has_value());
  const uint64_t old_last = before->last_index();
  c.Kill(lagger);
  absl::StatusOr<std::vector<Acked>> down = ProposeBatches(c, 2, "d2-down", 20, 2);
  ASSERT_TRUE(down.ok()) << down.status();
  acked2->insert(acked2->end(), down->begin(), down->end());
  std::vector<int> live;
  for (int id = 1; id <= 3; ++id) {
    if (id != lagger) live.push_back(id);
  }
  // Both live replicas applied everything, then drop their log prefix.
  leader = static_cast<int>(c.WaitForLeader(2));
  ASSERT_NE(leader, 0);
  for (int id : live) {
    ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, id, leader, 2); }, 20s));
  }
  for (int id : live) {
    pb::CompactLogRequest req;
    req.set_group(2);
    req.set_up_to_index(0);
    pb::CompactLogResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::Status s = c.Admin(id).CompactLog(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << "CompactLog on node " << id << ": " << s.error_message();
    EXPECT_GT(resp.first_index(), old_last) << "node " << id;
  }
  const Clock::time_point t1 = Clock::now();
  ASSERT_OK(c.Start(lagger));
  leader = static_cast<int>(c.WaitForLeader(2, 20s));
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::optional<pb::GroupStatus> g = GroupStatusOn(c, lagger, 2);
        return g && g->first_index() > old_last && CaughtUp(c, lagger, leader, 2);
      },
      30s))
      << "node " << lagger << " did not install a snapshot of group 2 (old last index " << old_last
      << ")\n"
      << AllLogTails(c);
  LogTiming("snapshot_catch_up_ms", MillisSince(t1));
  // It takes new writes after the snapshot.
  absl::StatusOr<std::vector<Acked>> after = ProposeBatches(c, 2, "d2-after", 5, 2);
  ASSERT_TRUE(after.ok()) << after.status();
  acked2->insert(acked2->end(), after->begin(), after->end());
  leader = static_cast<int>(c.WaitForLeader(2));
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, lagger, leader, 2); }, 20s)) << AllLogTails(c);
  std::optional<pb::GroupStatus> ls = GroupStatusOn(c, leader, 2);
  ASSERT_TRUE(ls.has_value());
  EXPECT_EQ(ls->high_watermark(), 70);
  // Compaction made the prefix before log_start_offset unreadable; every
  // acknowledged record from there on is still read back.
  absl::StatusOr<std::vector<storage::Record>> records2 =
      ReadAll(c, 2, 70, /*from=*/ls->log_start_offset());
  ASSERT_TRUE(records2.ok()) << records2.status();
  ExpectAckedReadBack(*records2, *acked2, ls->log_start_offset());
}

// A node whose disk was lost (data directory wiped, same id) asks its peers
// at start, learns that the cluster exists and recovers without voting
// (PITFALLS #14; raft::Config::recovering): it gets every acknowledged entry
// back, leaves recovery (marker file removed, Identity says so) and then
// takes part as before, also in the election after the leader is killed.
TEST(RaftlogdIntegration, WipedNodeRecoversWithoutVotingUntilCaughtUp) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  ASSERT_OK(c.EnsureGroupOnAll(1, {1, 2, 3}));
  ASSERT_TRUE(c.WaitForLeaders({1}, 30s).ok()) << AllLogTails(c);
  absl::StatusOr<std::vector<Acked>> acked = ProposeBatches(c, 1, "w", 20, 2);
  ASSERT_TRUE(acked.ok()) << acked.status();
  int leader = static_cast<int>(c.WaitForLeader(1));
  ASSERT_NE(leader, 0);
  const int wiped = leader % 3 + 1;
  ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, wiped, leader, 1); }, 20s));

  c.Kill(wiped);
  std::error_code ec;
  std::filesystem::remove_all(c.DataDir(wiped), ec);
  ASSERT_FALSE(ec) << ec.message();
  const Clock::time_point t0 = Clock::now();
  ASSERT_OK(c.Start(wiped));
  EXPECT_TRUE(absl::StrContains(c.LogTail(wiped, 20000), "its disk was lost")) << c.LogTail(wiped);
  // Partition groups are created by EnsureGroup in this test (no topics).
  ASSERT_OK(c.EnsureGroupOnAll(1, {1, 2, 3}));
  leader = static_cast<int>(c.WaitForLeader(1));
  ASSERT_NE(leader, 0);
  ASSERT_NE(leader, wiped);
  const auto identity = [&]() -> std::optional<pb::IdentityResponse> {
    pb::IdentityResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    if (!c.Admin(wiped).Identity(&ctx, pb::IdentityRequest(), &resp).ok()) return std::nullopt;
    return resp;
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::optional<pb::IdentityResponse> id = identity();
        return id && !id->recovering() && CaughtUp(c, wiped, leader, 1);
      },
      40s))
      << AllLogTails(c);
  LogTiming("wiped_node_recovery_ms", MillisSince(t0));
  EXPECT_FALSE(std::filesystem::exists(c.DataDir(wiped) + "/RECOVERING"));
  std::optional<pb::IdentityResponse> id = identity();
  ASSERT_TRUE(id.has_value());
  EXPECT_TRUE(id->has_data());
  EXPECT_EQ(id->node(), static_cast<uint64_t>(wiped));
  std::optional<pb::GroupStatus> g = GroupStatusOn(c, wiped, 1);
  ASSERT_TRUE(g.has_value());
  EXPECT_FALSE(g->recovering());

  // Its copy is complete: with the other follower down, the leader and the
  // wiped node alone still hold (and serve) every acknowledged record.
  const int other = 6 - leader - wiped;
  c.Kill(other);
  absl::StatusOr<std::vector<Acked>> more = ProposeBatches(c, 1, "w-after", 5, 2);
  ASSERT_TRUE(more.ok()) << more.status();
  acked->insert(acked->end(), more->begin(), more->end());
  // And it votes again: kill the leader, restart the other follower; a new
  // leader is elected among {wiped, other} and has everything.
  c.Kill(leader);
  ASSERT_OK(c.Start(other));
  const int new_leader = static_cast<int>(c.WaitForLeader(1, 30s));
  ASSERT_NE(new_leader, 0) << AllLogTails(c);
  ASSERT_NE(new_leader, leader);
  absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, 1, 50);
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectAckedReadBack(*records, *acked);
}

// e. A follower frozen (SIGSTOP) for ~3 election timeouts rejoins without
// disturbing anyone: with Pre-Vote (and CheckQuorum) every leader and term
// stays as it was. A real network partition (one-way loss, isolation) is
// the Jepsen suite's job; SIGSTOP freezes the process, sockets stay open.
TEST(RaftlogdIntegration, PausedFollowerDoesNotDisrupt) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  const std::vector<uint64_t> groups = GroupRange(0, 3);
  for (uint64_t g = 1; g <= 3; ++g) ASSERT_OK(c.EnsureGroupOnAll(g, {1, 2, 3}));
  absl::StatusOr<std::map<uint64_t, uint64_t>> leaders = c.WaitForLeaders(groups, 30s);
  ASSERT_TRUE(leaders.ok()) << leaders.status();

  // Node 3 is to be frozen: move every leadership it holds away first.
  const int frozen = 3;
  for (const auto& [g, l] : *leaders) {
    if (l != static_cast<uint64_t>(frozen)) continue;
    pb::TransferLeaderRequest req;
    req.set_group(g);
    req.set_to_node(1);
    pb::TransferLeaderResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::Status s = c.Admin(frozen).TransferLeader(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << "TransferLeader(" << g << "): " << s.error_message();
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::map<uint64_t, uint64_t> now = c.AgreedLeaders(groups);
        for (const auto& [g, l] : now) {
          if (l == 0 || l == static_cast<uint64_t>(frozen)) return false;
        }
        return true;
      },
      20s))
      << AllLogTails(c);
  absl::StatusOr<std::vector<Acked>> acked = ProposeBatches(c, 1, "e", 5, 2);
  ASSERT_TRUE(acked.ok()) << acked.status();
  const int leader1 = static_cast<int>(c.WaitForLeader(1));
  ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, frozen, leader1, 1); }, 20s));

  // (group -> (leader, term)) before the freeze.
  auto snapshot = [&]() -> std::map<uint64_t, std::pair<uint64_t, uint64_t>> {
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> out;
    for (const auto& [g, l] : c.AgreedLeaders(groups)) {
      std::optional<pb::GroupStatus> s = l == 0 ? std::nullopt : GroupStatusOn(c, l, g);
      out[g] = {l, s ? s->term() : 0};
    }
    return out;
  };
  const auto before = snapshot();
  for (const auto& [g, lt] : before) ASSERT_NE(lt.first, 0u) << "group " << g;

  const auto election_max = std::chrono::milliseconds(2 * 10 * 50);  // 2 x election_ticks x tick_ms
  c.Pause(frozen);
  // The two others keep committing while node 3 sleeps.
  absl::StatusOr<std::vector<Acked>> during = ProposeBatches(c, 1, "e-paused", 5, 2);
  std::this_thread::sleep_for(3 * election_max);
  c.Resume(frozen);
  ASSERT_TRUE(during.ok()) << during.status();
  acked->insert(acked->end(), during->begin(), during->end());

  const int leader = static_cast<int>(c.WaitForLeader(1, 20s));
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(WaitUntil([&] { return CaughtUp(c, frozen, leader, 1); }, 20s)) << AllLogTails(c);
  // Give a disruptive campaign time to show.
  std::this_thread::sleep_for(2 * election_max);
  const auto after = snapshot();
  for (const auto& [g, lt] : before) {
    EXPECT_EQ(after.at(g).first, lt.first) << "group " << g << ": leader changed";
    EXPECT_EQ(after.at(g).second, lt.second) << "group " << g << ": term changed";
  }
  absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, 1, 20);
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectAckedReadBack(*records, *acked);
}

// f. SIGTERM hands leadership away: the survivors have a leader for every
// group the stopped node led well before any election could produce one.
// The election timeout here is 5-10 s, so a leader that appears within
// 4 s of the SIGTERM can only come from the hand-off.
TEST(RaftlogdIntegration, SigtermHandsLeadershipOff) {
  ProcessClusterOptions o;
  o.election_ticks = 100;  // 5 s minimum at 50 ms ticks
  ProcessCluster c(o);
  ASSERT_OK(c.StartAll());
  const std::vector<uint64_t> groups = GroupRange(0, 6);
  for (uint64_t g = 1; g <= 6; ++g) ASSERT_OK(c.EnsureGroupOnAll(g, {1, 2, 3}));
  absl::StatusOr<std::map<uint64_t, uint64_t>> leaders = c.WaitForLeaders(groups, 60s);
  ASSERT_TRUE(leaders.ok()) << leaders.status() << "\n" << AllLogTails(c);
  // Some traffic so the hand-off has a log to be up to date with.
  absl::StatusOr<std::vector<Acked>> acked = ProposeBatches(c, 1, "f", 5, 2);
  ASSERT_TRUE(acked.ok()) << acked.status();

  const int stopping = static_cast<int>(c.WaitForLeader(1));
  ASSERT_NE(stopping, 0);
  std::vector<uint64_t> led;
  for (const auto& [g, l] : c.AgreedLeaders(groups)) {
    if (l == static_cast<uint64_t>(stopping)) led.push_back(g);
  }
  ASSERT_FALSE(led.empty());
  std::vector<int> others;
  for (int id = 1; id <= 3; ++id) {
    if (id != stopping) others.push_back(id);
  }

  const Clock::time_point t0 = Clock::now();
  ASSERT_OK(c.Terminate(stopping));
  absl::StatusOr<std::map<uint64_t, uint64_t>> next = c.WaitForLeaders(led, 4s, others);
  const int64_t handoff_ms = MillisSince(t0);
  ASSERT_TRUE(next.ok()) << next.status() << " (groups led by node " << stopping
                         << "; a hand-off should not need an election timeout)\n"
                         << AllLogTails(c);
  for (const auto& [g, l] : *next) EXPECT_NE(l, static_cast<uint64_t>(stopping)) << g;
  LogTiming("sigterm_handoff_ms", handoff_ms);
  std::cout << "node " << stopping << " led " << led.size() << " group(s)" << std::endl;
  absl::StatusOr<int> code = c.WaitExit(stopping);
  LogTiming("sigterm_exit_ms", MillisSince(t0));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << c.LogTail(stopping);
  EXPECT_TRUE(absl::StrContains(c.LogTail(stopping), "stopped cleanly")) << c.LogTail(stopping);

  absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, 1, 10);
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectAckedReadBack(*records, *acked);
}

// g. Stop every node, start them again: every group comes back from disk
// (no EnsureGroup) with every committed entry.
TEST(RaftlogdIntegration, WholeClusterRestartRecoversFromDisk) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  const std::vector<uint64_t> groups = GroupRange(0, 5);
  for (uint64_t g = 1; g <= 5; ++g) ASSERT_OK(c.EnsureGroupOnAll(g, {1, 2, 3}));
  ASSERT_TRUE(c.WaitForLeaders(groups, 30s).ok()) << AllLogTails(c);
  std::map<uint64_t, std::vector<Acked>> acked;
  for (uint64_t g = 1; g <= 5; ++g) {
    absl::StatusOr<std::vector<Acked>> a = ProposeBatches(c, g, absl::StrCat("g", g), 10, 2);
    ASSERT_TRUE(a.ok()) << a.status();
    acked[g] = *a;
  }
  std::map<uint64_t, uint64_t> commit_before;
  for (uint64_t g = 1; g <= 5; ++g) {
    const int leader = static_cast<int>(c.WaitForLeader(g));
    ASSERT_NE(leader, 0);
    std::optional<pb::GroupStatus> s = GroupStatusOn(c, leader, g);
    ASSERT_TRUE(s.has_value());
    commit_before[g] = s->commit_index();
  }

  const Clock::time_point t0 = Clock::now();
  ASSERT_OK(c.StopAll());
  LogTiming("stop_all_ms", MillisSince(t0));
  const Clock::time_point t1 = Clock::now();
  ASSERT_OK(c.StartAll());
  for (int id = 1; id <= 3; ++id) {
    absl::StatusOr<pb::StatusResponse> s = c.Status(id);
    ASSERT_TRUE(s.ok()) << s.status();
    for (uint64_t g : groups) {
      EXPECT_NE(FindGroup(*s, g), nullptr) << "node " << id << " did not recover group " << g;
    }
  }
  ASSERT_TRUE(c.WaitForLeaders(groups, 30s).ok()) << AllLogTails(c);
  LogTiming("restart_to_leaders_ms", MillisSince(t1));
  for (uint64_t g = 1; g <= 5; ++g) {
    absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, g, 20);
    ASSERT_TRUE(records.ok()) << "group " << g << ": " << records.status();
    EXPECT_EQ(records->size(), 20u) << "group " << g;
    ExpectAckedReadBack(*records, acked[g]);
    const int leader = static_cast<int>(c.WaitForLeader(g));
    std::optional<pb::GroupStatus> s = GroupStatusOn(c, leader, g);
    ASSERT_TRUE(s.has_value());
    EXPECT_GE(s->commit_index(), commit_before[g]) << "group " << g;
  }
  // And the groups take new writes after the restart, at the next offset.
  absl::StatusOr<std::vector<Acked>> more = ProposeBatches(c, 3, "g3-after", 1, 1);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(more->front().offset, 20);
}

// Bytes of the .log segment files of `group` in node `id`'s data directory.
uint64_t SegmentBytesOnDisk(const ProcessCluster& c, int id, uint64_t group) {
  const std::filesystem::path dir =
      std::filesystem::path(c.DataDir(id)) / "groups" / absl::StrFormat("%020d", group) / "log";
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".log") bytes += std::filesystem::file_size(e.path(), ec);
  }
  return bytes;
}

// Many groups written at once take the journal path, where each partition's
// small appends wait in memory (write-behind) instead of being written to
// its segment file each round. kill -9 of every node then loses those
// bytes from the segments; the journal replay at start must put back every
// acknowledged record.
TEST(RaftlogdIntegration, WholeClusterKillNineKeepsSmallWritesHeldInMemory) {
  ProcessClusterOptions options;
  options.extra_args = {"--journal-direct-groups=0"};  // every round journaled: every write held
  ProcessCluster c(options);
  ASSERT_OK(c.StartAll());
  constexpr int kGroups = 24;
  constexpr int kRounds = 8;
  const std::vector<uint64_t> groups = GroupRange(1, kGroups);
  for (uint64_t g : groups) ASSERT_OK(c.EnsureGroupOnAll(g, {1, 2, 3}));
  absl::StatusOr<std::map<uint64_t, uint64_t>> leaders = c.WaitForLeaders(groups, 30s);
  ASSERT_TRUE(leaders.ok()) << leaders.status() << AllLogTails(c);

  // kRounds rounds; in each, one small entry to every group at once.
  std::map<uint64_t, std::vector<Acked>> acked;
  for (int round = 0; round < kRounds; ++round) {
    struct Call {
      grpc::ClientContext ctx;
      pb::ProposeRequest req;
      pb::ProposeResponse resp;
      grpc::Status status;
      std::unique_ptr<grpc::ClientAsyncResponseReader<pb::ProposeResponse>> rpc;
      uint64_t group = 0;
    };
    grpc::CompletionQueue cq;
    std::vector<std::unique_ptr<Call>> calls;
    for (uint64_t g : groups) {
      auto call = std::make_unique<Call>();
      call->group = g;
      call->req.set_group(g);
      call->req.add_entries(MakeTestBatch(absl::StrCat("g", g, "-", round), 1));
      call->ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      call->rpc =
          c.Admin(static_cast<int>(leaders->at(g))).AsyncPropose(&call->ctx, call->req, &cq);
      call->rpc->Finish(&call->resp, &call->status, call.get());
      calls.push_back(std::move(call));
    }
    for (size_t i = 0; i < calls.size(); ++i) {
      void* tag = nullptr;
      bool ok = false;
      ASSERT_TRUE(cq.Next(&tag, &ok));
      Call* done = static_cast<Call*>(tag);
      ASSERT_TRUE(ok && done->status.ok())
          << "group " << done->group << ": " << done->status.error_message();
      ASSERT_EQ(done->resp.base_offsets_size(), 1);
      acked[done->group].push_back(
          {absl::StrCat("g", done->group, "-", round, "-0"), done->resp.base_offsets(0)});
    }
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
  }
  // Once every node holds every entry (acknowledged means a majority), no
  // node has written them all to its segment files yet.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (uint64_t g : groups) {
          std::optional<pb::GroupStatus> l = GroupStatusOn(c, static_cast<int>(leaders->at(g)), g);
          for (int id = 1; id <= 3; ++id) {
            std::optional<pb::GroupStatus> f = GroupStatusOn(c, id, g);
            if (!l || !f || f->last_index() != l->last_index()) return false;
          }
        }
        return true;
      },
      30s))
      << AllLogTails(c);
  const uint64_t frames_per_node_at_least = uint64_t{kGroups} * kRounds * (48 + 61);
  uint64_t most_on_disk = 0;
  for (int id = 1; id <= 3; ++id) {
    uint64_t on_disk = 0;
    for (uint64_t g : groups) on_disk += SegmentBytesOnDisk(c, id, g);
    std::cerr << "node " << id << ": segment bytes on disk before kill -9: " << on_disk
              << " (its acknowledged frames need at least " << frames_per_node_at_least << ")\n";
    most_on_disk = std::max(most_on_disk, on_disk);
  }
  EXPECT_LT(most_on_disk, frames_per_node_at_least)
      << "a node wrote every entry to its segments: write-behind not used";

  for (int id = 1; id <= 3; ++id) c.Kill(id);
  ASSERT_OK(c.StartAll());
  ASSERT_TRUE(c.WaitForLeaders(groups, 30s).ok()) << AllLogTails(c);
  for (uint64_t g : groups) {
    absl::StatusOr<std::vector<storage::Record>> records = ReadAll(c, g, kRounds);
    ASSERT_TRUE(records.ok()) << "group " << g << ": " << records.status();
    EXPECT_EQ(records->size(), static_cast<size_t>(kRounds)) << "group " << g;
    ExpectAckedReadBack(*records, acked[g]);
  }
}

// ---- h. Start-up refusals: a clear message and a non-zero exit code ----

// `args` with the value of flag `name` (e.g. "--peers") replaced.
std::vector<std::string> WithFlag(std::vector<std::string> args, const std::string& name,
                                  const std::string& value) {
  bool found = false;
  for (std::string& a : args) {
    if (absl::StartsWith(a, name + "=")) {
      a = name + "=" + value;
      found = true;
    }
  }
  if (!found) args.push_back(name + "=" + value);
  return args;
}

TEST(RaftlogdRefusals, AddressInUse) {
  ProcessCluster c;
  // Hold a listening socket on node 1's port.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const std::string addr = c.Address(1);
  const int port = std::stoi(addr.substr(addr.rfind(':') + 1));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << "port " << port;
  ASSERT_EQ(::listen(fd, 4), 0);
  absl::StatusOr<ProcessCluster::RunResult> r = c.RunToExit(c.CommandLine(1));
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "cannot bind " + addr)) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "Address already in use")) << r->output;
}

TEST(RaftlogdRefusals, DuplicateIdsInPeers) {
  ProcessCluster c;
  const std::string peers =
      absl::StrCat("1=", c.Address(1), ",1=", c.Address(2), ",3=", c.Address(3));
  absl::StatusOr<ProcessCluster::RunResult> r =
      c.RunToExit(WithFlag(c.CommandLine(1), "--peers", peers));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "duplicate id 1")) << r->output;
}

TEST(RaftlogdRefusals, DataDirectoryOfAnotherCluster) {
  ProcessCluster c;
  // All three: a lone node on an empty directory waits for its peers.
  ASSERT_OK(c.StartAll());
  absl::StatusOr<int> code = c.Stop(1);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0) << c.LogTail(1);
  absl::StatusOr<ProcessCluster::RunResult> r =
      c.RunToExit(WithFlag(c.CommandLine(1), "--cluster-id", "another-cluster"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "belongs to cluster test-cluster")) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "another-cluster")) << r->output;
  // The directory is untouched: node 1 still starts with its own identity.
  ASSERT_OK(c.Start(1));
}

TEST(RaftlogdRefusals, DataDirectoryOfAnotherNode) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  for (int id : {1, 2}) {
    absl::StatusOr<int> code = c.Stop(id);
    ASSERT_TRUE(code.ok()) << code.status();
    ASSERT_EQ(*code, 0) << c.LogTail(id);
  }
  // Node 2's command line pointed at node 1's directory.
  absl::StatusOr<ProcessCluster::RunResult> r =
      c.RunToExit(WithFlag(c.CommandLine(2), "--data-dir", c.DataDir(1)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "belongs to node 1")) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "configured as node 2")) << r->output;
}

TEST(RaftlogdRefusals, SecondProcessOnTheSameDataDirectory) {
  ProcessCluster c;
  ASSERT_OK(c.StartAll());
  const std::optional<pid_t> pid = c.Pid(1);
  ASSERT_TRUE(pid.has_value());
  // Same id and data directory, another free port (so the lock, not the
  // address, is what refuses it).
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string addr = absl::StrCat("127.0.0.1:", *port);
  std::vector<std::string> args = WithFlag(c.CommandLine(1), "--addr", addr);
  args =
      WithFlag(args, "--peers", absl::StrCat("1=", addr, ",2=", c.Address(2), ",3=", c.Address(3)));
  absl::StatusOr<ProcessCluster::RunResult> r = c.RunToExit(args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, "in use by another raftlogd")) << r->output;
  EXPECT_TRUE(absl::StrContains(r->output, absl::StrCat("pid ", *pid))) << r->output;
  // The first one is unharmed.
  EXPECT_TRUE(c.IsRunning(1));
  EXPECT_TRUE(c.Status(1).ok());
}

}  // namespace
}  // namespace raftlog::testing
