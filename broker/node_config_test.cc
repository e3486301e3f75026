// Tests of LoadNodeConfig (sources, precedence, validation messages),
// NodeConfigUsage, ParseHostPort and CheckListenAddressBindable.
#include "broker/node_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

using Env = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

const Args kExact = {"--id=1", "--addr=127.0.0.1:7001",
                     "--peers=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003",
                     "--data-dir=/tmp/raftlog-test-dir"};

// kExact with `extra` appended.
Args With(Args extra) {
  Args args = kExact;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// kExact with the flag for `key` replaced by `--key=value`.
Args Replace(const std::string& key, const std::string& value) {
  Args args;
  for (const std::string& a : kExact) {
    if (a.rfind("--" + key + "=", 0) != 0) args.push_back(a);
  }
  args.push_back("--" + key + "=" + value);
  return args;
}

// The InvalidArgument message of a failing load.
std::string ErrorOf(const Args& args, const Env& env = {}) {
  absl::StatusOr<NodeConfig> c = LoadNodeConfig(args, env);
  EXPECT_FALSE(c.ok()) << "expected an error for these args";
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  return std::string(c.status().message());
}

class NodeConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/node_config_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }
  std::string dir_;
};

TEST(NodeConfigTest, ExactCommandLineParses) {
  absl::StatusOr<NodeConfig> c = LoadNodeConfig(kExact, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, raft::NodeId(1));
  EXPECT_EQ(c->listen_address, "127.0.0.1:7001");
  EXPECT_EQ(c->advertised_address, "127.0.0.1:7001");
  ASSERT_EQ(c->peers.size(), 3u);
  EXPECT_EQ(c->peers.at(raft::NodeId(1)), "127.0.0.1:7001");
  EXPECT_EQ(c->peers.at(raft::NodeId(2)), "127.0.0.1:7002");
  EXPECT_EQ(c->peers.at(raft::NodeId(3)), "127.0.0.1:7003");
  EXPECT_EQ(c->data_dir, "/tmp/raftlog-test-dir");
  EXPECT_EQ(c->cluster_id, "raftlog");
  EXPECT_EQ(c->tick_ms, 100);
  EXPECT_EQ(c->election_ticks, 10);
  EXPECT_EQ(c->heartbeat_ticks, 3);
  EXPECT_EQ(c->fsync, NodeConfig::FsyncPolicy::kAlways);
  EXPECT_EQ(c->sync_threads, 8);
  EXPECT_EQ(c->metrics_address, "");
  EXPECT_EQ(c->log_level, "info");
}

