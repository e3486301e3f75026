// PartitionIdempotence: idempotent-producer dedup for one partition group.
#include "broker/idempotence.h"

#include <span>

#include "absl/strings/str_format.h"
#include "broker/partition_raft_storage.h"
#include "storage/record_batch_header.h"

namespace raftlog::broker {

ProducerBatch ProducerBatchOf(std::string_view bytes) {
  ProducerBatch b;
  absl::StatusOr<storage::BatchHeader> h = storage::ParseBatchHeader(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  if (!h.ok() || h->producer_id < 0 || h->base_sequence < 0) return b;
  b.producer_id = h->producer_id;
  b.epoch = h->producer_epoch;
  b.first_sequence = h->base_sequence;
  const int64_t last = int64_t{h->base_sequence} + h->last_offset_delta;
  b.last_sequence = static_cast<int32_t>(last > INT32_MAX ? last - INT32_MAX - 1 : last);
  b.base_offset = h->base_offset;
  b.last_offset = h->last_offset();
  return b;
}

bool PartitionIdempotence::AnyIdempotent(const std::vector<std::string>& entries) {
  for (const std::string& e : entries) {
    if (ProducerBatchOf(e).producer_id >= 0) return true;
  }
  return false;
}

absl::Status PartitionIdempotence::LoadTail(const GroupStorage& storage, raft::LogIndex applied) {
  const raft::LogIndex first = storage.FirstIndex();
  if (applied < first) return absl::OkStatus();
  raft::LogIndex lo = applied.value() >= first.value() + kScanEntries
                          ? raft::LogIndex(applied.value() - kScanEntries + 1)
                          : first;
  uint64_t bytes = 0;
  while (lo <= applied && bytes < kScanBytes) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        storage.Entries(lo, applied + 1, kScanBytes - bytes);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) break;
    for (const raft::Entry& e : *entries) {
      bytes += e.data.size();
      if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
        committed_.Record(ProducerBatchOf(e.data));  // stored bytes: real offsets
      }
      lo = e.index + 1;
    }
  }
  tentative_valid_ = false;
  return absl::OkStatus();
}

void PartitionIdempotence::OnApplied(const raft::Entry& entry, PartitionRaftStorage& storage) {
  // Proposals ending at or before an applied index are decided: committed
  // (recorded below, entry by entry) or replaced by another term's entries.
  if (!pending_.empty() && pending_.begin()->first <= entry.index) {
    pending_.erase(pending_.begin(), pending_.upper_bound(entry.index));
    tentative_valid_ = false;
  }
  if (entry.type != raft::EntryType::kNormal || entry.data.empty()) return;
  ProducerBatch b = ProducerBatchOf(entry.data);
  if (b.producer_id < 0) return;
  // The entry as proposed may carry a placeholder base offset; the log
  // assigned the real one.
  absl::StatusOr<storage::Offset> base = storage.NextOffsetAfter(entry.index - 1);
  if (base.ok()) {
    b.last_offset = base->value() + (b.last_offset - b.base_offset);
    b.base_offset = base->value();
  }
  b.proposal = 0;
  committed_.Record(b);
  tentative_valid_ = false;
}

void PartitionIdempotence::OnRoleChange(bool is_leader, raft::LogIndex last_index) {
  is_leader_ = is_leader;
  if (is_leader) ready_index_ = last_index;
  // Another term's proposals are not ours to wait for; the entries that
  // commit are recorded as they are applied.
  pending_.clear();
  tentative_valid_ = false;
}

void PartitionIdempotence::EnsureTentative() {
  if (tentative_valid_) return;
  tentative_ = committed_;
  for (const auto& [last, batches] : pending_) {
    for (const ProducerBatch& b : batches) tentative_.Record(b);
  }
  tentative_valid_ = true;
}

