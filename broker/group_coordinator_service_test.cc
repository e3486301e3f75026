// GroupCoordinatorService end to end: three in-process Nodes hosting the
// metadata group (LocalCluster's router), each serving MetadataService and
// GroupCoordinatorService on one real gRPC server on 127.0.0.1:<ephemeral>.
// Clients talk to FOLLOWERS, so every call is forwarded to the coordinator
// on the metadata leader. Checks: join of one then two members (long-poll
// join, generations, disjoint covering assignments), generation-fenced
// commits and fetch, describe with lag from an injected high-watermark
// function, list, leave, delete (with the committed offsets; refused with
// members; waits for commits already fenced, refusing new ones meanwhile);
// groups that only have committed offsets listed and described as EMPTY,
// also by a new coordinator after a failover; session expiry; a
// CreatePartitions rebalancing the group; a coordinator failover (leader killed: members get
// UNKNOWN_MEMBER_ID, rejoin, and committed offsets survive); the
// forwarded-once rule with the leader-address trailer.
#include "broker/group_coordinator_service.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
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
using GroupStub = apipb::GroupCoordinator::Stub;

// Three nodes, each with MetadataService + GroupCoordinatorService on one server.
class GroupCluster {
 public:
  GroupCluster() {
    c_.Tweak([this](NodeOptions& o) {
      o.sync = false;
      testing::HostMetadataGroup(o, states_);
    });
    for (uint64_t id = 1; id <= 3; ++id) Start(id);
  }
  ~GroupCluster() {
    for (uint64_t id = 1; id <= 3; ++id) Kill(id);
  }

  void Start(uint64_t id) {
    states_[id] = nullptr;
    c_.Start(id);
    ASSERT_NE(states_[id], nullptr);
    MetadataServiceOptions mo;
    mo.controller.session_timeout = 60s;
    auto md = std::make_unique<MetadataService>(c_.node(id).get(), states_[id], mo);
    GroupCoordinatorServiceOptions go;
    go.coordinator.min_session_timeout = 100ms;
    go.tick_period = 20ms;
    go.topic_refresh_period = 100ms;
    go.before_commit_write = [this](const std::string& group) {
      std::function<void(const std::string&)> hook;
      {
        std::lock_guard<std::mutex> l(hook_mu_);
        hook = commit_hook_;
      }
      if (hook) hook(group);
    };
    go.high_watermarks = [](const std::vector<PartitionKey>& parts, Deadline) {
      std::map<PartitionKey, int64_t> out;
      for (const PartitionKey& k : parts) {
        if (k.second != 5) out[k] = 100 + k.second;  // partition 5: unknown
      }
      return absl::StatusOr<std::map<PartitionKey, int64_t>>(out);
    };
    auto groups = std::make_unique<GroupCoordinatorService>(c_.node(id).get(), md.get(), go);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(md.get());
    b.RegisterService(groups.get());
    std::unique_ptr<grpc::Server> server = b.BuildAndStart();
    ASSERT_NE(server, nullptr);
    addresses_[id] = absl::StrFormat("127.0.0.1:%d", port);
    for (auto& [other, m] : members_) {
      m.md->SetPeerAddress(raft::NodeId(id), addresses_[id]);
      m.groups->SetPeerAddress(raft::NodeId(id), addresses_[id]);
      md->SetPeerAddress(raft::NodeId(other), addresses_[other]);
      groups->SetPeerAddress(raft::NodeId(other), addresses_[other]);
    }
    md->SetPeerAddress(raft::NodeId(id), addresses_[id]);
    groups->SetPeerAddress(raft::NodeId(id), addresses_[id]);
    Member& m = members_[id];
    m.md = std::move(md);
    m.groups = std::move(groups);
    m.server = std::move(server);
    m.stub = apipb::GroupCoordinator::NewStub(
        grpc::CreateChannel(addresses_[id], grpc::InsecureChannelCredentials()));
  }

