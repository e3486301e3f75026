// Builders of metadata commands (proto/raftlog/metadata/v1/metadata.proto)
// for the broker tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "broker/metadata_state_machine.h"
#include "gtest/gtest.h"

namespace raftlog::broker::testing {

inline std::string Encode(const mdpb::MetadataCommand& cmd) { return cmd.SerializeAsString(); }

inline mdpb::MetadataCommand Register(uint64_t node, int64_t time_ms = 1000) {
  mdpb::MetadataCommand c;
  c.mutable_register_broker()->set_node_id(node);
  c.mutable_register_broker()->add_addresses("127.0.0.1:" + std::to_string(20000 + node));
  c.mutable_register_broker()->set_time_ms(time_ms);
  return c;
}

inline mdpb::MetadataCommand Heartbeat(uint64_t node, int64_t time_ms, uint64_t epoch = 0) {
  mdpb::MetadataCommand c;
  c.mutable_broker_heartbeat()->set_node_id(node);
  c.mutable_broker_heartbeat()->set_time_ms(time_ms);
  c.mutable_broker_heartbeat()->set_broker_epoch(epoch);
  return c;
}

inline mdpb::MetadataCommand Fence(uint64_t node) {
  mdpb::MetadataCommand c;
  c.mutable_fence_broker()->set_node_id(node);
  return c;
}

inline std::string TopicId(uint8_t seed) {
  std::string id(kTopicIdBytes, '\0');
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>(seed + i);
  return id;
}

// A CreateTopic whose assignment comes from AssignReplicas over brokers 1..3.
inline mdpb::MetadataCommand CreateTopic(const std::string& name, int32_t partitions, int32_t rf,
                                         uint8_t id_seed = 1,
                                         std::map<std::string, std::string> configs = {},
                                         std::vector<uint64_t> brokers = {1, 2, 3}) {
  mdpb::MetadataCommand c;
  mdpb::CreateTopic* t = c.mutable_create_topic();
  t->set_name(name);
  t->set_topic_id(TopicId(id_seed));
  t->set_partitions(partitions);
  t->set_replication_factor(rf);
  for (const auto& [k, v] : configs) (*t->mutable_configs())[k] = v;
  if (partitions >= 1 && rf >= 1 && rf <= static_cast<int32_t>(brokers.size())) {
    auto a = AssignReplicas(partitions, rf, brokers);
    EXPECT_TRUE(a.ok()) << a.status();
    if (a.ok()) {
      for (auto& p : *a) *t->add_assignment() = std::move(p);
    }
  }
  return c;
}

inline mdpb::MetadataCommand DeleteTopic(const std::string& name) {
  mdpb::MetadataCommand c;
  c.mutable_delete_topic()->set_name(name);
  return c;
}

inline mdpb::MetadataCommand AlterConfig(const std::string& name,
                                         std::map<std::string, std::string> set,
                                         std::vector<std::string> del = {}) {
  mdpb::MetadataCommand c;
  c.mutable_alter_topic_config()->set_name(name);
  for (const auto& [k, v] : set) (*c.mutable_alter_topic_config()->mutable_set())[k] = v;
  for (const auto& k : del) c.mutable_alter_topic_config()->add_delete_keys(k);
  return c;
}

inline mdpb::MetadataCommand AddPartitions(const std::string& name, int32_t current, int32_t total,
                                           int32_t rf) {
  mdpb::MetadataCommand c;
  c.mutable_create_partitions()->set_name(name);
  c.mutable_create_partitions()->set_new_total(total);
  if (total > current) {
    auto a = AssignReplicas(total - current, rf, {1, 2, 3}, {}, current);
    EXPECT_TRUE(a.ok()) << a.status();
    if (a.ok()) {
      for (auto& p : *a) *c.mutable_create_partitions()->add_assignment() = std::move(p);
    }
  }
  return c;
}

struct OffsetEntry {
  std::string topic;
  int32_t partition;
  int64_t offset;
  std::string metadata = "";
};

inline mdpb::MetadataCommand Commit(const std::string& group, std::vector<OffsetEntry> entries,
                                    int64_t time_ms = 5000, int32_t generation = 1) {
  mdpb::MetadataCommand c;
  mdpb::CommitOffsets* co = c.mutable_commit_offsets();
  co->set_group(group);
  co->set_generation(generation);
  co->set_time_ms(time_ms);
  for (const OffsetEntry& e : entries) {
    mdpb::OffsetCommitEntry* pe = co->add_entries();
    pe->set_topic(e.topic);
    pe->set_partition(e.partition);
    pe->set_offset(e.offset);
    pe->set_metadata(e.metadata);
  }
  return c;
}

inline mdpb::MetadataCommand DeleteGroupOffsets(const std::string& group) {
  mdpb::MetadataCommand c;
  c.mutable_delete_group_offsets()->set_group(group);
  return c;
}

inline mdpb::MetadataCommand AllocPids(int32_t count) {
  mdpb::MetadataCommand c;
  c.mutable_allocate_producer_ids()->set_count(count);
  return c;
}

}  // namespace raftlog::broker::testing
