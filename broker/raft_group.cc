// RaftGroup: proposals, apply and published status of one hosted group.
#include "broker/raft_group.h"

#include <span>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/record_batch_header.h"
#include "storage/record_batch_reader.h"

namespace raftlog::broker {

RaftGroup::RaftGroup(GroupId id, std::unique_ptr<GroupStorage> storage,
                     PartitionRaftStorage* partition, std::unique_ptr<raft::RawNode> node,
                     std::unique_ptr<GroupStateMachine> state_machine)
    : id_(id),
      storage_(std::move(storage)),
      partition_(partition),
      node_(std::move(node)),
      state_machine_(std::move(state_machine)) {
  applied_ = node_->Status().applied;
  if (partition_ != nullptr) {
    if (absl::StatusOr<storage::Offset> hw = partition_->NextOffsetAfter(applied_); hw.ok()) {
      high_watermark_.store(hw->value(), std::memory_order_release);
    }
    idempotence_ = std::make_unique<PartitionIdempotence>();
    if (absl::Status s = idempotence_->LoadTail(*storage_, applied_); !s.ok()) {
      failure_ = absl::Status(
          s.code(), absl::StrFormat("loading producer state of group %d: %s", id_, s.message()));
    }
  }
  PublishStatus();
}

RaftGroup::~RaftGroup() { FailPending(absl::UnavailableError("raft group stopped")); }

void RaftGroup::Propose(std::vector<std::string> entries, ProposeCallback done,
                        std::chrono::milliseconds timeout, ProposeCallback appended) {
  if (!failure_.ok()) {
    done(absl::UnavailableError(absl::StrFormat("group %d failed: %s", id_, failure_.message())));
    return;
  }
  if (entries.empty()) {
    done(absl::InvalidArgumentError("propose: no entries"));
    return;
  }
  if (partition_ != nullptr) {
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string& e = entries[i];
      absl::StatusOr<storage::BatchHeader> h = storage::ValidateBatch(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(e.data()), e.size()));
      if (!h.ok()) {
        done(absl::InvalidArgumentError(
            absl::StrFormat("entry %d is not a valid record batch: %s", i, h.status().message())));
        return;
      }
    }
  }
  std::vector<ProducerBatch> producer_batches;
  if (idempotence_ != nullptr && node_->role() == raft::Role::kLeader &&
      PartitionIdempotence::AnyIdempotent(entries)) {
    // Leadership may have been won earlier in this loop iteration: let the
    // producer state learn it (and its first index) before planning.
    PublishStatus();
    IdempotentPlan plan = idempotence_->Plan(entries, applied_);
    switch (plan.kind) {
      case IdempotentPlan::Kind::kReject:
        done(plan.rejection);
        return;
      case IdempotentPlan::Kind::kAttach:
        if (auto it = pending_.find(plan.attach_to); it != pending_.end()) {
          it->second.retries.push_back(std::move(done));
        } else {
          // Its first caller gave up (timeout) but the entry may still commit.
          done(absl::UnavailableError(
              "an earlier attempt of these batches may still commit; retry shortly"));
        }
        return;
      case IdempotentPlan::Kind::kDuplicatePrefix: {
        // Answer the batches already in the log with their offsets; propose
        // only the rest.
        const std::vector<int64_t> dups = plan.duplicate_base_offsets;
        const auto with_dups = [dups](ProposeCallback cb) -> ProposeCallback {
          if (!cb) return nullptr;
          return [dups, cb = std::move(cb)](absl::StatusOr<ProposeResult> r) {
            if (r.ok()) {
              r->base_offsets.insert(r->base_offsets.begin(), dups.begin(), dups.end());
              r->indexes.insert(r->indexes.begin(), dups.size(), raft::LogIndex(0));
            }
            cb(std::move(r));
          };
        };
        if (dups.size() == entries.size()) {
          ProposeResult r;
          r.base_offsets = dups;
          r.indexes.assign(dups.size(), raft::LogIndex(0));
          if (appended) appended(r);
          done(std::move(r));
          return;
        }
        entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(dups.size()));
        done = with_dups(std::move(done));
        appended = with_dups(std::move(appended));
        break;
      }
      case IdempotentPlan::Kind::kProposeAll:
        break;
    }
    producer_batches = std::move(plan.new_batches);
  }
  const size_t n = entries.size();
  const int64_t next_offset = partition_ != nullptr ? StampPredictedOffsets(entries) : -1;
  if (absl::Status s = node_->ProposeBatch(std::move(entries)); !s.ok()) {
    done(s);
    return;
  }
  const raft::LogIndex last = node_->last_index();
  predicted_ = OffsetPrediction{node_->term(), last, next_offset};
  pending_[last] = Pending{node_->term(),       last - (n - 1),
                           std::move(done),     std::chrono::steady_clock::now() + timeout,
                           std::move(appended), {}};
  if (!producer_batches.empty()) idempotence_->OnProposed(last, std::move(producer_batches));
}

