// The C++ client library (client/) against three real raftlogd processes:
//   - AdminClient creates and describes a topic (leaders, in-sync replicas,
//     offsets); an unreachable cluster names the addresses it tried;
//   - Producer (acks=all, keys) gets dense offsets per partition, keys land
//     where Kafka's partitioner puts them, and a manually assigned Consumer
//     reads every record back at its acknowledged offset, in order;
//   - acks=1 and acks=0 records are all readable;
//   - two group members split the partitions, read everything once between
//     them and commit; a later member of the group resumes after the
//     commits;
//   - with a partition leader killed mid-stream, every acknowledged record is
//     still read back (retries follow the new leader);
//   - with a partition leader paused (SIGSTOP: silent, not refusing), the
//     producer, metadata calls and the consumer move on within seconds;
//   - the consumer's prefetched batches never outlive a Seek,
//     SeekToBeginning/End or Assign; max_poll_records splits a batch across
//     Polls without a gap or a duplicate; Close cancels a long-polling
//     prefetch instead of waiting it out; a caught-up partition's Fetch does
//     not hold its leader while the consumer runs dry on another partition
//     there.
// Every wait is bounded; nothing is timed.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "client/admin_client.h"
#include "client/consumer.h"
#include "client/partitioner.h"
#include "client/producer.h"
#include "gtest/gtest.h"
#include "tests/cluster/process_cluster.h"

namespace raftlog::testing {
namespace {

using namespace std::chrono_literals;
using client::AdminClient;
using client::Cluster;
using client::Consumer;
using client::ConsumerOptions;
using client::ConsumerRecord;
using client::Producer;
using client::ProducerOptions;
using client::ProducerRecord;
using client::RecordMetadata;
using client::TopicPartition;
using Clock = std::chrono::steady_clock;

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessClusterOptions o;
    o.extra_args = {"--broker-session-timeout-ms=3000", "--broker-heartbeat-interval-ms=300",
                    "--leader-rebalance-interval-ms=1000"};
    cluster_ = std::make_unique<ProcessCluster>(o);
    ASSERT_TRUE(cluster_->StartAll().ok());
    client::ClientOptions co;
    for (int id = 1; id <= 3; ++id) co.bootstrap.push_back(cluster_->Address(id));
    co.retry_timeout = 30s;
    co.request_timeout = 10s;
    absl::StatusOr<std::shared_ptr<Cluster>> c = Cluster::Connect(co);
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = *c;
    admin_ = std::make_unique<AdminClient>(conn_);
    // Topic creation needs the brokers registered (replicas go to live ones).
    const Clock::time_point deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
      absl::StatusOr<raftlog::metadata::v1::ListBrokersResponse> b = admin_->ListBrokers();
      int live = 0;
      if (b.ok()) {
        for (const auto& br : b->brokers()) live += br.fenced() ? 0 : 1;
      }
      if (live == 3) break;
      std::this_thread::sleep_for(100ms);
    }
  }

  void CreateTopic(const std::string& name, int partitions) {
    absl::StatusOr<raftlog::metadata::v1::TopicDescription> t =
        admin_->CreateTopic(name, partitions, 3);
    ASSERT_TRUE(t.ok()) << t.status();
  }

  std::unique_ptr<Producer> MakeProducer(client::Acks acks) {
    ProducerOptions o;
    o.client = conn_->options();
    o.acks = acks;
    o.linger = 5ms;
    o.delivery_timeout = 60s;
    absl::StatusOr<std::unique_ptr<Producer>> p = Producer::Create(conn_, o);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  // Writes `batches` x 20 records to `topic`-`partition` (acks=all), flushing
  // after each 20, so the partition holds at least `batches` batches; record
  // n's value is `prefix` + n. Adds a failure (and returns false) if any
  // record is not acknowledged.
  bool ProduceFlushedBatches(const std::string& topic, std::optional<int32_t> partition,
                             int batches, const std::string& prefix) {
    std::unique_ptr<Producer> producer = MakeProducer(client::Acks::kAll);
    if (producer == nullptr) return false;
    for (int b = 0; b < batches; ++b) {
      for (int i = 0; i < 20; ++i) {
        ProducerRecord r;
        r.topic = topic;
        r.partition = partition;
        r.value = prefix + std::to_string(b * 20 + i);
        producer->Send(std::move(r),
                       [](absl::StatusOr<RecordMetadata> m) { EXPECT_TRUE(m.ok()) << m.status(); });
      }
      absl::Status flushed = producer->Flush(60s);
      EXPECT_TRUE(flushed.ok()) << flushed;
      if (!flushed.ok()) return false;
    }
    return true;
  }

  ConsumerOptions ConsumerOpts(const std::string& group) {
    ConsumerOptions o;
    o.client = conn_->options();
    o.group_id = group;
    o.auto_offset_reset = client::OffsetReset::kEarliest;
    o.fetch_max_wait = 200ms;
    o.heartbeat_interval = 500ms;
    o.session_timeout = 6s;
    return o;
  }

  // Polls until `want` records came or 60 s passed.
  std::vector<ConsumerRecord> ReadAtLeast(Consumer& c, size_t want) {
    std::vector<ConsumerRecord> out;
    const Clock::time_point deadline = Clock::now() + 60s;
    while (out.size() < want && Clock::now() < deadline) {
      absl::StatusOr<std::vector<ConsumerRecord>> r = c.Poll(500ms);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) break;
      for (ConsumerRecord& rec : *r) out.push_back(std::move(rec));
    }
    return out;
  }

  std::unique_ptr<ProcessCluster> cluster_;
  std::shared_ptr<Cluster> conn_;
  std::unique_ptr<AdminClient> admin_;
};

