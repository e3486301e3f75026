// Unit tests for the simulator's key-value state machine and its command
// encoding: round trips, apply semantics, snapshot restore.
#include "tests/sim/kv_store.h"

#include <gtest/gtest.h>

namespace raftlog::sim {
namespace {

TEST(KvStoreTest, CommandRoundTrip) {
  KvCommand c{KvCommand::Kind::kCas, 42, "k1", "v9", std::string("v3")};
  absl::StatusOr<KvCommand> d = DecodeKvCommand(EncodeKvCommand(c));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, c.kind);
  EXPECT_EQ(d->op_id, 42u);
  EXPECT_EQ(d->key, "k1");
  EXPECT_EQ(d->value, "v9");
  EXPECT_EQ(d->expected, std::optional<std::string>("v3"));
  KvCommand absent{KvCommand::Kind::kCas, 1, "k", "v", std::nullopt};
  EXPECT_EQ(DecodeKvCommand(EncodeKvCommand(absent))->expected, std::nullopt);
  EXPECT_FALSE(DecodeKvCommand("garbage").ok());
}

TEST(KvStoreTest, ApplySemantics) {
  KvStore kv;
  auto get = [&](const std::string& k) {
    return kv.Apply(EncodeKvCommand({KvCommand::Kind::kGet, 1, k, "", std::nullopt}))->read;
  };
  EXPECT_EQ(get("a"), std::nullopt);
  ASSERT_TRUE(kv.Apply(EncodeKvCommand({KvCommand::Kind::kPut, 2, "a", "x", std::nullopt})).ok());
  EXPECT_EQ(get("a"), std::optional<std::string>("x"));
  auto cas = kv.Apply(EncodeKvCommand({KvCommand::Kind::kCas, 3, "a", "y", std::string("nope")}));
  EXPECT_FALSE(cas->swapped);
  EXPECT_EQ(cas->op_id, 3u);
  cas = kv.Apply(EncodeKvCommand({KvCommand::Kind::kCas, 4, "a", "y", std::string("x")}));
  EXPECT_TRUE(cas->swapped);
  EXPECT_EQ(get("a"), std::optional<std::string>("y"));
  cas = kv.Apply(EncodeKvCommand({KvCommand::Kind::kCas, 5, "b", "z", std::nullopt}));
  EXPECT_TRUE(cas->swapped);
}

TEST(KvStoreTest, SnapshotRoundTrip) {
  KvStore a;
  ASSERT_TRUE(a.Apply(EncodeKvCommand({KvCommand::Kind::kPut, 1, "k1", "v1", std::nullopt})).ok());
  ASSERT_TRUE(a.Apply(EncodeKvCommand({KvCommand::Kind::kPut, 2, "k2", "v2", std::nullopt})).ok());
  KvStore b;
  ASSERT_TRUE(b.Apply(EncodeKvCommand({KvCommand::Kind::kPut, 3, "old", "x", std::nullopt})).ok());
  ASSERT_TRUE(b.Restore(a.Serialize()).ok());
  EXPECT_EQ(b.data(), a.data());
  ASSERT_TRUE(b.Restore("").ok());
  EXPECT_TRUE(b.data().empty());
  EXPECT_FALSE(b.Restore("torn\x1f").ok());
}

}  // namespace
}  // namespace raftlog::sim