int64_t RaftGroup::StampPredictedOffsets(std::vector<std::string>& entries) {
  const raft::LogIndex last = node_->last_index();
  int64_t next = -1;
  if (predicted_.next >= 0 && predicted_.index == last && predicted_.term == node_->term()) {
    next = predicted_.next;  // our own proposals since: still the log's end
  } else if (last == partition_->LastIndex()) {
    // Nothing unwritten: the log knows.
    if (absl::StatusOr<storage::Offset> o = partition_->NextOffsetAfter(last); o.ok()) {
      next = o->value();
    }
  }
  if (next < 0) return -1;
  for (std::string& e : entries) {
    auto* bytes = reinterpret_cast<uint8_t*>(e.data());
    // Validated by Propose.
    const storage::BatchHeader h =
        *storage::ParseBatchHeader(std::span<const uint8_t>(bytes, e.size()));
    storage::StoreBigEndian<int64_t>(bytes, next);
    next += static_cast<int64_t>(h.last_offset_delta) + 1;
  }
  return next;
}

void RaftGroup::Finish(Pending& p, absl::StatusOr<ProposeResult> result) {
  for (ProposeCallback& retry : p.retries) retry(result);
  p.done(std::move(result));
}

void RaftGroup::NotifyAppended(const raft::Ready& rd) {
  if (rd.entries.empty() || pending_.empty()) return;
  const raft::LogIndex written = rd.entries.back().index;
  for (auto it = pending_.begin(); it != pending_.end() && it->first <= written; ++it) {
    Pending& p = it->second;
    if (!p.appended) continue;
    // Only our own entries: a proposal whose slot now holds another term's
    // entry was lost, and its `done` reports that.
    absl::StatusOr<raft::Term> term = storage_->TermAt(it->first);
    if (!term.ok() || *term != p.term) continue;
    ProposeCallback appended = std::move(p.appended);
    p.appended = nullptr;
    appended(ResultFor(p.first, it->first));
  }
}

void RaftGroup::ReadIndex(ReadIndexCallback done, std::chrono::milliseconds timeout) {
  if (!failure_.ok()) {
    done(absl::UnavailableError(absl::StrFormat("group %d failed: %s", id_, failure_.message())));
    return;
  }
  const uint64_t id = next_read_++;
  if (absl::Status s = node_->ReadIndex(absl::StrCat(id)); !s.ok()) {
    done(absl::UnavailableError(
        absl::StrFormat("group %d: no leader to confirm a read (%s)", id_, s.message())));
    return;
  }
  reads_[id] = PendingRead{std::move(done), std::chrono::steady_clock::now() + timeout, {}};
}

absl::Status RaftGroup::Apply(const raft::Ready& rd) {
  if (rd.snapshot && !rd.snapshot->IsEmpty()) {
    applied_ = rd.snapshot->metadata.index;
    if (idempotence_ != nullptr) idempotence_->OnSnapshot(applied_);
    if (state_machine_ != nullptr) state_machine_->NotifyRestored(applied_);
  }
  if (partition_ != nullptr && !rd.committed_entries.empty()) {
    // Published before any proposal is answered: a client that saw its
    // acknowledgement can read its write at once.
    absl::StatusOr<storage::Offset> hw =
        partition_->NextOffsetAfter(rd.committed_entries.back().index);
    if (!hw.ok()) return hw.status();
    high_watermark_.store(hw->value(), std::memory_order_release);
  }
  for (const raft::Entry& e : rd.committed_entries) {
    if (idempotence_ != nullptr) idempotence_->OnApplied(e, *partition_);
    if (state_machine_ != nullptr) {
      absl::StatusOr<std::any> outcome = state_machine_->ApplyEntry(e);
      if (!outcome.ok()) return outcome.status();
      if (!pending_.empty() && e.index >= pending_.begin()->second.first) {
        outcomes_[e.index] = *std::move(outcome);
      }
    }
    applied_ = e.index;
    ResolveUpTo(e);
  }
  for (const raft::ReadState& rs : rd.read_states) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(rs.request_ctx, &id)) continue;
    auto it = reads_.find(id);
    if (it != reads_.end()) it->second.index = rs.index;
  }
  if (!reads_.empty()) AnswerReads();
  if (partition_ != nullptr && rd.snapshot && !rd.snapshot->IsEmpty()) {
    absl::StatusOr<storage::Offset> hw = partition_->NextOffsetAfter(applied_);
    if (!hw.ok()) return hw.status();
    high_watermark_.store(hw->value(), std::memory_order_release);
  }
  // Applied entries are read from the files from now on, if ever.
  if (partition_ != nullptr) partition_->ReleaseAppliedUpTo(applied_);
  return absl::OkStatus();
}