TEST_F(ClientIntegrationTest, ProduceWithKeysThenReadEverythingBackAtItsOffset) {
  CreateTopic("events", 3);
  std::unique_ptr<Producer> producer = MakeProducer(client::Acks::kAll);
  ASSERT_NE(producer, nullptr);
  const int n = 3000;
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < n; ++i) {
    ProducerRecord r;
    r.topic = "events";
    r.key = "k" + std::to_string(i % 50);
    r.value = "v" + std::to_string(i);
    acks.push_back(producer->Send(std::move(r)));
  }
  ASSERT_TRUE(producer->Flush(60s).ok());
  std::map<TopicPartition, int64_t> next_offset;
  std::map<std::pair<int32_t, int64_t>, std::string> acked;  // (partition, offset) -> value
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<RecordMetadata> m = acks[i].get();
    ASSERT_TRUE(m.ok()) << "record " << i << ": " << m.status();
    EXPECT_EQ(m->partition, client::PartitionForKey("k" + std::to_string(i % 50), 3));
    // Dense and in send order within each partition.
    int64_t& want = next_offset[{m->topic, m->partition}];
    EXPECT_EQ(m->offset, want) << "record " << i;
    want = m->offset + 1;
    acked[{m->partition, m->offset}] = "v" + std::to_string(i);
  }

  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, ConsumerOpts(""));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Assign({{"events", 0}, {"events", 1}, {"events", 2}}).ok());
  std::vector<ConsumerRecord> got = ReadAtLeast(**c, n);
  ASSERT_EQ(got.size(), static_cast<size_t>(n));
  std::map<int32_t, int64_t> last;
  for (const ConsumerRecord& r : got) {
    auto it = acked.find({r.partition, r.offset});
    ASSERT_NE(it, acked.end()) << r.partition << "/" << r.offset;
    EXPECT_EQ(r.value, it->second);
    if (last.count(r.partition)) {
      EXPECT_EQ(r.offset, last[r.partition] + 1);
    }
    last[r.partition] = r.offset;
  }

  absl::StatusOr<client::TopicDetails> d = admin_->DescribeTopic("events");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->partitions.size(), 3u);
  for (const client::PartitionDetails& p : d->partitions) {
    EXPECT_NE(p.leader, 0u);
    EXPECT_EQ(p.replicas.size(), 3u);
    EXPECT_EQ(p.earliest_offset, 0);
    EXPECT_EQ(p.latest_offset, (next_offset[TopicPartition{"events", p.partition}]));
  }
}

