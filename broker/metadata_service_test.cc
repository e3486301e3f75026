// MetadataService + Controller: three in-process Nodes hosting the metadata
// group (messages through LocalCluster's router), each serving the
// MetadataService over real gRPC on 127.0.0.1:<ephemeral>, so requests at a
// follower really are forwarded to the leader. Checks the topic round trip
// (create, describe, list, alter config, add partitions, delete), that
// validation errors reach the client with their messages through a
// forwarding node, that a forwarded request is never forwarded again, the
// no-leader answer, fencing after the session timeout and unfencing on
// heartbeat (with re-registration on a stale epoch), offset commit (the
// coordinator's in-process path) and fetch, producer-id blocks,
// linearizable reads after writes made through another node, and service
// after the leader dies.
#include "broker/metadata_service.h"

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "broker/local_cluster_test_util.h"
#include "broker/metadata_group.h"
#include "broker/metadata_host_test_util.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using ::testing::HasSubstr;
using testing::LocalCluster;
using testing::WaitFor;
using namespace std::chrono_literals;
using Stub = mdpb::MetadataService::Stub;

// Three nodes, each with its MetadataService on its own gRPC server.
class MetadataCluster {
 public:
  explicit MetadataCluster(ControllerOptions controller, int started = 3)
      : controller_(controller) {
    c_.Tweak([this](NodeOptions& o) {
      o.sync = false;
      testing::HostMetadataGroup(o, states_);
    });
    for (uint64_t id = 1; id <= static_cast<uint64_t>(started); ++id) Start(id);
  }
  ~MetadataCluster() {
    for (uint64_t id = 1; id <= 3; ++id) Kill(id);
  }

  void Start(uint64_t id) {
    states_[id] = nullptr;
    c_.Start(id);
    ASSERT_NE(states_[id], nullptr);
    MetadataServiceOptions o;
    o.controller = controller_;
    for (const auto& [peer, addr] : addresses_) o.peer_addresses[raft::NodeId(peer)] = addr;
    auto svc = std::make_unique<MetadataService>(c_.node(id).get(), states_[id], o);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(svc.get());
    std::unique_ptr<grpc::Server> server = b.BuildAndStart();
    ASSERT_NE(server, nullptr);
    ASSERT_NE(port, 0);
    addresses_[id] = absl::StrFormat("127.0.0.1:%d", port);
    for (auto& [other, m] : members_) {
      m.svc->SetPeerAddress(raft::NodeId(id), addresses_[id]);
      svc->SetPeerAddress(raft::NodeId(other), addresses_[other]);
    }
    svc->SetPeerAddress(raft::NodeId(id), addresses_[id]);
    Member& m = members_[id];
    m.svc = std::move(svc);
    m.server = std::move(server);
    m.stub = mdpb::MetadataService::NewStub(
        grpc::CreateChannel(addresses_[id], grpc::InsecureChannelCredentials()));
  }

  // Crash-like: the server and service go, then the node stops.
  void Kill(uint64_t id) {
    auto it = members_.find(id);
    if (it != members_.end()) {
      it->second.server->Shutdown(std::chrono::system_clock::now() + 1s);
      it->second.server.reset();
      it->second.svc.reset();
      members_.erase(it);
    }
    c_.Kill(id);
  }

  MetadataService& svc(uint64_t id) { return *members_.at(id).svc; }
  Stub& stub(uint64_t id) { return *members_.at(id).stub; }
  const std::string& address(uint64_t id) { return addresses_.at(id); }
  MetadataStateMachine* state(uint64_t id) { return states_.at(id); }
  std::shared_ptr<Node> node(uint64_t id) { return c_.node(id); }
  uint64_t WaitForLeader() { return c_.WaitForLeader(kMetadataGroup); }
  uint64_t Follower(uint64_t leader, int which = 0) {
    std::vector<uint64_t> f;
    for (uint64_t id = 1; id <= 3; ++id) {
      if (id != leader && members_.count(id)) f.push_back(id);
    }
    return f.at(which);
  }