void RaftGroup::ResolveUpTo(const raft::Entry& applied_entry) {
  while (!pending_.empty() && pending_.begin()->first <= applied_entry.index) {
    auto node = pending_.extract(pending_.begin());
    const raft::LogIndex last = node.key();
    Pending& p = node.mapped();
    if (last < applied_entry.index) {
      // Skipped over by a snapshot: it may or may not be in the log.
      Finish(p, absl::UnavailableError("proposal outcome unknown (replica caught up by snapshot)"));
    } else if (applied_entry.term != p.term) {
      Finish(p, absl::AbortedError(absl::StrFormat(
                    "proposal lost: leadership changed (term %d replaced by term %d at "
                    "index %d); not committed, safe to retry",
                    p.term.value(), applied_entry.term.value(), last.value())));
    } else {
      Finish(p, ResultFor(p.first, last));
    }
  }
  outcomes_.erase(outcomes_.begin(), outcomes_.upper_bound(applied_entry.index));
}

void RaftGroup::AnswerReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (!it->second.index || *it->second.index > applied_) {
      ++it;
      continue;
    }
    ReadIndexCallback done = std::move(it->second.done);
    const raft::LogIndex index = *it->second.index;
    it = reads_.erase(it);
    done(index);
  }
}

absl::StatusOr<ProposeResult> RaftGroup::ResultFor(raft::LogIndex first, raft::LogIndex last) {
  ProposeResult r;
  for (raft::LogIndex i = first; i <= last; ++i) {
    r.indexes.push_back(i);
    if (state_machine_ != nullptr) {
      auto it = outcomes_.find(i);
      r.outcomes.push_back(it == outcomes_.end() ? std::any() : std::move(it->second));
    }
    if (partition_ == nullptr) {
      r.base_offsets.push_back(-1);
      continue;
    }
    absl::StatusOr<storage::Offset> base = partition_->NextOffsetAfter(i - 1);
    if (!base.ok()) return base.status();
    r.base_offsets.push_back(base->value());
  }
  return r;
}

void RaftGroup::FailPending(const absl::Status& why) {
  std::map<raft::LogIndex, Pending> pending;
  pending.swap(pending_);
  outcomes_.clear();
  for (auto& [index, p] : pending) Finish(p, why);
  std::map<uint64_t, PendingRead> reads;
  reads.swap(reads_);
  for (auto& [id, r] : reads) r.done(why);
}

void RaftGroup::ExpirePending(std::chrono::steady_clock::time_point now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    Pending p = std::move(it->second);
    it = pending_.erase(it);
    Finish(p, absl::DeadlineExceededError(absl::StrFormat(
                  "group %d: not committed in time; outcome unknown (leadership may have "
                  "changed)",
                  id_)));
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    ReadIndexCallback done = std::move(it->second.done);
    it = reads_.erase(it);
    done(absl::DeadlineExceededError(absl::StrFormat(
        "group %d: read not confirmed in time (leadership lost or no quorum); retry", id_)));
  }
}

void RaftGroup::PublishStatus() {
  const bool leader = node_->role() == raft::Role::kLeader;
  if (idempotence_ != nullptr && leader != is_leader_.load(std::memory_order_relaxed)) {
    idempotence_->OnRoleChange(leader, node_->last_index());
  }
  is_leader_.store(leader, std::memory_order_release);
  leader_.store(node_->leader().value(), std::memory_order_release);
  term_.store(node_->term().value(), std::memory_order_release);
}

void RaftGroup::Fail(absl::Status why) {
  failure_ = std::move(why);
  FailPending(
      absl::UnavailableError(absl::StrFormat("group %d failed: %s", id_, failure_.message())));
  is_leader_.store(false, std::memory_order_release);
}

}  // namespace raftlog::broker