TEST_F(ClientIntegrationTest, LeaderAndFireAndForgetAcksAreReadable) {
  CreateTopic("modes", 1);
  for (client::Acks acks : {client::Acks::kLeader, client::Acks::kNone}) {
    std::unique_ptr<Producer> producer = MakeProducer(acks);
    ASSERT_NE(producer, nullptr);
    for (int i = 0; i < 200; ++i) {
      ProducerRecord r;
      r.topic = "modes";
      r.value =
          std::string(acks == client::Acks::kLeader ? "leader-" : "none-") + std::to_string(i);
      producer->Send(std::move(r),
                     [](absl::StatusOr<RecordMetadata> m) { EXPECT_TRUE(m.ok()) << m.status(); });
    }
    ASSERT_TRUE(producer->Flush(60s).ok());
  }
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, ConsumerOpts(""));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Assign({{"modes", 0}}).ok());
  std::vector<ConsumerRecord> got = ReadAtLeast(**c, 400);
  std::set<std::string> values;
  for (const ConsumerRecord& r : got) values.insert(r.value.value_or(""));
  EXPECT_EQ(values.size(), 400u);
}

TEST_F(ClientIntegrationTest, GroupMembersSplitPartitionsAndALaterMemberResumesAfterCommits) {
  CreateTopic("orders", 4);
  std::unique_ptr<Producer> producer = MakeProducer(client::Acks::kAll);
  ASSERT_NE(producer, nullptr);
  for (int i = 0; i < 400; ++i) {
    ProducerRecord r;
    r.topic = "orders";
    r.key = std::to_string(i);
    r.value = "o" + std::to_string(i);
    producer->Send(std::move(r), [](absl::StatusOr<RecordMetadata>) {});
  }
  ASSERT_TRUE(producer->Flush(60s).ok());

  ConsumerOptions o = ConsumerOpts("billing");
  o.enable_auto_commit = false;
  absl::StatusOr<std::unique_ptr<Consumer>> a = Consumer::Create(conn_, o);
  absl::StatusOr<std::unique_ptr<Consumer>> b = Consumer::Create(conn_, o);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Subscribe({"orders"}).ok());
  ASSERT_TRUE((*b)->Subscribe({"orders"}).ok());
  // Each member polls on its own thread, as applications do (a Poll may sit
  // in a rebalance until the other member rejoins), until 400 distinct
  // values came and both hold partitions.
  std::mutex mu;
  std::map<std::string, int> seen;
  std::atomic<bool> stop{false};
  const auto run = [&](Consumer* c) {
    const Clock::time_point deadline = Clock::now() + 60s;
    while (!stop && Clock::now() < deadline) {
      absl::StatusOr<std::vector<ConsumerRecord>> r = c->Poll(200ms);
      if (!r.ok()) {
        ADD_FAILURE() << r.status();
        return;
      }
      std::lock_guard<std::mutex> l(mu);
      for (const ConsumerRecord& rec : *r) ++seen[*rec.value];
    }
  };
  std::thread ta(run, a->get()), tb(run, b->get());
  const Clock::time_point deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (seen.size() == 400) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  // Let a rebalance still in progress settle before reading assignments.
  std::this_thread::sleep_for(1s);
  stop = true;
  ta.join();
  tb.join();
  EXPECT_EQ(seen.size(), 400u);
  std::vector<TopicPartition> pa = (*a)->Assignment(), pb = (*b)->Assignment();
  EXPECT_FALSE(pa.empty());
  EXPECT_FALSE(pb.empty());
  EXPECT_EQ(pa.size() + pb.size(), 4u);
  for (const TopicPartition& tp : pa) EXPECT_EQ(std::count(pb.begin(), pb.end(), tp), 0);
  ASSERT_TRUE((*a)->CommitSync().ok());
  ASSERT_TRUE((*b)->CommitSync().ok());
  (*a)->Close();
  (*b)->Close();

  // A new member starts from the commits: nothing old, then only the new.
  absl::StatusOr<std::unique_ptr<Consumer>> late = Consumer::Create(conn_, o);
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE((*late)->Subscribe({"orders"}).ok());
  absl::StatusOr<std::vector<ConsumerRecord>> first = (*late)->Poll(2s);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->empty()) << first->size() << " old record(s) delivered again";
  for (int i = 0; i < 10; ++i) {
    ProducerRecord r;
    r.topic = "orders";
    r.value = "new" + std::to_string(i);
    producer->Send(std::move(r), [](absl::StatusOr<RecordMetadata>) {});
  }
  ASSERT_TRUE(producer->Flush(60s).ok());
  std::vector<ConsumerRecord> fresh = ReadAtLeast(**late, 10);
  ASSERT_EQ(fresh.size(), 10u);
  for (const ConsumerRecord& r : fresh) EXPECT_TRUE(absl::StartsWith(*r.value, "new"));
}