  // Registers brokers 1..3, each through its own node's in-process API.
  std::map<uint64_t, uint64_t> RegisterAll() {
    std::map<uint64_t, uint64_t> epochs;
    for (uint64_t id = 1; id <= 3; ++id) {
      mdpb::RegisterBrokerRequest req;
      req.set_node_id(id);
      req.add_addresses(addresses_.at(id));
      auto r = svc(id).RegisterBroker(req);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) epochs[id] = r->broker().epoch();
    }
    return epochs;
  }

 private:
  struct Member {
    std::unique_ptr<MetadataService> svc;
    std::unique_ptr<grpc::Server> server;
    std::unique_ptr<Stub> stub;
  };
  const ControllerOptions controller_;
  LocalCluster c_{3};
  std::map<uint64_t, MetadataStateMachine*> states_;
  std::map<uint64_t, std::string> addresses_;
  std::map<uint64_t, Member> members_;
};

// A unary call with a 10 s deadline; `trailer` receives the leader-address
// trailing metadata, if any.
template <typename Req, typename Resp>
grpc::Status Call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp, bool forwarded = false,
                  std::string* trailer = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  if (forwarded) ctx.AddMetadata(kForwardedHeader, "1");
  grpc::Status s = (stub.*method)(&ctx, req, resp);
  if (trailer != nullptr) {
    auto it = ctx.GetServerTrailingMetadata().find(kLeaderAddressTrailer);
    if (it != ctx.GetServerTrailingMetadata().end()) {
      *trailer = std::string(it->second.data(), it->second.size());
    }
  }
  return s;
}

mdpb::CreateTopicRequest NewTopic(const std::string& name, int32_t partitions, int32_t rf,
                                  std::map<std::string, std::string> configs = {}) {
  mdpb::CreateTopicRequest r;
  r.set_name(name);
  r.set_partitions(partitions);
  r.set_replication_factor(rf);
  for (const auto& [k, v] : configs) (*r.mutable_configs())[k] = v;
  return r;
}

mdpb::DescribeTopicRequest DescribeReq(const std::string& name) {
  mdpb::DescribeTopicRequest r;
  r.set_name(name);
  return r;
}

ControllerOptions LongSession() {
  ControllerOptions o;
  o.session_timeout = 60s;  // nobody is fenced during these tests
  return o;
}

void ExpectWellPlaced(const mdpb::Topic& t, int32_t partitions, int32_t rf) {
  ASSERT_EQ(t.partition_count(), partitions);
  ASSERT_EQ(t.partitions_size(), partitions);
  std::set<uint64_t> group_ids;
  for (int i = 0; i < partitions; ++i) {
    const mdpb::Partition& p = t.partitions(i);
    EXPECT_EQ(p.partition(), i);
    ASSERT_EQ(p.replicas_size(), rf);
    std::set<uint64_t> distinct(p.replicas().begin(), p.replicas().end());
    EXPECT_EQ(distinct.size(), static_cast<size_t>(rf)) << "partition " << i;
    for (uint64_t r : distinct) EXPECT_TRUE(r >= 1 && r <= 3) << r;
    EXPECT_GE(p.group_id(), 1u);
    group_ids.insert(p.group_id());
  }
  EXPECT_EQ(group_ids.size(), static_cast<size_t>(partitions));
}

