// PartitionResolver: see partition_resolver.h.
#include "broker/partition_resolver.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace raftlog::broker {

absl::StatusOr<PartitionTarget> PartitionResolver::Resolve(const std::string& topic,
                                                           int32_t partition) {
  MetadataStateMachine* state = this->state();
  if (state == nullptr) {
    return absl::UnavailableError("the node has not loaded its metadata yet; retry");
  }
  // Read before the topic, so a cached entry is never newer than its mark.
  const uint64_t applied = state->applied_index().value();
  std::shared_ptr<const CachedTopic> found;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(topic);
    if (it != cache_.end() && it->second->applied == applied) found = it->second;
  }
  if (found == nullptr) {
    absl::StatusOr<mdpb::Topic> t = state->GetTopic(topic);
    if (!t.ok()) {
      if (absl::IsNotFound(t.status())) {
        std::lock_guard<std::mutex> l(mu_);
        cache_.erase(topic);
        return absl::NotFoundError(absl::StrFormat("unknown topic \"%s\"", topic));
      }
      return t.status();
    }
    auto fresh = std::make_shared<CachedTopic>();
    fresh->applied = applied;
    for (const mdpb::Partition& p : t->partitions()) fresh->groups.push_back(p.group_id());
    const std::map<std::string, std::string> configs = EffectiveTopicConfigs(*t);
    auto mmb = configs.find("max.message.bytes");
    if (mmb == configs.end() || !absl::SimpleAtoi(mmb->second, &fresh->max_message_bytes)) {
      fresh->max_message_bytes = 1048588;  // Kafka's default
    }
    found = fresh;
    std::lock_guard<std::mutex> l(mu_);
    cache_[topic] = found;
  }
  if (partition < 0 || static_cast<size_t>(partition) >= found->groups.size()) {
    return absl::NotFoundError(absl::StrFormat("topic \"%s\" has no partition %d (it has %d)",
                                               topic, partition, found->groups.size()));
  }
  return PartitionTarget{found->groups[partition], found->max_message_bytes};
}

}  // namespace raftlog::broker