TEST_F(ClientIntegrationTest, EveryAcknowledgedRecordSurvivesALeaderKill) {
  CreateTopic("durable", 1);
  std::unique_ptr<Producer> producer = MakeProducer(client::Acks::kAll);
  ASSERT_NE(producer, nullptr);
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < 2000; ++i) {
    if (i == 500) {
      // The partition's leader as the cluster reports it (heartbeats carry
      // leaderships, so it may take a moment to be known).
      absl::StatusOr<std::pair<uint64_t, std::string>> leader = absl::UnavailableError("not asked");
      for (int attempt = 0; attempt < 100 && !leader.ok(); ++attempt) {
        absl::StatusOr<std::shared_ptr<const client::ClusterMetadata>> m = conn_->Metadata(true);
        ASSERT_TRUE(m.ok()) << m.status();
        leader = (*m)->Leader({"durable", 0});
        if (!leader.ok()) std::this_thread::sleep_for(100ms);
      }
      ASSERT_TRUE(leader.ok()) << leader.status();
      cluster_->Kill(static_cast<int>(leader->first));
    }
    ProducerRecord r;
    r.topic = "durable";
    r.value = "d" + std::to_string(i);
    acks.push_back(producer->Send(std::move(r)));
    if (i % 100 == 99) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(producer->Flush(90s).ok());
  std::set<std::string> acked;
  for (size_t i = 0; i < acks.size(); ++i) {
    absl::StatusOr<RecordMetadata> m = acks[i].get();
    if (m.ok()) acked.insert("d" + std::to_string(i));
  }
  EXPECT_EQ(acked.size(), 2000u) << "retries should get every record through";
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, ConsumerOpts(""));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Assign({{"durable", 0}}).ok());
  std::set<std::string> read;
  const Clock::time_point deadline = Clock::now() + 60s;
  while (Clock::now() < deadline &&
         !std::includes(read.begin(), read.end(), acked.begin(), acked.end())) {
    absl::StatusOr<std::vector<ConsumerRecord>> r = (*c)->Poll(500ms);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const ConsumerRecord& rec : *r) read.insert(*rec.value);
  }
  for (const std::string& v : acked) EXPECT_TRUE(read.count(v)) << "lost acknowledged " << v;
}

