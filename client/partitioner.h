// Kafka's default partitioning, so that a key lands on the same partition
// as it would with Kafka's Java client: murmur2 of the key bytes, made
// positive, modulo the partition count. Records without a key use a sticky
// partition chosen per batch (StickyPartitioner in producer.cc).
#pragma once

#include <cstdint>
#include <string_view>

namespace raftlog::client {

// Kafka's Utils.murmur2 (seed 0x9747b28c), as a signed 32-bit value.
int32_t Murmur2(std::string_view data);

// toPositive(murmur2(key)) % partitions; partitions >= 1.
int32_t PartitionForKey(std::string_view key, int32_t partitions);

}  // namespace raftlog::client