TEST(NodeConfigTest, SpaceSeparatedFlagsAndAllKeys) {
  absl::StatusOr<NodeConfig> c = LoadNodeConfig({"--id",
                                                 "2",
                                                 "--addr",
                                                 "0.0.0.0:7002",
                                                 "--advertise-addr",
                                                 "node2:7002",
                                                 "--peers",
                                                 "1=node1:7001,2=node2:7002,3=node3:7003",
                                                 "--data-dir",
                                                 "/d",
                                                 "--cluster-id",
                                                 "prod-1",
                                                 "--tick-ms",
                                                 "50",
                                                 "--election-ticks",
                                                 "20",
                                                 "--heartbeat-ticks",
                                                 "4",
                                                 "--fsync",
                                                 "never",
                                                 "--sync-threads",
                                                 "4",
                                                 "--sync-mode",
                                                 "syncfs",
                                                 "--metrics-addr",
                                                 "127.0.0.1:9100",
                                                 "--log-level",
                                                 "WARNING"},
                                                {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, raft::NodeId(2));
  EXPECT_EQ(c->listen_address, "0.0.0.0:7002");
  EXPECT_EQ(c->advertised_address, "node2:7002");
  EXPECT_EQ(c->cluster_id, "prod-1");
  EXPECT_EQ(c->tick_ms, 50);
  EXPECT_EQ(c->election_ticks, 20);
  EXPECT_EQ(c->heartbeat_ticks, 4);
  EXPECT_EQ(c->fsync, NodeConfig::FsyncPolicy::kNever);
  EXPECT_EQ(c->sync_threads, 4);
  EXPECT_EQ(c->sync_mode, NodeConfig::SyncMode::kSyncfs);
  EXPECT_EQ(c->metrics_address, "127.0.0.1:9100");
  EXPECT_EQ(c->log_level, "warning");
}

TEST(NodeConfigTest, HelpIsDistinguishable) {
  for (const Args& args : {Args{"--help"}, Args{"-h"}, With({"--help"})}) {
    absl::StatusOr<NodeConfig> c = LoadNodeConfig(args, {});
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(IsHelpRequested(c.status())) << c.status();
  }
  EXPECT_FALSE(IsHelpRequested(absl::InvalidArgumentError("help")));
  EXPECT_FALSE(IsHelpRequested(LoadNodeConfig({"--id=1"}, {}).status()));
}

TEST(NodeConfigTest, UsageListsEveryKeyEnvVarDefaultAndExample) {
  const std::string usage = NodeConfigUsage();
  for (const char* key :
       {"id", "addr", "advertise-addr", "peers", "data-dir", "cluster-id", "tick-ms",
        "election-ticks", "heartbeat-ticks", "fsync", "sync-threads", "sync-mode",
        "journal-direct-groups", "metrics-addr", "log-level", "config"}) {
    EXPECT_THAT(usage, HasSubstr(std::string("--") + key + "=VALUE")) << key;
  }
  for (const char* env : {"RAFTLOG_ID", "RAFTLOG_DATA_DIR", "RAFTLOG_PEERS", "RAFTLOG_TICK_MS",
                          "RAFTLOG_CONFIG", "RAFTLOG_METRICS_ADDR"}) {
    EXPECT_THAT(usage, HasSubstr(env));
  }
  EXPECT_THAT(usage, HasSubstr("--id=1 --addr=127.0.0.1:7001 "
                               "--peers=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 "
                               "--data-dir="));
  EXPECT_THAT(usage, HasSubstr("100"));
  EXPECT_THAT(usage, HasSubstr("always"));
}

TEST(NodeConfigTest, UnknownFlagSuggestsClosestKey) {
  EXPECT_THAT(ErrorOf(With({"--tick-msx=5"})),
              AllOf(HasSubstr("unknown flag --tick-msx"), HasSubstr("did you mean --tick-ms?")));
  EXPECT_THAT(ErrorOf(With({"--datadir", "/x"})), HasSubstr("did you mean --data-dir?"));
  EXPECT_THAT(ErrorOf(With({"--frobnicate=1"})),
              AllOf(HasSubstr("unknown flag --frobnicate"), Not(HasSubstr("did you mean"))));
}

TEST(NodeConfigTest, PositionalArgumentAndMissingValueRejected) {
  EXPECT_THAT(ErrorOf(With({"stray"})), HasSubstr("unexpected argument \"stray\""));
  EXPECT_THAT(ErrorOf(With({"--log-level"})), HasSubstr("flag --log-level needs a value"));
  EXPECT_THAT(ErrorOf({"--data-dir", "--id=1"}), HasSubstr("data-dir: flag --data-dir needs"));
}

TEST(NodeConfigTest, FlagGivenTwiceIsAnError) {
  EXPECT_THAT(ErrorOf(With({"--id=2"})),
              AllOf(HasSubstr("id: flag --id given twice"), HasSubstr("\"1\" and \"2\"")));
  EXPECT_THAT(ErrorOf(With({"--tick-ms", "5", "--tick-ms=6"})),
              HasSubstr("flag --tick-ms given twice"));
}

TEST(NodeConfigTest, MissingRequiredKeys) {
  EXPECT_THAT(ErrorOf({"--addr=127.0.0.1:7001", "--data-dir=/d"}),
              AllOf(HasSubstr("missing required key id"), HasSubstr("RAFTLOG_ID")));
  EXPECT_THAT(ErrorOf({"--id=1", "--data-dir=/d"}),
              AllOf(HasSubstr("missing required key addr"), HasSubstr("--addr")));
  EXPECT_THAT(ErrorOf({"--id=1", "--addr=127.0.0.1:7001"}),
              AllOf(HasSubstr("missing required key data-dir"), HasSubstr("RAFTLOG_DATA_DIR")));
  EXPECT_THAT(ErrorOf(Replace("data-dir", "")), HasSubstr("data-dir: must not be empty"));
}

TEST(NodeConfigTest, BadId) {
  EXPECT_THAT(ErrorOf(Replace("id", "0")),
              AllOf(HasSubstr("id: 0 is not a valid node id"), HasSubstr("(from flag --id)")));
  EXPECT_THAT(ErrorOf(Replace("id", "one")), HasSubstr("id: \"one\" is not a number"));
  EXPECT_THAT(ErrorOf(Replace("id", "-1")), HasSubstr("id: \"-1\" is not a number"));
  EXPECT_THAT(ErrorOf(Replace("id", "99999999999999999999999")), HasSubstr("id: "));
}

TEST(NodeConfigTest, PeersDuplicateIdAndAddress) {
  EXPECT_THAT(ErrorOf(Replace("peers", "1=127.0.0.1:7001,2=127.0.0.1:7002,2=127.0.0.1:7003")),
              AllOf(HasSubstr("peers: duplicate id 2"), HasSubstr("from flag --peers")));
  EXPECT_THAT(ErrorOf(Replace("peers", "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7002")),
              HasSubstr("peers: duplicate address 127.0.0.1:7002 (ids 2 and 3)"));
  EXPECT_THAT(ErrorOf(Replace("peers", "1=127.0.0.1:7001,2=Node2:7002,3=node2:7002")),
              HasSubstr("peers: duplicate address"));
}

TEST(NodeConfigTest, PeersMalformedEntries) {
  for (const char* bad :
       {"1=127.0.0.1:7001,2", "1=127.0.0.1:7001,x=h:1", "1=127.0.0.1:7001,0=h:1",
        "1=127.0.0.1:7001,2=host", "1=127.0.0.1:7001,2=:7002", "1=127.0.0.1:7001,2=h:p"}) {
    EXPECT_THAT(ErrorOf(Replace("peers", bad)),
                AllOf(HasSubstr("peers: entry"), HasSubstr("not of the form id=host:port")))
        << bad;
  }
  EXPECT_THAT(ErrorOf(Replace("peers", "1=127.0.0.1:7001,,2=127.0.0.1:7002")),
              HasSubstr("peers: empty entry"));
}

TEST(NodeConfigTest, PortOutOfRange) {
  EXPECT_THAT(ErrorOf(Replace("peers", "1=127.0.0.1:7001,2=127.0.0.1:65536")),
              AllOf(HasSubstr("peers:"), HasSubstr("port 65536 is out of range 1..65535")));
  EXPECT_THAT(ErrorOf(Replace("addr", "127.0.0.1:99999999999")),
              HasSubstr("port 99999999999 is out of range 1..65535"));
  EXPECT_THAT(ErrorOf(Replace("addr", "127.0.0.1:http")),
              HasSubstr("port \"http\" is not a number"));
  EXPECT_THAT(ErrorOf(Replace("addr", "127.0.0.1:0")),
              AllOf(HasSubstr("addr:"), HasSubstr("port 0 is out of range 1..65535")));
  EXPECT_THAT(ErrorOf(With({"--metrics-addr=127.0.0.1:70000"})),
              AllOf(HasSubstr("metrics-addr:"), HasSubstr("out of range")));
  EXPECT_THAT(ErrorOf(Replace("addr", "127.0.0.1")),
              AllOf(HasSubstr("addr:"), HasSubstr("not of the form host:port")));
}

TEST(NodeConfigTest, OwnIdMustBeInPeersWithTheAdvertisedAddress) {
  EXPECT_THAT(ErrorOf(Replace("peers", "2=127.0.0.1:7002,3=127.0.0.1:7003")),
              AllOf(HasSubstr("peers: this node's id 1"), HasSubstr("not in the list")));
  EXPECT_THAT(ErrorOf(Replace("peers", "1=127.0.0.1:7009,2=127.0.0.1:7002")),
              AllOf(HasSubstr("peers: this node's entry 1=127.0.0.1:7009 differs from its "
                              "advertised address 127.0.0.1:7001"),
                    HasSubstr("advertise-addr")));
  // With --advertise-addr, peers must name the advertised address, not addr.
  absl::StatusOr<NodeConfig> c =
      LoadNodeConfig({"--id=1", "--addr=0.0.0.0:7001", "--advertise-addr=n1:7001",
                      "--peers=1=n1:7001,2=n2:7001", "--data-dir=/d"},
                     {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->advertised_address, "n1:7001");
  EXPECT_THAT(ErrorOf({"--id=1", "--addr=0.0.0.0:7001", "--data-dir=/d"}),
              HasSubstr("advertise-addr: 0.0.0.0:7001 is a wildcard address"));
}

TEST(NodeConfigTest, NoPeersIsASingleNodeCluster) {
  absl::StatusOr<NodeConfig> c =
      LoadNodeConfig({"--id=7", "--addr=127.0.0.1:7007", "--data-dir=/d"}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->peers.size(), 1u);
  EXPECT_EQ(c->peers.at(raft::NodeId(7)), "127.0.0.1:7007");
}

TEST(NodeConfigTest, HostForms) {
  absl::StatusOr<NodeConfig> c =
      LoadNodeConfig({"--id=1", "--addr=[::1]:7001", "--peers=1=[::1]:7001,2=broker-2.local:7002",
                      "--data-dir=/d"},
                     {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peers.at(raft::NodeId(2)), "broker-2.local:7002");
  EXPECT_THAT(ErrorOf(Replace("addr", "::1:7001")), HasSubstr("addr: \"::1:7001\": an IPv6"));
  EXPECT_THAT(ErrorOf(Replace("addr", "[zz]:7001")), HasSubstr("is not an IPv6 address"));
  EXPECT_THAT(ErrorOf(Replace("addr", "bad host:7001")), HasSubstr("not a valid host name"));

  absl::StatusOr<HostPort> hp = ParseHostPort("[fe80::1]:9");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "fe80::1");
  EXPECT_EQ(hp->port, 9);
}

TEST(NodeConfigTest, TimingValidation) {
  EXPECT_THAT(ErrorOf(With({"--tick-ms=0"})), HasSubstr("tick-ms: 0 is out of range 1..10000"));
  EXPECT_THAT(ErrorOf(With({"--tick-ms=10001"})), HasSubstr("tick-ms: 10001 is out of range"));
  EXPECT_THAT(ErrorOf(With({"--tick-ms=fast"})), HasSubstr("tick-ms: \"fast\" is not a whole"));
  EXPECT_THAT(ErrorOf(With({"--tick-ms=99999999999"})),
              HasSubstr("tick-ms: 99999999999 is out of range 1..10000"));
  EXPECT_THAT(ErrorOf(With({"--heartbeat-ticks=0"})), HasSubstr("heartbeat-ticks: 0 is out of"));
  EXPECT_THAT(ErrorOf(With({"--election-ticks=3"})),
              AllOf(HasSubstr("election-ticks (3, from flag --election-ticks) must be greater "
                              "than heartbeat-ticks (3, from default)")));
  EXPECT_THAT(ErrorOf(With({"--election-ticks=5", "--heartbeat-ticks=5"})),
              HasSubstr("must be greater than heartbeat-ticks"));
  EXPECT_THAT(ErrorOf(With({"--election-ticks=601"})),
              AllOf(HasSubstr("election-ticks * tick-ms = 601 * 100 ms exceeds 60000 ms")));
  absl::StatusOr<NodeConfig> c = LoadNodeConfig(With({"--election-ticks=600"}), {});
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST(NodeConfigTest, BrokerLivenessAndRebalanceValidation) {
  absl::StatusOr<NodeConfig> d = LoadNodeConfig(With({}), {});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->broker_session_timeout_ms, 9000);
  EXPECT_EQ(d->broker_heartbeat_interval_ms, 2000);
  EXPECT_EQ(d->leader_rebalance_interval_ms, 5000);
  EXPECT_THAT(ErrorOf(With({"--broker-session-timeout-ms=999"})),
              HasSubstr("broker-session-timeout-ms: 999 is out of range 1000..600000"));
  EXPECT_THAT(ErrorOf(With({"--broker-session-timeout-ms=2000"})),
              HasSubstr("broker-heartbeat-interval-ms (2000) must be less than "
                        "broker-session-timeout-ms (2000)"));
  EXPECT_THAT(ErrorOf(With({"--leader-rebalance-interval-ms=50"})),
              HasSubstr("leader-rebalance-interval-ms: 50 ms is too often"));
  absl::StatusOr<NodeConfig> c =
      LoadNodeConfig(With({"--broker-session-timeout-ms=3000", "--broker-heartbeat-interval-ms=500",
                           "--leader-rebalance-interval-ms=0"}),
                     {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->broker_session_timeout_ms, 3000);
  EXPECT_EQ(c->broker_heartbeat_interval_ms, 500);
  EXPECT_EQ(c->leader_rebalance_interval_ms, 0);
}

TEST(NodeConfigTest, SyncThreadsFsyncAndLogLevelValidation) {
  EXPECT_THAT(ErrorOf(With({"--sync-threads=0"})), HasSubstr("sync-threads: 0 is out of range"));
  EXPECT_THAT(ErrorOf(With({"--sync-threads=257"})), HasSubstr("sync-threads: 257 is out of"));
  EXPECT_TRUE(LoadNodeConfig(With({"--sync-threads=256"}), {}).ok());
  EXPECT_THAT(ErrorOf(With({"--journal-direct-groups=-1"})),
              HasSubstr("journal-direct-groups: \"-1\" is not a whole number"));
  EXPECT_THAT(ErrorOf(With({"--journal-direct-groups=1025"})),
              HasSubstr("journal-direct-groups: 1025 is out of range"));
  absl::StatusOr<NodeConfig> direct = LoadNodeConfig(With({"--journal-direct-groups=0"}), {});
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->journal_direct_groups, 0);
  EXPECT_EQ(LoadNodeConfig(With({}), {})->journal_direct_groups, 4);
  EXPECT_THAT(ErrorOf(With({"--fsync=sometimes"})),
              AllOf(HasSubstr("fsync: \"sometimes\" is not one of: always, never"),
                    HasSubstr("from flag --fsync")));
  EXPECT_THAT(ErrorOf(With({"--log-level=loud"})), HasSubstr("log-level: \"loud\""));
  EXPECT_THAT(ErrorOf(With({"--sync-mode=wal"})),
              HasSubstr("sync-mode: \"wal\" is not one of: journal, per-group, syncfs"));
  EXPECT_EQ(LoadNodeConfig(With({}), {})->sync_mode, NodeConfig::SyncMode::kJournal);
  EXPECT_EQ(LoadNodeConfig(With({"--sync-mode=per-group"}), {})->sync_mode,
            NodeConfig::SyncMode::kPerGroup);
  EXPECT_THAT(ErrorOf(With({"--cluster-id=a b"})), HasSubstr("cluster-id: \"a b\""));
}

TEST(NodeConfigTest, EnvironmentVariables) {
  absl::StatusOr<NodeConfig> c =
      LoadNodeConfig({}, {{"RAFTLOG_ID", "3"},
                          {"RAFTLOG_ADDR", "127.0.0.1:7003"},
                          {"RAFTLOG_PEERS", "1=127.0.0.1:7001,3=127.0.0.1:7003"},
                          {"RAFTLOG_DATA_DIR", "/env/dir"},
                          {"RAFTLOG_SYNC_THREADS", "2"},
                          {"RAFTLOG_SOMETHING_FOR_OTHER_TOOLS", "x"},
                          {"PATH", "/bin"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, raft::NodeId(3));
  EXPECT_EQ(c->data_dir, "/env/dir");
  EXPECT_EQ(c->sync_threads, 2);
  EXPECT_THAT(ErrorOf(kExact, {{"RAFTLOG_TICK_MS", "0"}}),
              AllOf(HasSubstr("tick-ms: 0 is out of range"),
                    HasSubstr("from environment variable RAFTLOG_TICK_MS")));
  EXPECT_THAT(ErrorOf(kExact, {{"RAFTLOG_DATADIR", "/x"}}),
              HasSubstr("unknown environment variable RAFTLOG_DATADIR (did you mean "
                        "RAFTLOG_DATA_DIR?)"));
}

TEST_F(NodeConfigFileTest, PrecedenceFileThenEnvThenFlag) {
  const std::string file = Write("node.conf",
                                 "id = 1\n"
                                 "addr = 127.0.0.1:7001\n"
                                 "data-dir = /from/file\n"
                                 "tick-ms = 10\n"
                                 "sync-threads = 11\n"
                                 "log-level = error\n"
                                 "heartbeat-ticks = 4\n");
  absl::StatusOr<NodeConfig> c =
      LoadNodeConfig({"--config=" + file, "--tick-ms=30", "--data-dir=/from/flag"},
                     {{"RAFTLOG_TICK_MS", "20"},
                      {"RAFTLOG_SYNC_THREADS", "21"},
                      {"RAFTLOG_LOG_LEVEL", "debug"},
                      {"RAFTLOG_DATA_DIR", "/from/env"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tick_ms, 30);             // flag > env > file
  EXPECT_EQ(c->data_dir, "/from/flag");  // flag > env > file
  EXPECT_EQ(c->sync_threads, 21);        // env > file
  EXPECT_EQ(c->log_level, "debug");      // env > file
  EXPECT_EQ(c->heartbeat_ticks, 4);      // file > default
  EXPECT_EQ(c->election_ticks, 10);      // default
}

TEST_F(NodeConfigFileTest, ConfigFileFromEnvAndFlagOverridesIt) {
  const std::string a = Write("a.conf", "id=1\naddr=127.0.0.1:7001\ndata-dir=/a\n");
  const std::string b = Write("b.conf", "id=2\naddr=127.0.0.1:7002\ndata-dir=/b\n");
  absl::StatusOr<NodeConfig> c = LoadNodeConfig({}, {{"RAFTLOG_CONFIG", a}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "/a");
  c = LoadNodeConfig({"--config", b}, {{"RAFTLOG_CONFIG", a}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "/b");
}

TEST_F(NodeConfigFileTest, ConfigFileCommentsAndQuotes) {
  const std::string file = Write("node.conf",
                                 "# raftlogd config\n"
                                 "\n"
                                 "   # indented comment\n"
                                 "id=4   # trailing comment\n"
                                 "addr = \"127.0.0.1:7004\"\n"
                                 "data-dir = \"/data/with space#and hash\"  # comment\n"
                                 "cluster-id=\"c-\\\"q\\\"\"\n"
                                 "\tlog-level\t=\twarning\t\n");
  absl::StatusOr<NodeConfig> c = LoadNodeConfig({"--config=" + file}, {});
  ASSERT_FALSE(c.ok());  // cluster-id c-"q" has quotes, which cluster-id forbids.
  EXPECT_THAT(c.status().message(),
              AllOf(HasSubstr("cluster-id: \"c-\"q\"\""), HasSubstr(file + ":7")));

  const std::string good = Write("good.conf",
                                 "# raftlogd config\n"
                                 "\n"
                                 "   # indented comment\n"
                                 "id=4   # trailing comment\n"
                                 "addr = \"127.0.0.1:7004\"\n"
                                 "data-dir = \"/data/with space#and \\\"q\\\"\"  # comment\n"
                                 "\tlog-level\t=\twarning\t\n");
  c = LoadNodeConfig({"--config=" + good}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, raft::NodeId(4));
  EXPECT_EQ(c->listen_address, "127.0.0.1:7004");
  EXPECT_EQ(c->data_dir, "/data/with space#and \"q\"");
  EXPECT_EQ(c->log_level, "warning");
}

TEST_F(NodeConfigFileTest, ConfigFileErrorsNameFileAndLine) {
  const std::string base = "id=1\naddr=127.0.0.1:7001\ndata-dir=/d\n";
  EXPECT_THAT(ErrorOf({"--config=" + Write("a.conf", base + "tick_ms = 5\n")}),
              AllOf(HasSubstr(dir_ + "/a.conf:4: unknown key \"tick_ms\""),
                    HasSubstr("did you mean \"tick-ms\"?")));
  EXPECT_THAT(ErrorOf({"--config=" + Write("b.conf", base + "just words\n")}),
              HasSubstr(dir_ + "/b.conf:4: expected `key = value`"));
  EXPECT_THAT(ErrorOf({"--config=" + Write("c.conf", base + "data-dir = \"/x\n")}),
              HasSubstr("c.conf:4: unterminated quoted value"));
  EXPECT_THAT(ErrorOf({"--config=" + Write("d.conf", base + "config = other.conf\n")}),
              HasSubstr("d.conf:4: key config may only be given as flag --config"));
  EXPECT_THAT(ErrorOf({"--config=" + Write("e.conf", base + "id = 2\n")}),
              AllOf(HasSubstr("e.conf:4: key id given twice"), HasSubstr("e.conf:1")));
  EXPECT_THAT(
      ErrorOf({"--config=" + Write("f.conf", base + "tick-ms = 0\n")}),
      AllOf(HasSubstr("tick-ms: 0 is out of range"), HasSubstr("from " + dir_ + "/f.conf:4")));
}

TEST_F(NodeConfigFileTest, UnreadableConfigFile) {
  EXPECT_THAT(ErrorOf({"--config=" + dir_ + "/missing.conf"}),
              AllOf(HasSubstr("config: cannot read config file " + dir_ + "/missing.conf"),
                    HasSubstr("No such file or directory"), HasSubstr("from flag --config")));
  EXPECT_THAT(ErrorOf({}, {{"RAFTLOG_CONFIG", dir_}}),
              AllOf(HasSubstr("Is a directory"), HasSubstr("environment variable RAFTLOG_CONFIG")));
}

TEST(NodeConfigTest, EnvironmentMapReadsTheProcessEnvironment) {
  ASSERT_EQ(::setenv("RAFTLOG_NODE_CONFIG_TEST_VAR", "a=b", 1), 0);
  const std::map<std::string, std::string> env = EnvironmentMap();
  ::unsetenv("RAFTLOG_NODE_CONFIG_TEST_VAR");
  ASSERT_EQ(env.count("RAFTLOG_NODE_CONFIG_TEST_VAR"), 1u);
  EXPECT_EQ(env.at("RAFTLOG_NODE_CONFIG_TEST_VAR"), "a=b");
}

// A listening TCP socket on 127.0.0.1 with an OS-chosen port.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          ::listen(fd_, 1) == 0;
    socklen_t len = sizeof(addr);
    ok_ = ok_ && ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  int port_ = 0;
};

TEST(CheckListenAddressBindableTest, PortInUseFailsWithClearMessage) {
  HeldPort held;
  ASSERT_TRUE(held.ok());
  const std::string address = "127.0.0.1:" + std::to_string(held.port());
  absl::Status st = CheckListenAddressBindable(address);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "cannot bind " + address + ": Address already in use");
  held.Close();
  EXPECT_TRUE(CheckListenAddressBindable(address).ok());
  EXPECT_TRUE(CheckListenAddressBindable("localhost:" + std::to_string(held.port())).ok());
}

TEST(CheckListenAddressBindableTest, BadAddress) {
  EXPECT_THAT(CheckListenAddressBindable("127.0.0.1").message(),
              HasSubstr("cannot bind 127.0.0.1: \"127.0.0.1\" is not of the form host:port"));
  // 192.0.2.1 (TEST-NET-1) is not a local address.
  EXPECT_THAT(CheckListenAddressBindable("192.0.2.1:7001").message(),
              HasSubstr("cannot bind 192.0.2.1:7001: Cannot assign requested address"));
}

}  // namespace
}  // namespace raftlog::broker