TEST_F(ClientIntegrationTest, AnExpiredIdempotentBatchDoesNotWedgeItsPartition) {
  // Records sent while the partition has no quorum expire after their
  // sequence numbers were used; once the quorum is back the producer must
  // write to that partition again (new epoch from sequence 0) instead of
  // being refused as out of order forever (found by the fault-injection
  // worker during a majority loss).
  CreateTopic("expire", 1);
  ProducerOptions o;
  o.client = conn_->options();
  o.client.request_timeout = 1s;
  o.acks = client::Acks::kAll;
  o.linger = 1ms;
  o.delivery_timeout = 3s;
  absl::StatusOr<std::unique_ptr<Producer>> p = Producer::Create(conn_, o);
  ASSERT_TRUE(p.ok()) << p.status();
  const auto send = [&](const std::string& v) {
    ProducerRecord r;
    r.topic = "expire";
    r.partition = 0;
    r.value = v;
    return (*p)->Send(std::move(r));
  };
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(send("before" + std::to_string(i)).get().ok());
  // Kill the partition's leader and one more node: no quorum, no leader.
  absl::StatusOr<std::pair<uint64_t, std::string>> leader = absl::UnavailableError("not asked");
  for (int attempt = 0; attempt < 100 && !leader.ok(); ++attempt) {
    absl::StatusOr<std::shared_ptr<const client::ClusterMetadata>> m = conn_->Metadata(true);
    ASSERT_TRUE(m.ok()) << m.status();
    leader = (*m)->Leader({"expire", 0});
    if (!leader.ok()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(leader.ok()) << leader.status();
  const int first = static_cast<int>(leader->first);
  const int second = first % 3 + 1;
  cluster_->Kill(first);
  cluster_->Kill(second);
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> doomed;
  for (int i = 0; i < 3; ++i) doomed.push_back(send("during" + std::to_string(i)));
  for (auto& f : doomed) {
    absl::StatusOr<RecordMetadata> m = f.get();
    EXPECT_FALSE(m.ok()) << "stored without a quorum at offset " << m->offset;
  }
  ASSERT_TRUE(cluster_->Start(first).ok());
  ASSERT_TRUE(cluster_->Start(second).ok());
  std::set<std::string> acked;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RecordMetadata> m = send("after" + std::to_string(i)).get();
    ASSERT_TRUE(m.ok()) << "record " << i << " after the quorum returned: " << m.status();
    acked.insert("after" + std::to_string(i));
  }
  for (int i = 0; i < 5; ++i) acked.insert("before" + std::to_string(i));
  // Every acknowledged record is there exactly once.
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, ConsumerOpts(""));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Assign({{"expire", 0}}).ok());
  std::map<std::string, int> seen;
  const Clock::time_point deadline = Clock::now() + 30s;
  while (Clock::now() < deadline && seen.count("after4") == 0) {
    absl::StatusOr<std::vector<ConsumerRecord>> r = (*c)->Poll(500ms);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const ConsumerRecord& rec : *r) ++seen[*rec.value];
  }
  for (const std::string& v : acked) EXPECT_EQ(seen[v], 1) << v;
}

TEST_F(ClientIntegrationTest, APausedLeaderOnlyDelaysMetadataProduceAndFetch) {
  // A node that stops answering (SIGSTOP: its connections stay open, nothing
  // comes back) must cost the clients about one attempt, not a whole
  // request timeout (10 s here) per call: metadata calls move on to another
  // broker, the producer resends to the partition's new leader, the
  // consumer fetches from it.
  CreateTopic("paused", 1);
  std::unique_ptr<Producer> producer = MakeProducer(client::Acks::kAll);
  ASSERT_NE(producer, nullptr);
  const auto send = [&](const std::string& v) {
    ProducerRecord r;
    r.topic = "paused";
    r.value = v;
    return producer->Send(std::move(r));
  };
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(send("before" + std::to_string(i)).get().ok());
  absl::StatusOr<std::pair<uint64_t, std::string>> leader = absl::UnavailableError("not asked");
  for (int attempt = 0; attempt < 100 && !leader.ok(); ++attempt) {
    absl::StatusOr<std::shared_ptr<const client::ClusterMetadata>> m = conn_->Metadata(true);
    ASSERT_TRUE(m.ok()) << m.status();
    leader = (*m)->Leader({"paused", 0});
    if (!leader.ok()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(leader.ok()) << leader.status();
  const int paused = static_cast<int>(leader->first);
  cluster_->Pause(paused);

  // Produce: the in-flight request to the paused leader is abandoned for
  // the new leader once one is known.
  Clock::time_point start = Clock::now();
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < 5; ++i) acks.push_back(send("after" + std::to_string(i)));
  for (auto& f : acks) {
    absl::StatusOr<RecordMetadata> m = f.get();
    ASSERT_TRUE(m.ok()) << m.status();
  }
  EXPECT_LT(Clock::now() - start, 8s) << "the producer waited for the paused leader";

  // Metadata through a connection whose first candidate is the paused node.
  client::ClientOptions co = conn_->options();
  co.bootstrap = {cluster_->Address(paused)};
  for (int id = 1; id <= 3; ++id) {
    if (id != paused) co.bootstrap.push_back(cluster_->Address(id));
  }
  start = Clock::now();
  absl::StatusOr<std::shared_ptr<Cluster>> other = Cluster::Connect(co);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<std::vector<raftlog::metadata::v1::Topic>> topics =
      AdminClient(*other).ListTopics();
  ASSERT_TRUE(topics.ok()) << topics.status();
  EXPECT_LT(Clock::now() - start, 8s) << "metadata calls waited for the paused node";

  // Fetch: everything acknowledged is read from the new leader.
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, ConsumerOpts(""));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Assign({{"paused", 0}}).ok());
  std::vector<ConsumerRecord> got = ReadAtLeast(**c, 10);
  EXPECT_EQ(got.size(), 10u);
  cluster_->Resume(paused);
}

