// The raftlogctl command tree. Each command group registers its
// subcommands on the CLI11 app (one file per group); parsing picks one leaf,
// whose callback stores the action to run in the Registry. main() runs it
// after resolving the common flags (cli/common.h), so a usage error never
// reaches the cluster.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/common.h"

namespace CLI {
class App;
}

namespace raftlog::cli {

struct Registry {
  GlobalFlags flags;
  // Format when --format is not given (consume: text).
  Format default_format = Format::kTable;
  // The chosen command; returns the exit code.
  std::function<int(const Env&)> run;
};

// Adds leaf command `name` under `parent` with the common flags (--brokers,
// --format one of `formats`, --timeout), `example` as its help footer, and
// `run` as its action.
CLI::App* AddLeaf(CLI::App* parent, Registry& registry, const std::string& name,
                  const std::string& description, const std::string& example,
                  std::function<int(const Env&)> run,
                  const std::vector<std::string>& formats = {"table", "json"},
                  Format default_format = Format::kTable);

// Each adds one group of commands to `app`.
void AddTopicCommands(CLI::App& app, Registry& registry);      // topic_commands.cc
void AddProduceCommand(CLI::App& app, Registry& registry);     // produce_command.cc
void AddConsumeCommand(CLI::App& app, Registry& registry);     // consume_command.cc
void AddGroupCommands(CLI::App& app, Registry& registry);      // group_commands.cc
void AddClusterCommands(CLI::App& app, Registry& registry);    // cluster_commands.cc
void AddPartitionCommands(CLI::App& app, Registry& registry);  // partition_commands.cc

// Runs raftlogctl with `argv`; the exit code.
int RunMain(int argc, char** argv);

}  // namespace raftlog::cli
