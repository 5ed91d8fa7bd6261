// `ubp keys [KIND]`: every config key with its type, default and help, from the schema itself,
// so the list can never drift from what `ubp run` accepts.
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "config/plan.h"
#include "experiments/experiment.h"

namespace ubp::cli {

Command add_keys_command(CLI::App& app) {
  auto* sub = app.add_subcommand("keys", "List the config keys: type and accepted values, default, what each does");
  auto kind = std::make_shared<std::string>();
  sub->add_option("kind", *kind, "Only the keys of this experiment kind (selection, training)");
  return {sub, [kind] {
            const auto kinds = experiments::experiment_kinds();
            if (!kind->empty() && std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
              std::string known;
              for (const auto& k : kinds) known += (known.empty() ? "" : ", ") + k;
              return fail("unknown experiment kind '" + *kind + "'; known kinds: " + known, 2);
            }
            std::string section;
            for (const auto& spec : config::ubp_schema().keys()) {
              if (!kind->empty() && !spec.kinds.empty() &&
                  std::find(spec.kinds.begin(), spec.kinds.end(), *kind) == spec.kinds.end()) {
                continue;
              }
              const std::string head = spec.path.substr(0, spec.path.find('.'));
              if (head != section) {
                std::cout << (section.empty() ? "" : "\n") << head << ":\n";
                section = head;
              }
              std::cout << "  " << spec.path << " = "
                        << (spec.required ? std::string("(required)") : spec.default_value.dump()) << "\n"
                        << "      " << spec.help << "\n"
                        << "      accepted: " << config::Schema::describe_accepted(spec);
              if (!spec.kinds.empty()) {
                std::string only;
                for (const auto& k : spec.kinds) only += (only.empty() ? "" : ", ") + k;
                std::cout << "; only for kind " << only;
              }
              if (!spec.sweepable) std::cout << "; campaign-wide, not sweepable";
              std::cout << "\n";
            }
            return 0;
          }};
}

}  // namespace ubp::cli