// The consumer prefetches (the next Fetch is sent before Poll returns) and
// decodes batches lazily: what it fetched for a partition before a Seek,
// SeekToBeginning/End or Assign must never be returned after it, a batch
// split by max_poll_records must continue where it stopped, and Close must
// not wait out a prefetch's long-poll.
TEST_F(ClientIntegrationTest, PrefetchedRecordsNeverOutliveASeekAndBatchesSplitAcrossPolls) {
  CreateTopic("seeks", 1);
  // Offsets 0..199 in (at least) 10 batches.
  ASSERT_TRUE(ProduceFlushedBatches("seeks", 0, 10, "v"));
  const TopicPartition tp{"seeks", 0};
  const auto expect_from = [](const std::vector<ConsumerRecord>& got, int64_t first) {
    ASSERT_FALSE(got.empty());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].offset, first + static_cast<int64_t>(i));
      EXPECT_EQ(got[i].value, "v" + std::to_string(got[i].offset));
    }
  };
  const auto poll = [](Consumer& c) {
    absl::StatusOr<std::vector<ConsumerRecord>> r = c.Poll(5s);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : std::vector<ConsumerRecord>{};
  };

  // One batch per Fetch (a fetch returns at least one whole batch), so
  // every Poll leaves a prefetch of the next batch behind.
  ConsumerOptions o = ConsumerOpts("");
  o.partition_max_bytes = 100;
  o.fetch_max_wait = 300ms;
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Assign({tp}).ok());
  std::vector<ConsumerRecord> got = poll(**c);
  expect_from(got, 0);
  ASSERT_LT(got.size(), 200u);
  // Let the prefetch of what follows arrive, then move away from it.
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE((*c)->Seek(tp, 5).ok());
  EXPECT_EQ(*(*c)->Position(tp), 5);
  expect_from(poll(**c), 5);

  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE((*c)->SeekToEnd({tp}).ok());
  EXPECT_EQ(*(*c)->Position(tp), 200);
  absl::StatusOr<std::vector<ConsumerRecord>> none = (*c)->Poll(700ms);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty()) << "first stale record at offset " << none->front().offset;
  EXPECT_EQ(*(*c)->Position(tp), 200);

  ASSERT_TRUE((*c)->SeekToBeginning({tp}).ok());
  expect_from(poll(**c), 0);
  ASSERT_TRUE((*c)->Seek(tp, 150).ok());  // right after a Poll: its prefetch is in flight
  got = poll(**c);
  expect_from(got, 150);
  EXPECT_EQ(*(*c)->Position(tp), got.back().offset + 1);

  // Whole-batch fetches, at most 7 records per Poll: each batch is split
  // across Polls and read on from where the last one stopped.
  o.partition_max_bytes = 1 << 20;
  o.max_poll_records = 7;
  absl::StatusOr<std::unique_ptr<Consumer>> small = Consumer::Create(conn_, o);
  ASSERT_TRUE(small.ok()) << small.status();
  ASSERT_TRUE((*small)->Assign({tp}).ok());
  std::vector<ConsumerRecord> all;
  const Clock::time_point deadline = Clock::now() + 60s;
  while (all.size() < 200 && Clock::now() < deadline) {
    std::vector<ConsumerRecord> r = poll(**small);
    EXPECT_LE(r.size(), 7u);
    for (ConsumerRecord& rec : r) all.push_back(std::move(rec));
    if (!all.empty()) {
      EXPECT_EQ(*(*small)->Position(tp), all.back().offset + 1);
    }
  }
  ASSERT_EQ(all.size(), 200u);
  expect_from(all, 0);

  // Close with a prefetch long-polling at the end of the log (10 s wait):
  // it is cancelled, not waited out.
  o.max_poll_records = 500;
  o.fetch_max_wait = 10s;
  absl::StatusOr<std::unique_ptr<Consumer>> tail = Consumer::Create(conn_, o);
  ASSERT_TRUE(tail.ok()) << tail.status();
  ASSERT_TRUE((*tail)->Assign({tp}).ok());
  ASSERT_TRUE((*tail)->Seek(tp, 190).ok());
  expect_from(poll(**tail), 190);
  const Clock::time_point close_start = Clock::now();
  (*tail)->Close();
  tail->reset();
  EXPECT_LT(Clock::now() - close_start, 5s) << "Close waited for the prefetch's long-poll";
}

