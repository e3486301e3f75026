// Unit tests showing that each safety checker fires on a deliberately
// corrupted state (a checker that cannot fail would prove nothing), that it
// stays quiet on legal states, and that the simulator is deterministic.
#include "tests/sim/invariants.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "raft/raw_node.h"
#include "tests/sim/sim_cluster.h"
#include "tests/sim/simulation.h"

namespace raftlog::sim {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Term;
using ::testing::HasSubstr;

Entry E(uint64_t term, uint64_t index, std::string data) {
  return Entry{Term(term), LogIndex(index), EntryType::kNormal, std::move(data)};
}

std::unique_ptr<raft::MemoryStorage> Log(const std::vector<Entry>& ents, uint64_t commit) {
  auto s = std::make_unique<raft::MemoryStorage>();
  EXPECT_TRUE(s->Append(ents).ok());
  s->SetHardState(
      raft::HardState{ents.empty() ? Term(0) : ents.back().term, raft::kNoNode, LogIndex(commit)});
  return s;
}

TEST(InvariantsTest, ElectionSafetyFiresOnTwoLeadersInOneTerm) {
  SafetyChecker c;
  EXPECT_TRUE(c.ObserveLeader(1, 5).ok());
  EXPECT_TRUE(c.ObserveLeader(1, 5).ok());
  EXPECT_TRUE(c.ObserveLeader(2, 6).ok());
  absl::Status s = c.ObserveLeader(3, 5);
  EXPECT_THAT(s.message(), HasSubstr("ElectionSafety: nodes 1 and 3 were both leader in term 5"));
}

TEST(InvariantsTest, MonotonicCommitFiresOnRegression) {
  SafetyChecker c;
  EXPECT_TRUE(c.ObserveCommit(1, 5).ok());
  EXPECT_THAT(c.ObserveCommit(1, 4).message(), HasSubstr("MonotonicCommit"));
  // After a crash the node may restart from what it persisted, not below.
  SafetyChecker d;
  EXPECT_TRUE(d.ObserveCommit(1, 9).ok());
  d.OnCrash(1, 7);
  EXPECT_TRUE(d.ObserveCommit(1, 7).ok());
  d.OnCrash(1, 7);
  EXPECT_THAT(d.ObserveCommit(1, 6).message(), HasSubstr("MonotonicCommit"));
}

TEST(InvariantsTest, CommittedNeverLostFiresWhenACommittedEntryChanges) {
  SafetyChecker c;
  auto a = Log({E(1, 1, "x"), E(1, 2, "y")}, 2);
  auto b = Log({E(1, 1, "x"), E(2, 2, "z")}, 2);
  EXPECT_TRUE(c.RecordCommitted(1, 1, *a, 2).ok());
  absl::Status s = c.RecordCommitted(2, 1, *b, 2);
  EXPECT_THAT(s.message(), HasSubstr("CommittedNeverLost: node 2 has entry 2 as (term 2"));
  // Commit beyond the durable log is itself a violation.
  EXPECT_THAT(c.RecordCommitted(3, 1, *a, 3).message(), HasSubstr("beyond its durable last index"));
}

TEST(InvariantsTest, StateMachineSafetyFiresOnGapsDivergenceAndStateMismatch) {
  SafetyChecker c;
  ASSERT_TRUE(c.OnRestore(1, 0, 0, 100).ok());
  ASSERT_TRUE(c.OnRestore(2, 0, 0, 100).ok());
  ASSERT_TRUE(c.OnApply(1, 1, E(1, 1, "x"), 1, 101).ok());
  // Node 2 skips entry 1.
  EXPECT_THAT(c.OnApply(2, 1, E(1, 2, "y"), 2, 102).message(),
              HasSubstr("applied entry 2 right after 0"));
  // Node 2 applies a different entry 1.
  SafetyChecker d;
  ASSERT_TRUE(d.OnApply(1, 1, E(1, 1, "x"), 1, 101).ok());
  EXPECT_THAT(d.OnApply(2, 1, E(1, 1, "other"), 1, 101).message(), HasSubstr("StateMachineSafety"));
  // Same entry, different resulting state (e.g. a bad snapshot underneath).
  SafetyChecker e;
  ASSERT_TRUE(e.OnApply(1, 1, E(1, 1, "x"), 1, 101).ok());
  EXPECT_THAT(e.OnApply(2, 1, E(1, 1, "x"), 1, 999).message(), HasSubstr("different state"));
  // Applying what is not durable.
  SafetyChecker f;
  EXPECT_THAT(f.OnApply(1, 1, E(1, 1, "x"), 0, 101).message(), HasSubstr("AppliedWithinDurable"));
  // Restoring a snapshot that contradicts the committed record.
  SafetyChecker g;
  auto a = Log({E(1, 1, "x"), E(3, 2, "y")}, 2);
  ASSERT_TRUE(g.RecordCommitted(1, 1, *a, 2).ok());
  EXPECT_THAT(g.OnRestore(2, 2, 2, 5).message(), HasSubstr("restored a snapshot at 2 with term 2"));
}

TEST(InvariantsTest, LeaderCompletenessFiresOnMissingCommittedEntry) {
  SafetyChecker c;
  auto full = Log({E(1, 1, "x"), E(1, 2, "y"), E(1, 3, "z")}, 3);
  ASSERT_TRUE(c.RecordCommitted(1, 1, *full, 3).ok());
  auto short_log = Log({E(1, 1, "x"), E(1, 2, "y")}, 2);
  EXPECT_THAT(c.CheckLeaderCompleteness(2, 2, *short_log, 2).message(),
              HasSubstr("LeaderCompleteness: leader 2 of term 2 has last index 2 but entry 3 was "
                        "committed in term 1"));
  // A stale leader of the term the entries were committed in is not bound.
  EXPECT_TRUE(c.CheckLeaderCompleteness(2, 1, *short_log, 2).ok());
  auto wrong = Log({E(1, 1, "x"), E(2, 2, "q"), E(2, 3, "r")}, 1);
  EXPECT_THAT(c.CheckLeaderCompleteness(3, 2, *wrong, 3).message(), HasSubstr("index 2 term 2"));
  EXPECT_TRUE(c.CheckLeaderCompleteness(1, 2, *full, 3).ok());
}

TEST(InvariantsTest, LogMatchingFiresOnSameTermDifferentPrefix) {
  SafetyChecker c;
  auto a = Log({E(1, 1, "x"), E(1, 2, "y"), E(2, 3, "z")}, 0);
  auto b = Log({E(1, 1, "x"), E(1, 2, "DIFFERENT"), E(2, 3, "z")}, 0);
  auto diverged_tail = Log({E(1, 1, "x"), E(1, 2, "y"), E(3, 3, "w")}, 0);
  EXPECT_TRUE(c.CheckLogMatching({{1, a.get()}, {3, diverged_tail.get()}}).ok());
  EXPECT_THAT(
      c.CheckLogMatching({{1, a.get()}, {2, b.get()}}).message(),
      HasSubstr("LogMatching: nodes 1 and 2 agree on the term of entry 3 but differ at entry 2"));
}

TEST(InvariantsTest, ClusterCheckFiresOnPlantedCorruption) {
  // A healthy cluster runs clean; overwriting a committed entry in one
  // node's durable log must be caught by the cluster's own checks.
  std::mt19937_64 rng(7);
  ClusterConfig cfg;
  cfg.nodes = 3;
  cfg.snapshot_every = 1000000;
  SimCluster cluster(cfg, &rng, false);
  for (int i = 0; i < 300 && !cluster.failed(); ++i) cluster.Step();
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  cluster.CheckAllLogs();
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  ASSERT_GT(cluster.checker().committed_entries(), 10u);
  raft::MemoryStorage* s = cluster.storage_for_testing(2);
  const uint64_t victim = 5;
  ASSERT_GE(s->LastIndex().value(), victim + 1);
  const Term t = *s->TermAt(LogIndex(victim));
  ASSERT_TRUE(s->Append({Entry{t, LogIndex(victim), EntryType::kNormal, "planted"},
                         Entry{t, LogIndex(victim + 1), EntryType::kNormal, "planted2"}})
                  .ok());
  cluster.CheckAllLogs();
  EXPECT_TRUE(cluster.failed());
  EXPECT_THAT(cluster.failure(), HasSubstr("LogMatching"));
}

TEST(HostContractTest, RestartAfterTornSnapshotPersist) {
  // FINDINGS.md finding 1: a crash between persisting a snapshot and the
  // hard state that came with it leaves commit below the snapshot index.
  // The node must still restart, with commit at least the snapshot index.
  raft::MemoryStorage s;
  raft::ConfState cs;
  cs.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  s.SetConfState(cs);
  ASSERT_TRUE(s.Append({E(1, 1, "a"), E(1, 2, "b")}).ok());
  s.SetHardState(raft::HardState{Term(1), raft::NodeId(2), LogIndex(2)});
  raft::Snapshot snap;
  snap.metadata.index = LogIndex(10);
  snap.metadata.term = Term(3);
  snap.metadata.conf_state = cs;
  ASSERT_TRUE(s.ApplySnapshot(snap).ok());
  // The Ready's hard state (term 3, commit 10) never became durable.
  raft::Config c;
  c.id = raft::NodeId(1);
  c.applied = LogIndex(10);
  auto node = raft::RawNode::Create(c, &s);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_GE((*node)->Status().commit, LogIndex(10));
  EXPECT_GE((*node)->term(), Term(1));
}

TEST(InvariantsTest, SimulationIsDeterministic) {
  SimOptions o;
  o.seed = 99;
  o.nodes = 5;
  o.steps = 400;
  SimResult a = RunSimulation(o);
  SimResult b = RunSimulation(o);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.failure, b.failure);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_EQ(a.committed, b.committed);
  EXPECT_EQ(a.terms, b.terms);
  EXPECT_EQ(a.ops_completed, b.ops_completed);
  EXPECT_EQ(a.checker_steps, b.checker_steps);
  EXPECT_GT(a.committed, 0u);
}

}  // namespace
}  // namespace raftlog::sim