TEST(MetadataServiceTest, TopicRoundTripThroughFollowers) {
  MetadataCluster c(LongSession());
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  const uint64_t f1 = c.Follower(leader, 0), f2 = c.Follower(leader, 1);

  mdpb::CreateTopicResponse created;
  grpc::Status s = Call(c.stub(f1), &Stub::CreateTopic,
                        NewTopic("orders", 6, 3, {{"retention.ms", "1000"}}), &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const mdpb::Topic& t = created.topic().topic();
  EXPECT_EQ(t.name(), "orders");
  EXPECT_EQ(t.topic_id().size(), kTopicIdBytes);
  EXPECT_NE(t.topic_id(), std::string(kTopicIdBytes, '\0'));
  EXPECT_EQ(t.replication_factor(), 3);
  ExpectWellPlaced(t, 6, 3);
  // Preferred leaders are spread over the three brokers.
  std::map<uint64_t, int> leaders;
  for (const mdpb::Partition& p : t.partitions()) ++leaders[p.replicas(0)];
  EXPECT_EQ(leaders, (std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}}));
  EXPECT_EQ(created.topic().effective_configs().at("retention.ms"), "1000");
  EXPECT_EQ(created.topic().effective_configs().at("cleanup.policy"), "delete");
  EXPECT_EQ(t.configs().size(), 1u);  // only the explicit key is stored

  mdpb::DescribeTopicResponse described;
  s = Call(c.stub(f2), &Stub::DescribeTopic, DescribeReq("orders"), &described);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(described.topic().topic().SerializeAsString(), t.SerializeAsString());
  EXPECT_EQ(described.topic().effective_configs().size(), DefaultTopicConfigs().size());

  // Defaults: 1 partition, replication factor min(3, live brokers).
  mdpb::CreateTopicResponse defaulted;
  s = Call(c.stub(leader), &Stub::CreateTopic, NewTopic("defaults", 0, 0), &defaulted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ExpectWellPlaced(defaulted.topic().topic(), 1, 3);

  mdpb::ListTopicsResponse listed;
  s = Call(c.stub(f1), &Stub::ListTopics, mdpb::ListTopicsRequest(), &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(listed.topics_size(), 2);
  EXPECT_EQ(listed.topics(0).name(), "defaults");
  EXPECT_EQ(listed.topics(1).name(), "orders");

  mdpb::AlterTopicConfigRequest alter;
  alter.set_name("orders");
  (*alter.mutable_set())["cleanup.policy"] = "compact";
  alter.add_delete_keys("retention.ms");
  mdpb::AlterTopicConfigResponse altered;
  s = Call(c.stub(f2), &Stub::AlterTopicConfig, alter, &altered);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(altered.topic().effective_configs().at("cleanup.policy"), "compact");
  EXPECT_EQ(altered.topic().effective_configs().at("retention.ms"),
            DefaultTopicConfigs().at("retention.ms"));
  EXPECT_EQ(altered.topic().topic().configs().size(), 1u);

  mdpb::CreatePartitionsRequest grow;
  grow.set_name("orders");
  grow.set_new_total(8);
  mdpb::CreatePartitionsResponse grown;
  s = Call(c.stub(f1), &Stub::CreatePartitions, grow, &grown);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ExpectWellPlaced(grown.topic().topic(), 8, 3);
  for (int i = 0; i < 6; ++i) {  // existing partitions are untouched
    EXPECT_EQ(grown.topic().topic().partitions(i).SerializeAsString(),
              t.partitions(i).SerializeAsString());
  }

  mdpb::DeleteTopicRequest del;
  del.set_name("orders");
  mdpb::DeleteTopicResponse deleted;
  s = Call(c.stub(f2), &Stub::DeleteTopic, del, &deleted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Call(c.stub(f1), &Stub::DescribeTopic, DescribeReq("orders"), &described);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  s = Call(c.stub(leader), &Stub::ListTopics, mdpb::ListTopicsRequest(), &listed);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(listed.topics_size(), 1);
  EXPECT_EQ(listed.topics(0).name(), "defaults");
}

TEST(MetadataServiceTest, ValidationErrorsReachTheClientThroughAForwardingNode) {
  MetadataCluster c(LongSession());
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  Stub& f = c.stub(c.Follower(leader));
  mdpb::CreateTopicResponse created;

  grpc::Status s = Call(f, &Stub::CreateTopic, NewTopic("bad/name", 1, 1), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("illegal character '/'"));

  s = Call(f, &Stub::CreateTopic, NewTopic("", 1, 1), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("topic name is empty"));

  s = Call(f, &Stub::CreateTopic, NewTopic("big", 1, 4), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "replication factor 4 is larger than the 3 live brokers");

  s = Call(f, &Stub::CreateTopic, NewTopic("t", 1, 1, {{"retention.msx", "1"}}), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("unknown topic config key \"retention.msx\""));

  s = Call(f, &Stub::CreateTopic, NewTopic("t", 1, 1, {{"cleanup.policy", "shred"}}), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cleanup.policy"));

  s = Call(f, &Stub::CreateTopic, NewTopic("t", -2, 1), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("partitions must be in 1..10000, got -2"));

  s = Call(f, &Stub::CreateTopic, NewTopic("t", 2, 2), &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Call(f, &Stub::CreateTopic, NewTopic("t", 2, 2), &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(s.error_message(), "topic \"t\" already exists");

  mdpb::DescribeTopicResponse described;
  s = Call(f, &Stub::DescribeTopic, DescribeReq("nope"), &described);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nope"));

  mdpb::DeleteTopicRequest del;
  del.set_name("nope");
  mdpb::DeleteTopicResponse deleted;
  s = Call(f, &Stub::DeleteTopic, del, &deleted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("unknown topic \"nope\""));

  mdpb::CreatePartitionsRequest shrink;
  shrink.set_name("t");
  shrink.set_new_total(1);
  mdpb::CreatePartitionsResponse grown;
  s = Call(f, &Stub::CreatePartitions, shrink, &grown);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("has 2 partitions; the new count 1 must be greater"));

  mdpb::AlterTopicConfigRequest alter;
  alter.set_name("t");
  (*alter.mutable_set())["segment.bytes"] = "12";
  mdpb::AlterTopicConfigResponse altered;
  s = Call(f, &Stub::AlterTopicConfig, alter, &altered);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("segment.bytes"));
  alter.clear_set();
  alter.add_delete_keys("colour");
  s = Call(f, &Stub::AlterTopicConfig, alter, &altered);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("unknown topic config key \"colour\""));

  mdpb::AllocateProducerIdsRequest pids;
  pids.set_count(0);
  mdpb::AllocateProducerIdsResponse block;
  s = Call(f, &Stub::AllocateProducerIds, pids, &block);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Nothing of the rejected requests was created.
  mdpb::ListTopicsResponse listed;
  ASSERT_TRUE(Call(f, &Stub::ListTopics, mdpb::ListTopicsRequest(), &listed).ok());
  ASSERT_EQ(listed.topics_size(), 1);
  EXPECT_EQ(listed.topics(0).name(), "t");
}

TEST(MetadataServiceTest, AForwardedRequestIsNeverForwardedAgain) {
  MetadataCluster c(LongSession());
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  const uint64_t f = c.Follower(leader);
  mdpb::ListBrokersResponse brokers;
  std::string trailer;
  grpc::Status s = Call(c.stub(f), &Stub::ListBrokers, mdpb::ListBrokersRequest(), &brokers,
                        /*forwarded=*/true, &trailer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), absl::StrFormat("not the metadata leader; leader is %d at %s",
                                               leader, c.address(leader)));
  EXPECT_EQ(trailer, c.address(leader));
  // The leader itself answers a forwarded request.
  s = Call(c.stub(leader), &Stub::ListBrokers, mdpb::ListBrokersRequest(), &brokers,
           /*forwarded=*/true);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(brokers.metadata_leader(), leader);
  ASSERT_EQ(brokers.brokers_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(brokers.brokers(i).node_id(), static_cast<uint64_t>(i + 1));
    EXPECT_FALSE(brokers.brokers(i).fenced());
    EXPECT_EQ(brokers.brokers(i).addresses(0), c.address(i + 1));
    EXPECT_EQ(brokers.heartbeat_age_ms().count(i + 1), 1u);
  }
  // A call without a deadline gets the default one (and is forwarded).
  {
    grpc::ClientContext ctx;
    mdpb::ListTopicsResponse listed;
    s = c.stub(f).ListTopics(&ctx, mdpb::ListTopicsRequest(), &listed);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  // In-process calls forward too, and say where the leader is otherwise.
  MetadataCallOptions forwarded;
  forwarded.forwarded = true;
  auto r = c.svc(f).ListBrokers(mdpb::ListBrokersRequest(), forwarded);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  r = c.svc(f).ListBrokers(mdpb::ListBrokersRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->brokers_size(), 3);
}

TEST(MetadataServiceTest, NoLeaderIsUnavailable) {
  MetadataCluster c(LongSession(), /*started=*/1);  // 1 of 3 voters: no quorum
  std::this_thread::sleep_for(300ms);               // several election timeouts
  mdpb::ListTopicsResponse listed;
  grpc::Status s = Call(c.stub(1), &Stub::ListTopics, mdpb::ListTopicsRequest(), &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "metadata leader unknown (election in progress?)");
  mdpb::RegisterBrokerRequest reg;
  reg.set_node_id(1);
  reg.add_addresses(c.address(1));
  EXPECT_EQ(c.svc(1).RegisterBroker(reg).status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetadataServiceTest, SilentBrokersAreFencedAndUnfencedByTheirHeartbeat) {
  ControllerOptions o;
  o.session_timeout = 400ms;
  o.check_period = 20ms;
  MetadataCluster c(o);
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  std::map<uint64_t, uint64_t> epochs = c.RegisterAll();
  ASSERT_EQ(epochs.size(), 3u);
  // Sent through the broker's own node (in-process, forwarded if needed).
  auto heartbeat = [&](uint64_t id, uint64_t epoch, uint64_t via = 0) {
    mdpb::BrokerHeartbeatRequest hb;
    hb.set_node_id(id);
    hb.set_broker_epoch(epoch);
    return c.svc(via == 0 ? id : via).BrokerHeartbeat(hb);
  };
  auto fenced = [&]() {
    std::map<uint64_t, bool> out;
    auto r = c.svc(leader).ListBrokers(mdpb::ListBrokersRequest());
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      for (const mdpb::Broker& b : r->brokers()) out[b.node_id()] = b.fenced();
    }
    return out;
  };
  // Broker 1 keeps heartbeating (through its own node); 2 and 3 go silent.
  const std::map<uint64_t, bool> want = {{1, false}, {2, true}, {3, true}};
  ASSERT_TRUE(WaitFor(
      [&] {
        auto hb = heartbeat(1, epochs[1]);
        EXPECT_TRUE(hb.ok()) << hb.status();
        if (hb.ok()) {
          EXPECT_FALSE(hb->unfenced());
        }
        std::this_thread::sleep_for(50ms);
        return fenced() == want;
      },
      5s));
  // With 1 live broker a replication factor of 3 cannot be placed.
  auto t = c.svc(1).CreateTopic(NewTopic("t", 1, 3));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(t.status().message()),
            "replication factor 3 is larger than the 1 live broker");

  // Broker 2's heartbeat unfences it.
  auto hb = heartbeat(2, epochs[2]);
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_TRUE(hb->unfenced());
  EXPECT_FALSE(hb->broker().fenced());
  EXPECT_EQ(hb->broker().epoch(), epochs[2]);
  EXPECT_EQ(hb->metadata_leader(), leader);
  EXPECT_EQ(hb->session_timeout_ms(), 400);
  EXPECT_FALSE(fenced().at(2));
  t = c.svc(2).CreateTopic(NewTopic("t", 1, 3));
  EXPECT_EQ(std::string(t.status().message()),
            "replication factor 3 is larger than the 2 live brokers");
  t = c.svc(3).CreateTopic(NewTopic("t", 4, 2));
  ASSERT_TRUE(t.ok()) << t.status();
  for (const mdpb::Partition& p : t->topic().topic().partitions()) {
    for (uint64_t r : p.replicas()) EXPECT_NE(r, 3u) << "placed on fenced broker 3";
  }
  hb = heartbeat(2, epochs[2]);
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_FALSE(hb->unfenced());

  // Unknown broker and stale epoch: told to register (again).
  hb = heartbeat(9, 0, /*via=*/1);
  EXPECT_EQ(hb.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(hb.status().message(), HasSubstr("broker 9 is not registered"));
  mdpb::RegisterBrokerRequest reg;
  reg.set_node_id(3);
  reg.add_addresses(c.address(3));
  auto again = c.svc(3).RegisterBroker(reg);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GT(again->broker().epoch(), epochs[3]);
  EXPECT_FALSE(again->broker().fenced());  // registering unfences
  hb = heartbeat(3, epochs[3]);
  EXPECT_EQ(hb.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(hb.status().message(), HasSubstr("register again"));
  // Over gRPC at a follower the same answer comes back (forwarded).
  mdpb::BrokerHeartbeatRequest stale;
  stale.set_node_id(3);
  stale.set_broker_epoch(epochs[3]);
  mdpb::BrokerHeartbeatResponse resp;
  grpc::Status s = Call(c.stub(c.Follower(leader)), &Stub::BrokerHeartbeat, stale, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  hb = heartbeat(3, again->broker().epoch());
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_EQ(fenced(), (std::map<uint64_t, bool>{{1, false}, {2, false}, {3, false}}));
}

TEST(MetadataServiceTest, ANewLeaderGivesEveryBrokerAFullSessionOfGrace) {
  ControllerOptions o;
  o.session_timeout = 600ms;
  o.check_period = 20ms;
  MetadataCluster c(o);
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  std::map<uint64_t, uint64_t> epochs = c.RegisterAll();
  const uint64_t next = c.Follower(leader);
  // Everyone heartbeats until just before the hand-off, then goes silent.
  for (int round = 0; round < 3; ++round) {
    for (uint64_t id = 1; id <= 3; ++id) {
      mdpb::BrokerHeartbeatRequest hb;
      hb.set_node_id(id);
      hb.set_broker_epoch(epochs[id]);
      ASSERT_TRUE(c.svc(id).BrokerHeartbeat(hb).ok());
    }
    std::this_thread::sleep_for(100ms);
  }
  const auto handoff = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.node(leader)->TransferLeader(kMetadataGroup, raft::NodeId(next)).ok());
  ASSERT_TRUE(WaitFor([&] { return c.node(next)->FindGroup(kMetadataGroup)->is_leader(); }));
  // The new leader never heard from anyone, yet fences nobody for a session.
  bool all_fenced = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = c.svc(next).ListBrokers(mdpb::ListBrokersRequest());
        const auto answered = std::chrono::steady_clock::now();
        EXPECT_TRUE(r.ok()) << r.status();
        if (!r.ok()) return false;
        int fenced = 0;
        for (const mdpb::Broker& b : r->brokers()) fenced += b.fenced() ? 1 : 0;
        if (fenced > 0) {
          EXPECT_GE(answered - handoff, 600ms) << "fenced before a full session of grace";
        }
        all_fenced = fenced == 3;
        std::this_thread::sleep_for(20ms);
        return all_fenced;
      },
      5s));
  EXPECT_TRUE(all_fenced);
}

