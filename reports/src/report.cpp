#include "ubp/reports/report.h"

#include "ubp/reports/layer_kinds.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ubp/reports/code_versions.h"
#include "ubp/reports/html.h"
#include "ubp/reports/layer_kinds.h"
#include "ubp/reports/markdown_report.h"
#include "ubp/reports/paired.h"
#include "ubp/support/atomic_file.h"

namespace ubp::reports {

namespace fs = std::filesystem;

namespace {

// Writes through a temporary file and a rename, so a reader never sees half a table.
void write_file(const fs::path& path, const std::string& text) {
  try {
    support::write_file_atomically(path.string(), text);
  } catch (const support::FileError& e) {
    throw ReportError(std::string("cannot write: ") + e.what() + " (check the folder's permissions and free space)");
  }
}

size_t count_status(const std::vector<RunData>& runs, results::RunStatus status) {
  size_t n = 0;
  for (const auto& run : runs) n += run.row.status == status ? 1 : 0;
  return n;
}

}  // namespace

ReportContent build_report(const results::Store& store, const ReportOptions& options) {
  ReportContent content;
  content.all_runs = load_runs(store);
  if (content.all_runs.empty()) {
    throw ReportError("database " + store.path() + " holds no runs; nothing to report (run `ubp run CONFIG --db " +
                      store.path() + "` first)");
  }
  content.runs = filter_runs(content.all_runs, options.where);
  if (content.runs.empty()) {
    throw ReportError("no run matches --where " + describe(options.where) + " (the database " + store.path() +
                      " holds " + std::to_string(content.all_runs.size()) +
                      " runs before filtering); nothing written");
  }

  AccuracyOptions accuracy;
  if (!options.group_by.empty()) accuracy.group_by = options.group_by;
  if (!options.metric.empty()) accuracy.metric = options.metric;
  // top1 is the default, absent from selection-only databases; a metric the user named must exist.
  if (accuracy.metric != "top1") {
    std::set<std::string> metrics;
    for (const auto& run : content.runs) {
      for (const auto& [key, value] : run.metrics) metrics.insert(key);
    }
    if (metrics.count(accuracy.metric) == 0) {
      std::string known;
      for (const auto& key : metrics) known += (known.empty() ? "" : ", ") + key;
      throw ReportError("--metric " + accuracy.metric + ": no run" + (options.where.empty() ? "" : " left by --where") +
                        " has this metric (known: " + known + ")");
    }
  }
  std::vector<Table> tables;
  tables.push_back(accuracy_table(content.runs, accuracy, !options.group_by.empty()));
  tables.push_back(paired_table(content.runs, accuracy.metric));
  tables.push_back(latency_table(content.runs));
  tables.push_back(layer_kind_table(content.runs));
  tables.push_back(selection_table(content.runs));
  const RunData* chosen = nullptr;
  if (!options.run.empty()) {
    for (const auto& run : content.all_runs) {
      if (run.row.run_id == options.run) chosen = &run;
    }
    if (chosen == nullptr) {
      throw ReportError("--run " + options.run + ": no such run in " + store.path() +
                        " (`ubp db info` lists the database; run ids are in report.md)");
    }
    tables.push_back(layer_table(*chosen));
  }
  content.claims = evaluate_claims(content.runs);
  content.figures = report_figures(content.runs, accuracy.metric, chosen);
  for (auto& table : tables) {
    note_code_versions(table, content.runs, accuracy.metric);
    if (!table.empty()) content.tables.push_back(std::move(table));
  }
  return content;
}

ReportSummary write_report(const results::Store& store, const ReportOptions& options) {
  const ReportContent content = build_report(store, options);

  std::error_code ec;
  const fs::path out_dir = options.out_dir;
  fs::create_directories(out_dir / "tables", ec);
  if (ec) throw ReportError("cannot create report folder " + (out_dir / "tables").string() + ": " + ec.message());
  ReportSummary summary;

  // Figures first: report.md and index.html show the ones gnuplot drew and say why others are
  // missing. A figure is worth less than the tables, so its failure does not stop the report.
  struct Drawn {
    const ReportFigure* figure;
    FigureFiles files;
  };
  std::vector<Drawn> drawn;
  std::string figure_markdown;
  if (options.figures) {
    for (const auto& f : content.figures) {
      try {
        const FigureFiles files = write_figure(f.figure, (out_dir / "figures").string());
        drawn.push_back({&f, files});
        summary.figure_names.push_back(f.figure.id);
        for (const auto* path : {&files.svg, &files.png, &files.data, &files.script}) summary.files.push_back(*path);
        figure_markdown += "### " + f.figure.title + "\n\n![" + f.figure.title + "](figures/" + f.figure.id +
                           ".svg)\n\n" + f.caption + " Data and gnuplot script: `figures/" + f.figure.id +
                           ".dat`, `figures/" + f.figure.id + ".gp`.\n\n";
      } catch (const ReportError& e) {
        summary.figure_errors.push_back(e.what());
        figure_markdown += "Figure `" + f.figure.id + "` was not drawn: " + e.what() + "\n\n";
      }
    }
  }

  std::ostringstream md;
  const auto info = store.info();
  md << "# ubp report\n\n";
  md << "Database `" << store.path() << "` (schema v" << info.schema_version << "): " << content.all_runs.size()
     << " runs, " << info.runs_done << " done, " << info.runs_failed << " failed, "
     << info.runs_pending + info.runs_running << " not finished. Generated " << results::utc_now_iso8601() << ".\n\n";
  if (!options.where.empty()) {
    md << "Filtered with `--where " << describe(options.where) << "`: " << content.runs.size() << " of "
       << content.all_runs.size() << " runs (" << count_status(content.runs, results::RunStatus::kDone)
       << " done).\n\n";
  }
  md << claims_markdown(content.claims, content.runs.size());
  if (content.tables.empty()) {
    md << "No finished run has the metrics, latency measurements or layer records the paper tables are made "
          "of; the runs are listed below.\n\n";
  }
  for (const auto& table : content.tables) {
    md << "## " << table.title << "\n\n" << table.caption << " Files: `tables/" << table.name << ".csv`, `tables/"
       << table.name << ".tex`.\n\n"
       << to_markdown(table) << "\n";
  }
  if (!figure_markdown.empty()) md << "## Figures\n\n" << figure_markdown;
  md << "## Runs\n\nEvery run, one table per experiment kind, with the parameters that vary and its final "
        "metrics.\n\n"
     << run_listing_markdown(content.runs);

  summary.report_path = (out_dir / "report.md").string();
  summary.runs = content.runs.size();
  summary.runs_in_database = content.all_runs.size();
  write_file(summary.report_path, md.str());
  summary.files.insert(summary.files.begin(), summary.report_path);
  for (const auto& table : content.tables) {
    const fs::path csv = out_dir / "tables" / (table.name + ".csv");
    const fs::path tex = out_dir / "tables" / (table.name + ".tex");
    write_file(csv, to_csv(table));
    write_file(tex, to_latex(table));
    summary.files.push_back(csv.string());
    summary.files.push_back(tex.string());
    summary.table_names.push_back(table.name);
  }
  summary.tables = content.tables.size();
  summary.claims_csv = (out_dir / "tables" / "claims.csv").string();
  write_file(summary.claims_csv, to_csv(claims_table(content.claims)));
  summary.files.push_back(summary.claims_csv);
  for (const auto& claim : content.claims) summary.claim_verdicts.emplace_back(claim.key, claim.verdict);

  if (options.html) {
    std::vector<HtmlBlock> blocks;
    std::string intro = "Database " + store.path() + ": " + std::to_string(content.runs.size()) + " of " +
                        std::to_string(content.all_runs.size()) + " runs";
    if (!options.where.empty()) intro += " (--where " + describe(options.where) + ")";
    blocks.push_back({"", html_paragraph(intro + ". Tables as CSV and LaTeX in tables/, figures with their data "
                                                 "and gnuplot scripts in figures/, every run in report.md.")});
    blocks.push_back({"Claims", claims_html(content.claims, content.runs.size())});
    for (const auto& table : content.tables) blocks.push_back({table.title, to_html(table)});
    for (const auto& d : drawn) blocks.push_back({d.figure->figure.title, figure_html(d.files, d.figure->caption)});
    for (const auto& error : summary.figure_errors) blocks.push_back({"", html_paragraph("Not drawn: " + error)});
    summary.index_path = (out_dir / "index.html").string();
    write_index_html(summary.index_path, "ubp report", blocks);
    summary.files.push_back(summary.index_path);
  }
  return summary;
}

}  // namespace ubp::reports
