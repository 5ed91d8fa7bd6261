// ubp report --db PATH --out DIR [--where KEY=VALUE ...] [--group-by KEY[,KEY]] [--metric KEY]
//            [--run ID] [--no-figures] [--no-html]
#include <cstdio>

#include "cli/commands.h"
#include "cli/report_folder.h"
#include "ubp/reports/report.h"
#include "ubp/results/store.h"

namespace ubp::cli {

Command add_report_command(CLI::App& app) {
  struct Args {
    std::string db;
    std::string out;
    std::vector<std::string> where;
    std::vector<std::string> group_by;
    std::string metric = "top1";
    std::string run;
    bool no_figures = false;
    bool no_html = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "report",
      "Write report.md, index.html, tables/<name>.csv and .tex (booktabs) and figures/ (gnuplot: SVG, PNG, data "
      "and script) from a results database. First the Claims section (also tables/claims.csv): each claim of "
      "the paper with its evidence and a verdict (supported, contradicted, inconclusive, no evidence) by a "
      "stated rule. Tables: accuracy (mean and "
      "standard deviation over seeds, difference from the dense model), paired differences (each method against "
      "aligned on runs with the same seed: mean, 95% t-interval, pairs), latency (p50, p90, speed-up over dense, "
      "unaligned/aligned ratio), selection quality per layer shape and method, optionally one run's layers; then "
      "every run per experiment kind. Columns that are the same in every row are shown once above the table. "
      "Figures: accuracy against latency per device with each method's Pareto frontier, accuracy against "
      "sparsity, selection time against layer size, per-layer speed-up (with --run).");
  sub->add_option("--db", args->db, "Results database")->required();
  sub->add_option("--out", args->out,
                  "Output folder: created if missing, replaced as a whole if it holds an earlier report (the "
                  "new report is written beside it and swapped in, so no stale file stays)")
      ->required();
  sub->add_option("--where", args->where,
                  "Only runs whose parameter KEY equals VALUE, e.g. --where model.name=mobilenet_v1 --where "
                  "prune.sparsity=0.8 (numbers compare as numbers). Repeatable: different keys must all match, "
                  "a repeated key matches any of its values")
      ->type_name("KEY=VALUE");
  sub->add_option("--group-by", args->group_by,
                  "The accuracy table's row axes; runs agreeing on all of them are averaged (default: "
                  "model.name,prune.block,prune.sparsity,prune.method)")
      ->type_name("KEY[,KEY...]")
      ->delimiter(',');
  sub->add_option("--metric", args->metric,
                  "The accuracy and paired tables' value: a final metric of the runs (the claims always read top1)")
      ->type_name("KEY")
      ->capture_default_str();
  sub->add_option("--run", args->run, "Also a table of this run's layers (shape, kept blocks, sparsity, retained "
                                      "importance, per-layer latency)")
      ->type_name("ID");
  sub->add_flag("--no-figures", args->no_figures, "Skip the figures (gnuplot is then not needed)");
  sub->add_flag("--no-html", args->no_html, "Skip index.html");
  return {sub, [args] {
            try {
              reports::ReportOptions options;
              options.out_dir = args->out;
              for (const auto& clause : args->where) options.where.push_back(reports::parse_where(clause));
              options.group_by = args->group_by;
              options.metric = args->metric;
              options.run = args->run;
              options.figures = !args->no_figures;
              options.html = !args->no_html;
              const auto store = results::Store::open(args->db, results::OpenMode::kReadOnly);
              const auto summary = write_report_replacing(store, options);
              std::printf("report: %s (%zu of %zu runs, %zu table%s", summary.report_path.c_str(), summary.runs,
                          summary.runs_in_database, summary.tables, summary.tables == 1 ? "" : "s");
              for (size_t i = 0; i < summary.table_names.size(); ++i) {
                std::printf("%s%s", i == 0 ? ": " : ", ", summary.table_names[i].c_str());
              }
              std::printf(")\n");
              std::printf("claims:");
              for (size_t i = 0; i < summary.claim_verdicts.size(); ++i) {
                std::printf("%s %s %s", i == 0 ? "" : ",", summary.claim_verdicts[i].first.c_str(),
                            reports::to_string(summary.claim_verdicts[i].second));
              }
              std::printf(" (%s)\n", summary.claims_csv.c_str());
              if (!summary.figure_names.empty()) {
                std::printf("figures: %zu in %s/figures\n", summary.figure_names.size(), args->out.c_str());
              }
              if (!summary.index_path.empty()) std::printf("index: %s\n", summary.index_path.c_str());
              // The tables are written; a figure gnuplot could not draw is a warning, not a failure.
              for (const auto& error : summary.figure_errors) std::fprintf(stderr, "warning: %s\n", error.c_str());
              return 0;
            } catch (const results::StoreError& e) {
              return fail(e.what(), 2);
            } catch (const reports::ReportError& e) {
              return fail(e.what(), 1);
            }
          }};
}

}  // namespace ubp::cli