TEST_F(ClientIntegrationTest, AssignDropsWhatWasPrefetchedForThePreviousPartitions) {
  CreateTopic("pairs", 2);
  for (int32_t p = 0; p < 2; ++p) {
    ASSERT_TRUE(ProduceFlushedBatches("pairs", p, 5, "p" + std::to_string(p) + "-"));
  }
  ConsumerOptions o = ConsumerOpts("");
  o.partition_max_bytes = 100;  // one batch per Fetch: a prefetch follows each Poll
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Assign({{"pairs", 0}}).ok());
  absl::StatusOr<std::vector<ConsumerRecord>> first = (*c)->Poll(5s);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->empty());
  EXPECT_EQ(first->front().offset, 0);
  std::this_thread::sleep_for(500ms);  // the prefetch of partition 0 arrives
  ASSERT_TRUE((*c)->Assign({{"pairs", 1}}).ok());
  std::vector<ConsumerRecord> got = ReadAtLeast(**c, 100);
  ASSERT_EQ(got.size(), 100u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition, 1);
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(got[i].value, "p1-" + std::to_string(i));
  }
  // Back to partition 0: from the start again (no group, earliest), not
  // from the batch prefetched before.
  ASSERT_TRUE((*c)->Assign({{"pairs", 0}}).ok());
  absl::StatusOr<std::vector<ConsumerRecord>> again = (*c)->Poll(5s);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_FALSE(again->empty());
  EXPECT_EQ(again->front().partition, 0);
  EXPECT_EQ(again->front().offset, 0);
}

TEST_F(ClientIntegrationTest, ACaughtUpPartitionDoesNotStallItsLeadersOtherPartitions) {
  // Two partitions with the same leader (4 partitions on 3 nodes: two
  // share one): `idle` gets nothing, `busy` 10 batches. With 5 records per
  // Poll, `busy` stays buffered across Polls while `idle` is fetched alone;
  // that Fetch must not long-poll (10 s here) and hold the leader while
  // `busy` runs dry.
  CreateTopic("shared", 4);
  // Leaders move to the preferred replica (the first) after creation:
  // pair the partitions once they are there.
  std::map<uint64_t, std::vector<int32_t>> by_leader;
  for (int attempt = 0; attempt < 300; ++attempt) {
    by_leader.clear();
    absl::StatusOr<client::TopicDetails> d = admin_->DescribeTopic("shared");
    ASSERT_TRUE(d.ok()) << d.status();
    int settled = 0;
    for (const client::PartitionDetails& p : d->partitions) {
      by_leader[p.leader].push_back(p.partition);
      if (p.leader != 0 && !p.replicas.empty() && p.leader == p.replicas[0]) ++settled;
    }
    if (settled == 4) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(conn_->Metadata(true).ok());
  int32_t idle = -1, busy = -1;
  for (const auto& [id, ps] : by_leader) {
    if (id != 0 && ps.size() >= 2) {
      idle = ps[0];
      busy = ps[1];
    }
  }
  ASSERT_GE(busy, 0) << "no two partitions share a leader";
  ASSERT_TRUE(ProduceFlushedBatches("shared", busy, 10, "v"));
  ConsumerOptions o = ConsumerOpts("");
  o.partition_max_bytes = 100;  // one batch per Fetch
  o.max_poll_records = 5;
  o.fetch_max_wait = 10s;
  absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Assign({{"shared", idle}, {"shared", busy}}).ok());
  const Clock::time_point start = Clock::now();
  std::vector<ConsumerRecord> got = ReadAtLeast(**c, 200);
  // Ten one-batch Fetches take well under a second; one held Fetch, 10 s.
  EXPECT_LT(Clock::now() - start, 5s) << "a Fetch for the caught-up partition held the leader";
  ASSERT_EQ(got.size(), 200u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition, busy);
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));
  }
}