IdempotentPlan PartitionIdempotence::Plan(const std::vector<std::string>& entries,
                                          raft::LogIndex applied) {
  IdempotentPlan plan;
  if (applied < ready_index_) {
    plan.kind = IdempotentPlan::Kind::kReject;
    plan.rejection = absl::UnavailableError(
        "leader is still applying entries of earlier terms; retry idempotent writes shortly");
    return plan;
  }
  EnsureTentative();
  std::vector<ProducerBatch> batches;
  for (const std::string& e : entries) batches.push_back(ProducerBatchOf(e));
  // A retry of a whole pending proposal?
  {
    const ProducerBatch& b0 = batches[0];
    ProducerCheck c =
        tentative_.Check(b0.producer_id, b0.epoch, b0.first_sequence, b0.last_sequence);
    if (c.verdict == ProducerVerdict::kDuplicate && c.duplicate_of.proposal != 0) {
      auto it = pending_.find(raft::LogIndex(c.duplicate_of.proposal));
      bool same = it != pending_.end() && it->second.size() == batches.size();
      for (size_t i = 0; same && i < batches.size(); ++i) {
        same = batches[i].producer_id == it->second[i].producer_id &&
               batches[i].first_sequence == it->second[i].first_sequence &&
               batches[i].last_sequence == it->second[i].last_sequence;
      }
      if (same) {
        plan.kind = IdempotentPlan::Kind::kAttach;
        plan.attach_to = it->first;
        return plan;
      }
      plan.kind = IdempotentPlan::Kind::kReject;
      plan.rejection = absl::UnavailableError(
          "an earlier attempt of these batches is still being replicated; retry shortly");
      return plan;
    }
  }
  ProducerStateTable scratch = tentative_;  // this request's earlier batches count too
  bool in_prefix = true;
  for (size_t i = 0; i < batches.size(); ++i) {
    const ProducerBatch& b = batches[i];
    ProducerCheck c = scratch.Check(b.producer_id, b.epoch, b.first_sequence, b.last_sequence);
    switch (c.verdict) {
      case ProducerVerdict::kDuplicate:
        if (!in_prefix || c.duplicate_of.proposal != 0) {
          plan.kind = IdempotentPlan::Kind::kReject;
          plan.rejection = absl::OutOfRangeError(absl::StrFormat(
              "OUT_OF_ORDER_SEQUENCE_NUMBER: batch %d repeats sequence %d..%d out of place", i,
              b.first_sequence, b.last_sequence));
          return plan;
        }
        plan.duplicate_base_offsets.push_back(c.duplicate_of.base_offset);
        continue;
      case ProducerVerdict::kOutOfOrder:
        plan.kind = IdempotentPlan::Kind::kReject;
        plan.rejection = absl::OutOfRangeError("OUT_OF_ORDER_SEQUENCE_NUMBER: " + c.message);
        return plan;
      case ProducerVerdict::kFencedEpoch:
        plan.kind = IdempotentPlan::Kind::kReject;
        plan.rejection = absl::PermissionDeniedError("INVALID_PRODUCER_EPOCH: " + c.message);
        return plan;
      case ProducerVerdict::kNew:
        in_prefix = false;
        scratch.Record(b);
        plan.new_batches.push_back(b);
        break;
    }
  }
  plan.kind = plan.duplicate_base_offsets.empty() ? IdempotentPlan::Kind::kProposeAll
                                                  : IdempotentPlan::Kind::kDuplicatePrefix;
  return plan;
}

void PartitionIdempotence::OnProposed(raft::LogIndex last, std::vector<ProducerBatch> batches) {
  for (ProducerBatch& b : batches) {
    b.proposal = last.value();
    b.base_offset = -1;
    b.last_offset = -1;
  }
  if (tentative_valid_) {
    for (const ProducerBatch& b : batches) tentative_.Record(b);
  }
  pending_[last] = std::move(batches);
}

void PartitionIdempotence::OnSnapshot(raft::LogIndex index) {
  pending_.erase(pending_.begin(), pending_.upper_bound(index));
  tentative_valid_ = false;
}

}  // namespace raftlog::broker