  // Crash-like: the server and services go, then the node stops.
  void Kill(uint64_t id) {
    auto it = members_.find(id);
    if (it != members_.end()) {
      it->second.groups->Shutdown();
      it->second.server->Shutdown(std::chrono::system_clock::now() + 1s);
      it->second.server.reset();
      it->second.groups.reset();
      it->second.md.reset();
      members_.erase(it);
    }
    c_.Kill(id);
  }

  // Runs in every fenced OffsetCommit just before its metadata write.
  void SetCommitHook(std::function<void(const std::string&)> hook) {
    std::lock_guard<std::mutex> l(hook_mu_);
    commit_hook_ = std::move(hook);
  }

  GroupStub& stub(uint64_t id) { return *members_.at(id).stub; }
  MetadataService& md(uint64_t id) { return *members_.at(id).md; }
  GroupCoordinatorService& groups(uint64_t id) { return *members_.at(id).groups; }
  uint64_t WaitForLeader() { return c_.WaitForLeader(kMetadataGroup); }
  uint64_t Follower(uint64_t leader, int which = 0) {
    std::vector<uint64_t> f;
    for (uint64_t id = 1; id <= 3; ++id) {
      if (id != leader && members_.count(id)) f.push_back(id);
    }
    return f.at(which);
  }
  void RegisterAll() {
    for (uint64_t id = 1; id <= 3; ++id) {
      mdpb::RegisterBrokerRequest req;
      req.set_node_id(id);
      req.add_addresses(addresses_.at(id));
      auto r = md(id).RegisterBroker(req);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  void CreateTopic(const std::string& name, int32_t partitions) {
    mdpb::CreateTopicRequest req;
    req.set_name(name);
    req.set_partitions(partitions);
    req.set_replication_factor(1);
    auto r = md(members_.begin()->first).CreateTopic(req);
    ASSERT_TRUE(r.ok()) << r.status();
  }

 private:
  struct Member {
    std::unique_ptr<MetadataService> md;
    std::unique_ptr<GroupCoordinatorService> groups;
    std::unique_ptr<grpc::Server> server;
    std::unique_ptr<GroupStub> stub;
  };
  std::mutex hook_mu_;
  std::function<void(const std::string&)> commit_hook_;  // guarded by hook_mu_
  LocalCluster c_{3};
  std::map<uint64_t, MetadataStateMachine*> states_;
  std::map<uint64_t, std::string> addresses_;
  std::map<uint64_t, Member> members_;
};

// A unary call with a deadline; `trailer` receives the leader-address trailer.
template <typename Req, typename Resp>
grpc::Status Call(GroupStub& stub,
                  grpc::Status (GroupStub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp, std::chrono::milliseconds timeout = 10s,
                  bool forwarded = false, std::string* trailer = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
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

apipb::JoinGroupResponse Join(GroupStub& stub, const std::string& member_id,
                              int32_t session_ms = 5000,
                              std::vector<std::string> topics = {"orders"},
                              std::chrono::milliseconds timeout = 10s) {
  apipb::JoinGroupRequest req;
  req.set_group_id("billing");
  req.set_member_id(member_id);
  req.set_client_id("consumer");
  for (const auto& t : topics) req.add_topics(t);
  req.add_assignors("range");
  req.set_session_timeout_ms(session_ms);
  req.set_rebalance_timeout_ms(5000);
  apipb::JoinGroupResponse resp;
  grpc::Status s = Call(stub, &GroupStub::JoinGroup, req, &resp, timeout);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

apipb::ErrorCode Heartbeat(GroupStub& stub, const std::string& member, int32_t generation) {
  apipb::HeartbeatRequest req;
  req.set_group_id("billing");
  req.set_member_id(member);
  req.set_generation(generation);
  apipb::HeartbeatResponse resp;
  grpc::Status s = Call(stub, &GroupStub::Heartbeat, req, &resp);
  if (!s.ok()) return apipb::NODE_UNAVAILABLE;  // transport-level: retry
  return resp.error();
}

std::vector<int32_t> Sync(GroupStub& stub, const std::string& member, int32_t generation) {
  apipb::SyncGroupRequest req;
  req.set_group_id("billing");
  req.set_member_id(member);
  req.set_generation(generation);
  apipb::SyncGroupResponse resp;
  grpc::Status s = Call(stub, &GroupStub::SyncGroup, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.error(), apipb::ERROR_NONE) << resp.error_message();
  std::vector<int32_t> parts;
  for (const auto& tp : resp.assignment()) {
    EXPECT_EQ(tp.topic(), "orders");
    parts.insert(parts.end(), tp.partitions().begin(), tp.partitions().end());
  }
  return parts;
}

apipb::OffsetCommitResponse Commit(GroupStub& stub, const std::string& member, int32_t generation,
                                   std::map<int32_t, int64_t> offsets,
                                   const std::string& group = "billing") {
  apipb::OffsetCommitRequest req;
  req.set_group_id(group);
  req.set_member_id(member);
  req.set_generation(generation);
  for (const auto& [p, o] : offsets) {
    auto* e = req.add_offsets();
    e->set_topic("orders");
    e->set_partition(p);
    e->set_offset(o);
  }
  apipb::OffsetCommitResponse resp;
  grpc::Status s = Call(stub, &GroupStub::OffsetCommit, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

std::map<int32_t, int64_t> Fetch(GroupStub& stub, const std::string& group = "billing") {
  apipb::OffsetFetchRequest req;
  req.set_group_id(group);
  apipb::OffsetFetchResponse resp;
  grpc::Status s = Call(stub, &GroupStub::OffsetFetch, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::map<int32_t, int64_t> out;
  for (const auto& o : resp.offsets()) out[o.partition()] = o.offset();
  return out;
}

apipb::DeleteGroupResponse DeleteGroup(GroupStub& stub, const std::string& group,
                                       std::chrono::milliseconds timeout = 10s) {
  apipb::DeleteGroupRequest req;
  req.set_group_id(group);
  apipb::DeleteGroupResponse resp;
  grpc::Status s = Call(stub, &GroupStub::DeleteGroup, req, &resp, timeout);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

apipb::DescribeGroupResponse DescribeGroup(GroupStub& stub, const std::string& group) {
  apipb::DescribeGroupRequest req;
  req.set_group_id(group);
  apipb::DescribeGroupResponse resp;
  grpc::Status s = Call(stub, &GroupStub::DescribeGroup, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

// ListGroups, by group id.
std::map<std::string, apipb::GroupListing> ListGroups(GroupStub& stub) {
  apipb::ListGroupsResponse resp;
  grpc::Status s = Call(stub, &GroupStub::ListGroups, apipb::ListGroupsRequest(), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.error(), apipb::ERROR_NONE) << resp.error_message();
  std::map<std::string, apipb::GroupListing> out;
  for (const apipb::GroupListing& g : resp.groups()) out[g.group_id()] = g;
  return out;
}

TEST(GroupCoordinatorServiceTest, GroupLifecycleThroughFollowers) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  c.CreateTopic("orders", 6);
  GroupStub& s1 = c.stub(c.Follower(leader, 0));
  GroupStub& s2 = c.stub(c.Follower(leader, 1));

  apipb::JoinGroupResponse a = Join(s1, "");
  ASSERT_EQ(a.error(), apipb::ERROR_NONE) << a.error_message();
  EXPECT_EQ(a.generation(), 1);
  EXPECT_EQ(a.leader_id(), a.member_id());
  EXPECT_EQ(a.assignor(), "range");
  EXPECT_EQ(Sync(s1, a.member_id(), 1), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(Commit(s1, a.member_id(), 1, {{0, 7}, {1, 9}}).error(), apipb::ERROR_NONE);

  // B's join waits (long poll) until A rejoins.
  auto b_future = std::async(std::launch::async, [&] { return Join(s2, ""); });
  ASSERT_TRUE(
      WaitFor([&] { return Heartbeat(s1, a.member_id(), 1) == apipb::REBALANCE_IN_PROGRESS; }));
  EXPECT_EQ(b_future.wait_for(0ms), std::future_status::timeout);
  // Before rejoining, A may still commit for generation 1.
  EXPECT_EQ(Commit(s1, a.member_id(), 1, {{0, 8}}).error(), apipb::ERROR_NONE);
  apipb::JoinGroupResponse a2 = Join(s1, a.member_id());
  apipb::JoinGroupResponse b = b_future.get();
  ASSERT_EQ(a2.error(), apipb::ERROR_NONE) << a2.error_message();
  ASSERT_EQ(b.error(), apipb::ERROR_NONE) << b.error_message();
  EXPECT_EQ(a2.generation(), 2);
  EXPECT_EQ(b.generation(), 2);
  EXPECT_EQ(b.members_size(), 2);
  std::vector<int32_t> pa = Sync(s1, a.member_id(), 2);
  std::vector<int32_t> pb = Sync(s2, b.member_id(), 2);
  EXPECT_EQ(pa.size(), 3u);
  EXPECT_EQ(pb.size(), 3u);
  std::set<int32_t> all(pa.begin(), pa.end());
  all.insert(pb.begin(), pb.end());
  EXPECT_EQ(all, (std::set<int32_t>{0, 1, 2, 3, 4, 5}));

  // Fencing: generation 1 is over.
  EXPECT_EQ(Commit(s1, a.member_id(), 1, {{0, 10}}).error(), apipb::ILLEGAL_GENERATION);
  EXPECT_EQ(Commit(s2, b.member_id(), 2, {{pb[0], 42}}).error(), apipb::ERROR_NONE);
  EXPECT_EQ(Commit(s2, b.member_id(), 2, {{99, 1}}).error(), apipb::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(Commit(s2, "", -1, {{0, 1}}).error(), apipb::UNKNOWN_MEMBER_ID);  // group active
  std::map<int32_t, int64_t> committed = Fetch(s2);
  EXPECT_EQ(committed[1], 9);
  EXPECT_EQ(committed[pb[0]], 42);

  // Describe (through a follower) with lag from the fake high watermarks.
  apipb::DescribeGroupRequest dreq;
  dreq.set_group_id("billing");
  apipb::DescribeGroupResponse d;
  ASSERT_TRUE(Call(s2, &GroupStub::DescribeGroup, dreq, &d).ok());
  EXPECT_EQ(d.state(), apipb::GROUP_STATE_STABLE);
  EXPECT_EQ(d.generation(), 2);
  EXPECT_EQ(d.assignor(), "range");
  ASSERT_EQ(d.members_size(), 2);
  EXPECT_EQ(d.members(0).client_id(), "consumer");
  EXPECT_THAT(d.members(0).host(), HasSubstr("127.0.0.1"));
  EXPECT_EQ(d.members(0).assignment_size(), 1);
  ASSERT_EQ(d.offsets_size(), 6);  // every assigned partition
  for (const auto& row : d.offsets()) {
    EXPECT_FALSE(row.member_id().empty());
    if (row.partition() == 5) {
      EXPECT_EQ(row.lag(), -1);  // high watermark unknown
    } else if (committed.count(row.partition())) {
      EXPECT_EQ(row.committed_offset(), committed[row.partition()]);
      EXPECT_EQ(row.lag(), 100 + row.partition() - committed[row.partition()]);
    } else {
      EXPECT_EQ(row.committed_offset(), -1);
      EXPECT_EQ(row.lag(), -1);
    }
  }

  apipb::ListGroupsResponse l;
  ASSERT_TRUE(Call(s1, &GroupStub::ListGroups, apipb::ListGroupsRequest(), &l).ok());
  ASSERT_EQ(l.groups_size(), 1);
  EXPECT_EQ(l.groups(0).group_id(), "billing");
  EXPECT_EQ(l.groups(0).members(), 2);

  apipb::DeleteGroupRequest del;
  del.set_group_id("billing");
  apipb::DeleteGroupResponse dr;
  ASSERT_TRUE(Call(s1, &GroupStub::DeleteGroup, del, &dr).ok());
  EXPECT_EQ(dr.error(), apipb::NON_EMPTY_GROUP);

  // Leave: A rebalances at once, then gets everything.
  apipb::LeaveGroupRequest leave;
  leave.set_group_id("billing");
  leave.set_member_id(b.member_id());
  apipb::LeaveGroupResponse lr;
  ASSERT_TRUE(Call(s2, &GroupStub::LeaveGroup, leave, &lr).ok());
  EXPECT_EQ(lr.error(), apipb::ERROR_NONE);
  EXPECT_EQ(Heartbeat(s1, a.member_id(), 2), apipb::REBALANCE_IN_PROGRESS);
  apipb::JoinGroupResponse a3 = Join(s1, a.member_id());
  EXPECT_EQ(a3.generation(), 3);
  EXPECT_EQ(Sync(s1, a.member_id(), 3).size(), 6u);
  leave.set_member_id(a.member_id());
  ASSERT_TRUE(Call(s1, &GroupStub::LeaveGroup, leave, &lr).ok());
  // Empty now: simple-consumer commits are allowed, and the group can go,
  // with its committed offsets.
  EXPECT_EQ(Commit(s1, "", -1, {{2, 5}}).error(), apipb::ERROR_NONE);
  ASSERT_TRUE(Call(s1, &GroupStub::DeleteGroup, del, &dr).ok());
  EXPECT_EQ(dr.error(), apipb::ERROR_NONE) << dr.error_message();
  EXPECT_TRUE(Fetch(s2).empty());
  ASSERT_TRUE(Call(s2, &GroupStub::DescribeGroup, dreq, &d).ok());
  EXPECT_EQ(d.state(), apipb::GROUP_STATE_DEAD);
  EXPECT_EQ(d.members_size(), 0);
  EXPECT_EQ(d.offsets_size(), 0);
  EXPECT_EQ(ListGroups(s2).count("billing"), 0u);
  // The old members and generations stay fenced: nothing comes back.
  EXPECT_EQ(Commit(s1, a.member_id(), 3, {{0, 1}}).error(), apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Commit(s1, "", 3, {{0, 1}}).error(), apipb::ILLEGAL_GENERATION);
  EXPECT_TRUE(Fetch(s2).empty());
  EXPECT_EQ(DeleteGroup(s2, "billing").error(), apipb::GROUP_ID_NOT_FOUND);
  // A new group of the same name starts again at generation 1.
  apipb::JoinGroupResponse fresh = Join(s1, "");
  ASSERT_EQ(fresh.error(), apipb::ERROR_NONE) << fresh.error_message();
  EXPECT_EQ(fresh.generation(), 1);
  EXPECT_NE(fresh.member_id(), a.member_id());
}

TEST(GroupCoordinatorServiceTest, OffsetsOnlyGroupsAreListedDescribedAndDeleted) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  c.CreateTopic("orders", 3);
  GroupStub& s = c.stub(c.Follower(leader));
  // Manual assignment + commit: the coordinator never sees a member.
  ASSERT_EQ(Commit(s, "", -1, {{0, 40}, {1, 60}}, "manual").error(), apipb::ERROR_NONE);
  std::map<std::string, apipb::GroupListing> listed = ListGroups(s);
  ASSERT_EQ(listed.count("manual"), 1u);
  EXPECT_EQ(listed["manual"].state(), apipb::GROUP_STATE_EMPTY);
  EXPECT_EQ(listed["manual"].members(), 0);
  EXPECT_EQ(listed["manual"].generation(), 0);

  apipb::DescribeGroupResponse d = DescribeGroup(s, "manual");
  EXPECT_EQ(d.error(), apipb::ERROR_NONE) << d.error_message();
  EXPECT_EQ(d.state(), apipb::GROUP_STATE_EMPTY);
  EXPECT_EQ(d.members_size(), 0);
  ASSERT_EQ(d.offsets_size(), 2);
  EXPECT_EQ(d.offsets(0).partition(), 0);
  EXPECT_EQ(d.offsets(0).committed_offset(), 40);
  EXPECT_EQ(d.offsets(0).high_watermark(), 100);
  EXPECT_EQ(d.offsets(0).lag(), 60);
  EXPECT_EQ(d.offsets(1).lag(), 101 - 60);
  EXPECT_TRUE(d.offsets(1).member_id().empty());

  // A group known in memory and from its commits is listed once, from memory.
  apipb::JoinGroupResponse a = Join(s, "");
  ASSERT_EQ(a.error(), apipb::ERROR_NONE) << a.error_message();
  EXPECT_EQ(Sync(s, a.member_id(), 1).size(), 3u);
  ASSERT_EQ(Commit(s, a.member_id(), 1, {{2, 7}}).error(), apipb::ERROR_NONE);
  listed = ListGroups(s);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed["billing"].state(), apipb::GROUP_STATE_STABLE);
  EXPECT_EQ(listed["billing"].members(), 1);

  // The new coordinator after a failover holds no group in memory, but
  // lists both from their committed offsets.
  c.Kill(leader);
  const uint64_t next = c.WaitForLeader();
  ASSERT_NE(next, 0u);
  GroupStub& t = c.stub(next);
  ASSERT_TRUE(WaitFor([&] {
    apipb::ListGroupsResponse l;
    return Call(t, &GroupStub::ListGroups, apipb::ListGroupsRequest(), &l).ok() &&
           l.groups_size() == 2;
  }));
  listed = ListGroups(t);
  EXPECT_EQ(listed["billing"].state(), apipb::GROUP_STATE_EMPTY);
  EXPECT_EQ(listed["billing"].members(), 0);
  EXPECT_EQ(listed["billing"].generation(), 1);  // what its commits recorded
  EXPECT_EQ(listed["manual"].state(), apipb::GROUP_STATE_EMPTY);
  d = DescribeGroup(t, "billing");
  EXPECT_EQ(d.state(), apipb::GROUP_STATE_EMPTY);
  EXPECT_EQ(d.generation(), 1);

  // Delete on the new coordinator, which does not hold the groups in
  // memory: their offsets go anyway.
  EXPECT_EQ(DeleteGroup(t, "manual").error(), apipb::ERROR_NONE);
  EXPECT_TRUE(Fetch(t, "manual").empty());
  EXPECT_EQ(DeleteGroup(t, "billing").error(), apipb::ERROR_NONE);
  EXPECT_TRUE(Fetch(t, "billing").empty());
  EXPECT_TRUE(ListGroups(t).empty());
  EXPECT_EQ(DescribeGroup(t, "manual").state(), apipb::GROUP_STATE_DEAD);
  EXPECT_EQ(DeleteGroup(t, "manual").error(), apipb::GROUP_ID_NOT_FOUND);
}

TEST(GroupCoordinatorServiceTest, DeleteWaitsForFencedCommitsAndRefusesNewOnes) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  c.CreateTopic("orders", 2);
  GroupStub& s = c.stub(c.Follower(leader));
  // The first commit to reach the hook is held there (fenced, not written).
  std::mutex mu;
  std::condition_variable cv;
  bool held = false;
  bool release = false;
  c.SetCommitHook([&](const std::string&) {
    std::unique_lock<std::mutex> l(mu);
    if (held) return;
    held = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  auto release_held = [&] {
    std::lock_guard<std::mutex> l(mu);
    release = true;
    cv.notify_all();
  };
  auto held_commit = std::async(std::launch::async, [&] { return Commit(s, "", -1, {{0, 5}}); });
  // Released at the latest when the test ends (a failed ASSERT must not
  // leave held_commit's thread blocked in the hook).
  struct ReleaseAtExit {
    std::function<void()> release;
    ~ReleaseAtExit() { release(); }
  } release_at_exit{release_held};
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 10s, [&] { return held; }));
  }

  // A delete whose deadline comes while the commit is in flight deletes
  // nothing and says why.
  apipb::DeleteGroupResponse timed_out = DeleteGroup(s, "billing", 1500ms);
  EXPECT_EQ(timed_out.error(), apipb::REQUEST_TIMED_OUT);
  EXPECT_THAT(timed_out.error_message(), HasSubstr("in flight"));

  // A delete with time to spare waits; meanwhile the group's commits and
  // joins are refused (retriable); other groups are not affected.
  auto deleted = std::async(std::launch::async, [&] { return DeleteGroup(s, "billing"); });
  ASSERT_TRUE(WaitFor([&] {
    return Commit(s, "", -1, {{1, 9}}).error() == apipb::NOT_COORDINATOR;
  }));
  apipb::JoinGroupResponse j = Join(s, "");
  EXPECT_EQ(j.error(), apipb::NOT_COORDINATOR);
  EXPECT_THAT(j.error_message(), HasSubstr("being deleted"));
  EXPECT_EQ(Commit(s, "", -1, {{1, 3}}, "other").error(), apipb::ERROR_NONE);
  EXPECT_EQ(deleted.wait_for(300ms), std::future_status::timeout);

  release_held();
  EXPECT_EQ(held_commit.get().error(), apipb::ERROR_NONE);
  ASSERT_EQ(deleted.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(deleted.get().error(), apipb::ERROR_NONE);
  // The held commit was ordered before the delete: nothing of it is left.
  EXPECT_TRUE(Fetch(s).empty());
  EXPECT_EQ(Fetch(s, "other").at(1), 3);
  // After the delete, commits are taken again.
  EXPECT_EQ(Commit(s, "", -1, {{1, 11}}).error(), apipb::ERROR_NONE);
  EXPECT_EQ(Fetch(s).at(1), 11);
  c.SetCommitHook(nullptr);
}

TEST(GroupCoordinatorServiceTest, SilentMemberExpiresAndPartitionGrowthRebalances) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  c.CreateTopic("orders", 4);
  GroupStub& s = c.stub(c.Follower(leader));
  apipb::JoinGroupResponse a = Join(s, "", 5000);
  ASSERT_EQ(a.error(), apipb::ERROR_NONE) << a.error_message();
  auto b_future = std::async(std::launch::async, [&] { return Join(s, "", 300); });
  ASSERT_TRUE(
      WaitFor([&] { return Heartbeat(s, a.member_id(), 1) == apipb::REBALANCE_IN_PROGRESS; }));
  apipb::JoinGroupResponse a2 = Join(s, a.member_id(), 5000);
  apipb::JoinGroupResponse b = b_future.get();
  ASSERT_EQ(a2.generation(), 2);
  Sync(s, a.member_id(), 2);
  Sync(s, b.member_id(), 2);
  // b (300 ms session) goes silent; a keeps heartbeating and is told to rejoin.
  ASSERT_TRUE(
      WaitFor([&] { return Heartbeat(s, a.member_id(), 2) == apipb::REBALANCE_IN_PROGRESS; }, 5s));
  EXPECT_EQ(Heartbeat(s, b.member_id(), 2), apipb::UNKNOWN_MEMBER_ID);
  apipb::JoinGroupResponse a3 = Join(s, a.member_id(), 5000);
  EXPECT_EQ(a3.generation(), 3);
  EXPECT_EQ(a3.members_size(), 1);
  EXPECT_EQ(Sync(s, a.member_id(), 3).size(), 4u);

  // Growing the topic rebalances the group.
  mdpb::CreatePartitionsRequest grow;
  grow.set_name("orders");
  grow.set_new_total(6);
  auto g = c.md(leader).CreatePartitions(grow);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(
      WaitFor([&] { return Heartbeat(s, a.member_id(), 3) == apipb::REBALANCE_IN_PROGRESS; }, 5s));
  apipb::JoinGroupResponse a4 = Join(s, a.member_id(), 5000);
  EXPECT_EQ(a4.generation(), 4);
  EXPECT_EQ(Sync(s, a.member_id(), 4).size(), 6u);
}

TEST(GroupCoordinatorServiceTest, CoordinatorFailoverMembersRejoinOffsetsSurvive) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  c.CreateTopic("orders", 3);
  const uint64_t f1 = c.Follower(leader, 0);
  apipb::JoinGroupResponse a = Join(c.stub(f1), "");
  ASSERT_EQ(a.error(), apipb::ERROR_NONE);
  Sync(c.stub(f1), a.member_id(), 1);
  ASSERT_EQ(Commit(c.stub(f1), a.member_id(), 1, {{0, 11}, {2, 22}}).error(), apipb::ERROR_NONE);

  c.Kill(leader);
  // The new coordinator does not know the member: it must rejoin.
  ASSERT_TRUE(WaitFor(
      [&] { return Heartbeat(c.stub(f1), a.member_id(), 1) == apipb::UNKNOWN_MEMBER_ID; }, 10s));
  EXPECT_EQ(Commit(c.stub(f1), a.member_id(), 1, {{0, 12}}).error(), apipb::UNKNOWN_MEMBER_ID);
  apipb::JoinGroupResponse again = Join(c.stub(f1), "");
  ASSERT_EQ(again.error(), apipb::ERROR_NONE) << again.error_message();
  EXPECT_NE(again.member_id(), a.member_id());
  // Generations go on from the one recorded with the committed offsets.
  EXPECT_EQ(again.generation(), 2);
  EXPECT_EQ(Sync(c.stub(f1), again.member_id(), again.generation()).size(), 3u);
  std::map<int32_t, int64_t> committed = Fetch(c.stub(f1));
  EXPECT_EQ(committed[0], 11);
  EXPECT_EQ(committed[2], 22);
}

TEST(GroupCoordinatorServiceTest, WaitingJoinsAreAnsweredAtTheDeadlineAndOnShutdown) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  c.RegisterAll();
  c.CreateTopic("orders", 2);
  GroupStub& s = c.stub(c.Follower(leader));
  apipb::JoinGroupResponse a = Join(s, "");
  ASSERT_EQ(a.error(), apipb::ERROR_NONE);
  Sync(s, a.member_id(), 1);
  // b's join cannot complete (a does not rejoin): with a 1 s deadline it is
  // answered REBALANCE_IN_PROGRESS with its member id, before the deadline.
  const auto start = std::chrono::steady_clock::now();
  apipb::JoinGroupResponse b = Join(s, "", 5000, {"orders"}, 1000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  EXPECT_EQ(b.error(), apipb::REBALANCE_IN_PROGRESS);
  ASSERT_FALSE(b.member_id().empty());
  // Joining again with that id keeps its place: a's rejoin completes both.
  auto b_future = std::async(std::launch::async, [&] { return Join(s, b.member_id(), 5000); });
  apipb::JoinGroupResponse a2 = Join(s, a.member_id());
  apipb::JoinGroupResponse b2 = b_future.get();
  EXPECT_EQ(a2.generation(), 2);
  EXPECT_EQ(b2.error(), apipb::ERROR_NONE) << b2.error_message();
  EXPECT_EQ(b2.member_id(), b.member_id());
  EXPECT_EQ(b2.generation(), 2);
  EXPECT_EQ(b2.members_size(), 2);

  // A join waiting when the coordinator shuts down is answered NOT_COORDINATOR.
  auto c_future = std::async(std::launch::async, [&] { return Join(s, ""); });
  ASSERT_TRUE(
      WaitFor([&] { return Heartbeat(s, a.member_id(), 2) == apipb::REBALANCE_IN_PROGRESS; }));
  c.groups(leader).Shutdown();
  ASSERT_EQ(c_future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(c_future.get().error(), apipb::NOT_COORDINATOR);
}

TEST(GroupCoordinatorServiceTest, ForwardedCallsAreNotForwardedAgain) {
  GroupCluster c;
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  apipb::ListGroupsResponse l;
  std::string trailer;
  grpc::Status s = Call(c.stub(c.Follower(leader)), &GroupStub::ListGroups,
                        apipb::ListGroupsRequest(), &l, 5s, /*forwarded=*/true, &trailer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("not the metadata leader"));
  EXPECT_FALSE(trailer.empty());
  // The same call at the leader is answered.
  s = Call(c.stub(leader), &GroupStub::ListGroups, apipb::ListGroupsRequest(), &l, 5s, true);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace raftlog::broker