// Keys and values are views into the fetched (or decompressed) batches that
// keep them alive: records outlive the Poll, the buffers' reuse for later
// Fetches, and the Consumer itself, plain and lz4-compressed alike.
TEST_F(ClientIntegrationTest, RecordsStayIntactAfterLaterPollsAndTheConsumerAreGone) {
  CreateTopic("kept", 2);
  const int n = 4000;
  for (storage::Compression codec : {storage::Compression::kNone, storage::Compression::kLz4}) {
    ProducerOptions o;
    o.client = conn_->options();
    o.compression = codec;
    o.linger = 5ms;
    absl::StatusOr<std::unique_ptr<Producer>> p = Producer::Create(conn_, o);
    ASSERT_TRUE(p.ok()) << p.status();
    for (int i = 0; i < n / 2; ++i) {
      ProducerRecord r;
      r.topic = "kept";
      r.partition = i % 2;
      r.key = "key-" + std::to_string(i);
      r.value = std::string(200, static_cast<char>('a' + i % 26)) + std::to_string(i);
      (*p)->Send(std::move(r));
    }
    ASSERT_TRUE((*p)->Flush(60s).ok());
  }
  std::vector<ConsumerRecord> got;
  {
    ConsumerOptions co = ConsumerOpts("");
    co.max_poll_records = 37;        // many Polls, buffers reused between them
    co.partition_max_bytes = 16384;  // many Fetches
    absl::StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(conn_, co);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE((*c)->Assign({{"kept", 0}, {"kept", 1}}).ok());
    got = ReadAtLeast(**c, n);
  }  // the Consumer and its buffers are gone; the records must not be
  ASSERT_EQ(got.size(), static_cast<size_t>(n));
  std::set<std::string> seen;
  for (const ConsumerRecord& r : got) {
    ASSERT_TRUE(r.key.has_value() && r.value.has_value());
    const std::string i = r.key->str().substr(4);
    const int index = std::stoi(i) % (n / 2);
    EXPECT_EQ(r.value, std::string(200, static_cast<char>('a' + index % 26)) + i) << r.offset;
    seen.insert(r.key->str() + "/" + std::to_string(r.offset));
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n));
}

TEST(ClientConnectTest, AnUnreachableClusterNamesTheAddressesTried) {
  client::ClientOptions o;
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  o.bootstrap = {"127.0.0.1:" + std::to_string(*port)};
  o.retry_timeout = 1s;
  o.request_timeout = 500ms;
  absl::StatusOr<std::shared_ptr<Cluster>> c = Cluster::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsUnavailable(c.status()) || absl::IsDeadlineExceeded(c.status()))
      << c.status();
  EXPECT_TRUE(absl::StrContains(c.status().message(), o.bootstrap[0])) << c.status();
  o.bootstrap = {"no-port"};
  EXPECT_TRUE(absl::IsInvalidArgument(Cluster::Connect(o).status()));
}

}  // namespace
}  // namespace raftlog::testing