TEST(MetadataServiceTest, OffsetsCommitAndFetchAndProducerIdBlocks) {
  MetadataCluster c(LongSession());
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  const uint64_t f1 = c.Follower(leader, 0), f2 = c.Follower(leader, 1);
  ASSERT_TRUE(c.svc(f1).CreateTopic(NewTopic("t1", 3, 2)).ok());
  ASSERT_TRUE(c.svc(f2).CreateTopic(NewTopic("t2", 1, 1)).ok());

  auto entry = [](mdpb::CommitOffsetsRequest& req, const std::string& topic, int32_t p,
                  int64_t offset, const std::string& meta = "") {
    mdpb::OffsetCommitEntry* e = req.add_entries();
    e->set_topic(topic);
    e->set_partition(p);
    e->set_offset(offset);
    e->set_metadata(meta);
  };
  mdpb::CommitOffsetsRequest commit;
  commit.set_group("billing");
  commit.set_generation(4);
  entry(commit, "t1", 0, 5, "m");
  entry(commit, "t1", 2, 7);
  entry(commit, "t2", 0, 1);
  // Commits come from the group coordinator, in-process on the metadata
  // leader (there is no commit RPC); reads go through any node.
  auto commit_on_leader = [&](const mdpb::CommitOffsetsRequest& req) {
    return c.svc(leader).controller().CommitOffsets(req, std::chrono::system_clock::now() + 10s);
  };
  auto committed = commit_on_leader(commit);
  ASSERT_TRUE(committed.ok()) << committed.status();

  mdpb::FetchOffsetsRequest fetch;
  fetch.set_group("billing");
  mdpb::FetchOffsetsResponse fetched;
  grpc::Status s = Call(c.stub(f2), &Stub::FetchOffsets, fetch, &fetched);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(fetched.offsets_size(), 3);
  EXPECT_EQ(fetched.offsets(0).topic(), "t1");
  EXPECT_EQ(fetched.offsets(0).partition(), 0);
  EXPECT_EQ(fetched.offsets(0).offset(), 5);
  EXPECT_EQ(fetched.offsets(0).metadata(), "m");
  EXPECT_EQ(fetched.offsets(0).generation(), 4);
  EXPECT_GT(fetched.offsets(0).commit_time_ms(), 1600000000000);
  EXPECT_EQ(fetched.offsets(1).partition(), 2);
  EXPECT_EQ(fetched.offsets(1).offset(), 7);
  EXPECT_EQ(fetched.offsets(2).topic(), "t2");

  fetch.add_topics("t2");
  s = Call(c.stub(leader), &Stub::FetchOffsets, fetch, &fetched);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(fetched.offsets_size(), 1);
  EXPECT_EQ(fetched.offsets(0).offset(), 1);

  // A newer commit replaces; a commit naming an unknown partition changes nothing.
  mdpb::CommitOffsetsRequest newer;
  newer.set_group("billing");
  newer.set_generation(5);
  entry(newer, "t2", 0, 9);
  ASSERT_TRUE(commit_on_leader(newer).ok());
  mdpb::CommitOffsetsRequest bad;
  bad.set_group("billing");
  entry(bad, "t2", 0, 100);
  entry(bad, "t1", 3, 1);
  committed = commit_on_leader(bad);
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(committed.status().message()),
              HasSubstr("topic \"t1\" has no partition 3"));
  auto after = c.svc(f1).FetchOffsets(fetch);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->offsets_size(), 1);
  EXPECT_EQ(after->offsets(0).offset(), 9);
  EXPECT_EQ(after->offsets(0).generation(), 5);

  mdpb::FetchOffsetsRequest none;
  none.set_group("nobody");
  auto empty = c.svc(f1).FetchOffsets(none);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->offsets_size(), 0);

  // Producer-id blocks from different nodes never overlap.
  int64_t next = -1;
  for (uint64_t id = 1; id <= 3; ++id) {
    mdpb::AllocateProducerIdsRequest req;
    req.set_count(1000);
    auto b = c.svc(id).AllocateProducerIds(req);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->block().count(), 1000);
    if (next >= 0) {
      EXPECT_EQ(b->block().first(), next);
    }
    next = b->block().first() + 1000;
  }
}

