// ubp report --db PATH --out DIR
#include <cstdio>

#include "cli/commands.h"
#include "ubp/reports/markdown_report.h"
#include "ubp/results/store.h"

namespace ubp::cli {

Command add_report_command(CLI::App& app) {
  struct Args {
    std::string db;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "report", "Write report.md: one table per experiment kind, runs as rows, the varying parameters "
                "and the metrics as columns");
  sub->add_option("--db", args->db, "Results database")->required();
  sub->add_option("--out", args->out, "Output folder (created if missing)")->required();
  return {sub, [args] {
            try {
              const auto store = results::Store::open(args->db, results::OpenMode::kReadOnly);
              const auto summary = reports::write_markdown_report(store, args->out);
              std::printf("report: %s (%zu runs, %zu table%s)\n", summary.report_path.c_str(), summary.runs,
                          summary.tables, summary.tables == 1 ? "" : "s");
              return 0;
            } catch (const results::StoreError& e) {
              return fail(e.what(), 2);
            } catch (const reports::ReportError& e) {
              return fail(e.what(), 1);
            }
          }};
}

}  // namespace ubp::cli
