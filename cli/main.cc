// raftlogctl: the admin and console CLI of raftlog (rpk / kafka-topics.sh
// style). The command tree is built in cli/*_command(s).cc; this file parses
// argv, maps CLI11 parse errors to exit code 2 and runs the chosen command.
#include <csignal>
#include <cstdlib>

#include "CLI/CLI.hpp"
#include "cli/commands.h"

namespace raftlog::cli {

int RunMain(int argc, char** argv) {
  CLI::App app{
      "raftlogctl: administer a raftlog cluster and produce or consume records.\n"
      "Brokers come from --brokers, else $RAFTLOG_BROKERS, else 127.0.0.1:7001.\n"
      "Exit codes: 0 success, 1 failure, 2 usage error."};
  app.name("raftlogctl");
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  raftlogctl topic create orders -p 6 -r 3\n"
      "  echo hello | raftlogctl produce orders\n"
      "  raftlogctl consume orders --from-beginning -g billing --format json | jq .value\n"
      "  raftlogctl group describe billing\n"
      "  raftlogctl cluster status --format json");
  Registry registry;
  // Also accepted before the command (raftlogctl --brokers ... topic list).
  AddCommonFlags(&app, registry.flags, {"table", "json", "text"});
  AddTopicCommands(app, registry);
  AddProduceCommand(app, registry);
  AddConsumeCommand(app, registry);
  AddGroupCommands(app, registry);
  AddClusterCommands(app, registry);
  AddPartitionCommands(app, registry);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help (stdout) or the error (stderr)
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!registry.run) return UsageError("no command given");
  absl::StatusOr<Env> env =
      ResolveEnv(registry.flags, std::getenv(kBrokersEnv), registry.default_format);
  if (!env.ok()) return UsageError(std::string(env.status().message()));
  return registry.run(*env);
}

}  // namespace raftlog::cli

int main(int argc, char** argv) {
  // A closed pipe (raftlogctl consume ... | head) is seen as a write error,
  // not a signal that kills us before committing.
  std::signal(SIGPIPE, SIG_IGN);
  return raftlog::cli::RunMain(argc, argv);
}