TEST(MetadataServiceTest, ReadsThroughAnyNodeSeeWritesAcknowledgedByAnother) {
  MetadataCluster c(LongSession());
  ASSERT_NE(c.WaitForLeader(), 0u);
  c.RegisterAll();
  for (int i = 0; i < 9; ++i) {
    const uint64_t writer = i % 3 + 1, reader = (i + 1) % 3 + 1, lister = (i + 2) % 3 + 1;
    const std::string name = absl::StrFormat("lin-%d", i);
    mdpb::CreateTopicResponse created;
    grpc::Status s = Call(c.stub(writer), &Stub::CreateTopic, NewTopic(name, 2, 3), &created);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // At once, through another node: the write is visible.
    mdpb::DescribeTopicResponse described;
    s = Call(c.stub(reader), &Stub::DescribeTopic, DescribeReq(name), &described);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    EXPECT_EQ(described.topic().topic().topic_id(), created.topic().topic().topic_id());
    auto listed = c.svc(lister).ListTopics(mdpb::ListTopicsRequest());
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_EQ(listed->topics_size(), i + 1);
  }
  // Topic ids are distinct.
  auto listed = c.svc(1).ListTopics(mdpb::ListTopicsRequest());
  ASSERT_TRUE(listed.ok());
  std::set<std::string> ids;
  for (const mdpb::Topic& t : listed->topics()) ids.insert(t.topic_id());
  EXPECT_EQ(ids.size(), 9u);
}

TEST(MetadataServiceTest, ServiceContinuesAfterTheLeaderDies) {
  MetadataCluster c(LongSession());
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  ASSERT_TRUE(c.svc(leader).CreateTopic(NewTopic("before", 3, 3)).ok());
  c.Kill(leader);
  const uint64_t survivor = leader == 1 ? 2 : 1;
  // Clients retry UNAVAILABLE (no leader yet) with a back-off; bounded here.
  absl::StatusOr<mdpb::CreateTopicResponse> r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = c.svc(survivor).CreateTopic(NewTopic("after", 1, 2));
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
          std::this_thread::sleep_for(20ms);
        }
        return r.ok();
      },
      10s))
      << r.status();
  mdpb::ListTopicsResponse listed;
  grpc::Status s =
      Call(c.stub(c.Follower(leader, 1)), &Stub::ListTopics, mdpb::ListTopicsRequest(), &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(listed.topics_size(), 2);
  EXPECT_EQ(listed.topics(0).name(), "after");
  EXPECT_EQ(listed.topics(1).name(), "before");
}

}  // namespace
}  // namespace raftlog::broker
