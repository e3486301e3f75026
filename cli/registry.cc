// AddLeaf: one raftlogctl leaf command with the common flags and an example.
#include "CLI/CLI.hpp"
#include "cli/commands.h"

namespace raftlog::cli {

CLI::App* AddLeaf(CLI::App* parent, Registry& registry, const std::string& name,
                  const std::string& description, const std::string& example,
                  std::function<int(const Env&)> run, const std::vector<std::string>& formats,
                  Format default_format) {
  CLI::App* app = parent->add_subcommand(name, description);
  AddCommonFlags(app, registry.flags, formats);
  app->footer("Example:\n  " + example);
  Registry* r = &registry;
  app->callback([r, run = std::move(run), default_format] {
    r->run = run;
    r->default_format = default_format;
  });
  return app;
}

}  // namespace raftlog::cli
