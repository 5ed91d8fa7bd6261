// Figures drawn by the real gnuplot: the data and script left beside the images, SVGs checked by
// xmllint, PNGs decoded and looked at, and the errors a user meets without gnuplot.
#include "ubp/reports/figures.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>

#include "support/process.h"
#include "support/temp_dir.h"
#include "png_pixels.h"
#include "ubp/reports/markdown_report.h"

namespace ubp::reports {
namespace {

namespace fs = std::filesystem;
using testing::decode_png;
using testing::find_colour;
using testing::read_bytes;
using testing::run_process;
using testing::TempDir;

constexpr uint32_t kBlue = 0x0072B2;
constexpr uint32_t kVermillion = 0xD55E00;
constexpr uint32_t kGreen = 0x009E73;

// The rows of each data block of a .dat file: blocks end at two blank lines, comments skipped.
std::vector<std::vector<std::vector<std::string>>> read_blocks(const std::string& path) {
  std::vector<std::vector<std::vector<std::string>>> blocks(1);
  std::istringstream in(read_bytes(path));
  std::string line;
  int blank_run = 0;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (++blank_run == 2) blocks.emplace_back();
      continue;
    }
    blank_run = 0;
    if (line[0] == '#') continue;
    std::vector<std::string> fields;
    std::istringstream row(line);
    std::string field;
    while (row >> field) fields.push_back(field);
    blocks.back().push_back(fields);
  }
  return blocks;
}

void expect_well_formed_svg(const std::string& path) {
  const auto check = run_process({"xmllint", "--noout", path}, "");
  EXPECT_EQ(check.exit_code, 0) << path << " is not well-formed XML (xmllint from libxml2-utils): "
                                << check.err;
  const std::string svg = read_bytes(path);
  EXPECT_NE(svg.find("<svg"), std::string::npos) << path;
  // Nothing outside the file: every link is to an element inside it.
  const std::regex href(R"(href\s*=\s*['"]([^'"]*))");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), href); it != std::sregex_iterator();
       ++it) {
    EXPECT_EQ((*it)[1].str().substr(0, 1), "#") << path << " links to " << (*it)[1].str();
  }
}

// Deleting the images and running `gnuplot <id>.gp` in the folder, as a user restyling the
// figure would, gives the same files back.
void expect_script_reproduces(const FigureFiles& files) {
  const std::string svg = read_bytes(files.svg), png = read_bytes(files.png);
  fs::remove(files.svg);
  fs::remove(files.png);
  const auto rerun = run_process({"gnuplot", fs::path(files.script).filename().string()},
                                 fs::path(files.script).parent_path().string());
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(read_bytes(files.svg), svg) << "rerunning " << files.script << " changed the SVG";
  EXPECT_EQ(read_bytes(files.png), png) << "rerunning " << files.script << " changed the PNG";
}

testing::RgbImage expect_drawn_png(const std::string& path) {
  EXPECT_TRUE(testing::has_png_signature(read_bytes(path))) << path;
  const testing::RgbImage image = decode_png(path);
  EXPECT_EQ(image.width, 960);
  EXPECT_EQ(image.height, 600);
  // Axes, text and anti-aliased series: a blank or single-colour image has far fewer.
  EXPECT_GE(testing::distinct_colours(image), 20u) << path;
  return image;
}

// Accuracy against latency on one device: a method with a frontier and dominated points, a
// method with a single point, and the dense model without a frontier.
Figure accuracy_latency_figure() {
  Figure figure;
  figure.id = "accuracy_latency_rpi4";
  figure.title = "Top-1 vs latency on rpi4_a72 (4 threads)";
  figure.xlabel = "p50 latency [ms]";
  figure.ylabel = "top-1 [%]";
  FigureSeries magnitude;
  magnitude.name = "magnitude_l1 \"aligned\"";
  magnitude.points = {{12.5, 70.1, "s=0.5"},
                      {9.8, 68.0, "s=0.7"},
                      {11.0, 67.5, "s=0.6 it's_dominated"},
                      {15.0, 71.3, "s=0.3"},
                      {14.0, 69.0, "s=0.4 #2"}};
  magnitude.frontier = {3, 0, 1};
  FigureSeries ours;
  ours.name = "ours (knapsack)";
  ours.points = {{10.5, 69.4, "s=0.6"}};
  ours.frontier = {0};
  FigureSeries dense;
  dense.name = "dense";
  dense.points = {{20.1, 71.8, "dense"}};
  figure.series = {magnitude, ours, dense};
  return figure;
}

TEST(FiguresTest, ScatterKeepsDataAndFrontierAndDrawsDominatedPointsFaint) {
  TempDir dir;
  const Figure figure = accuracy_latency_figure();
  const FigureFiles files = write_figure(figure, dir.file("figures"));
  EXPECT_EQ(files.svg, dir.file("figures/accuracy_latency_rpi4.svg"));
  EXPECT_EQ(files.png, dir.file("figures/accuracy_latency_rpi4.png"));

  // The data a user restyles from: every point as stored, the frontier flagged and, in its own
  // block, sorted by x.
  const auto blocks = read_blocks(files.data);
  ASSERT_EQ(blocks.size(), 5u) << read_bytes(files.data);
  const auto& points = blocks[0];
  ASSERT_EQ(points.size(), figure.series[0].points.size());
  const std::vector<std::string> flags = {"1", "1", "0", "1", "0"};
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_DOUBLE_EQ(std::stod(points[i][0]), figure.series[0].points[i].x);
    EXPECT_DOUBLE_EQ(std::stod(points[i][1]), figure.series[0].points[i].y);
    EXPECT_EQ(points[i][2], flags[i]) << "point " << i;
  }
  ASSERT_EQ(blocks[1].size(), 3u);
  EXPECT_EQ(blocks[1][0][0], "9.8") << "numbers written as short as they read back";
  EXPECT_DOUBLE_EQ(std::stod(blocks[1][1][0]), 12.5);
  EXPECT_DOUBLE_EQ(std::stod(blocks[1][2][0]), 15.0);
  EXPECT_EQ(blocks[4].size(), 1u);  // dense: its points, no frontier block
  EXPECT_EQ(blocks[4][0][2], "-1");

  const std::string script = read_bytes(files.script);
  EXPECT_NE(script.find("noenhanced"), std::string::npos);
  // A frontier where latency falls and accuracy rises is a staircase.
  EXPECT_NE(script.find("with steps"), std::string::npos) << script;

  expect_well_formed_svg(files.svg);
  const std::string svg = read_bytes(files.svg);
  EXPECT_NE(svg.find("magnitude_l1"), std::string::npos);
  EXPECT_NE(svg.find("ours (knapsack)"), std::string::npos);
  EXPECT_NE(svg.find("Top-1 vs latency on rpi4_a72"), std::string::npos);
  // The two dominated points, and only they, are drawn see-through (gnuplot alpha 0xB0: 0.31
  // opaque). Anti-aliased edges make the same blends in pixels, so this is checked in the SVG.
  const std::regex faint_point(
      R"(<use [^>]*color='rgb\(\s*0,\s*114,\s*178\)' opacity='0\.31')");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), faint_point),
                          std::sregex_iterator()),
            2);

  const auto image = expect_drawn_png(files.png);
  EXPECT_GT(find_colour(image, kBlue, 12).count, 40u) << "frontier of the first method";
  EXPECT_GT(find_colour(image, kVermillion, 12).count, 20u) << "the single-point method";
  EXPECT_GT(find_colour(image, kGreen, 12).count, 20u) << "the dense model";

  expect_script_reproduces(files);
}

TEST(FiguresTest, LinesAreSortedByXAndLogScalesAreDrawn) {
  TempDir dir;
  Figure sparsity;
  sparsity.id = "accuracy_sparsity";
  sparsity.title = "Top-1 vs sparsity per block shape";
  sparsity.xlabel = "sparsity";
  sparsity.ylabel = "top-1 [%]";
  sparsity.kind = FigureKind::kLines;
  sparsity.series = {{"4x4 aligned", {{0.7, 65.0, ""}, {0.3, 70.9, ""}, {0.5, 69.2, ""}}, {}},
                     {"8x8_unaligned", {{0.5, 68.1, ""}, {0.3, 70.2, ""}, {0.7, 62.5, ""}}, {}},
                     {"1x16", {{0.5, 69.9, "only one"}}, {}},
                     {"no runs yet", {}, {}}};
  const FigureFiles lines = write_figure(sparsity, dir.path().string());
  const auto blocks = read_blocks(lines.data);
  ASSERT_EQ(blocks.size(), 3u) << "the empty series is left out";
  for (const auto& block : blocks) {
    for (size_t i = 1; i < block.size(); ++i) {
      EXPECT_LT(std::stod(block[i - 1][0]), std::stod(block[i][0]));
    }
  }
  EXPECT_DOUBLE_EQ(std::stod(blocks[1][0][1]), 70.2);
  expect_well_formed_svg(lines.svg);
  EXPECT_NE(read_bytes(lines.svg).find("8x8_unaligned"), std::string::npos);
  const auto image = expect_drawn_png(lines.png);
  EXPECT_GT(find_colour(image, kBlue, 12).count, 40u);
  EXPECT_GT(find_colour(image, kGreen, 12).count, 10u) << "the single-point series";
  expect_script_reproduces(lines);

  Figure selection;
  selection.id = "selection_time";
  selection.title = "Selection time vs layer size";
  selection.xlabel = "weights in layer";
  selection.ylabel = "seconds";
  selection.kind = FigureKind::kLines;
  selection.logx = selection.logy = true;
  selection.series = {
      {"greedy", {{864, 2e-5, ""}, {36864, 4e-4, ""}, {2359296, 0.03, ""}}, {}},
      {"knapsack_dp", {{864, 1e-3, ""}, {36864, 0.2, ""}, {2359296, 41.0, ""}}, {}}};
  const FigureFiles log_files = write_figure(selection, dir.path().string());
  const std::string script = read_bytes(log_files.script);
  EXPECT_NE(script.find("set logscale x"), std::string::npos);
  EXPECT_NE(script.find("set logscale y"), std::string::npos);
  expect_well_formed_svg(log_files.svg);
  const auto log_image = expect_drawn_png(log_files.png);
  EXPECT_GT(find_colour(log_image, kVermillion, 12).count, 40u);
  expect_script_reproduces(log_files);
}

TEST(FiguresTest, SeriesPastTheEightColoursTakeAnotherPointTypeAndDashOrFill) {
  TempDir dir;
  for (const FigureKind kind : {FigureKind::kLines, FigureKind::kBars}) {
    Figure figure;
    figure.id = kind == FigureKind::kLines ? "many_lines" : "many_bars";
    figure.title = "ten series";
    figure.xlabel = "x";
    figure.ylabel = "y";
    figure.kind = kind;
    if (kind == FigureKind::kBars) figure.categories = {"a", "b"};
    for (int i = 0; i < 10; ++i) {
      figure.series.push_back({"series " + std::to_string(i), {{0, 1.0 + i, ""}, {1, 2.0 + i, ""}}, {}});
    }
    const FigureFiles files = write_figure(figure, dir.path().string());
    const std::string script = read_bytes(files.script);
    // One plot item per series, in order: the 9th (index 8) repeats the 1st's colour only.
    std::vector<std::string> items;
    for (size_t at = script.find("title 'series "); at != std::string::npos;
         at = script.find("title 'series ", at + 1)) {
      const size_t begin = script.rfind(figure.id + ".dat", at);
      items.push_back(script.substr(begin, at - begin));
    }
    ASSERT_EQ(items.size(), 10u) << script;
    EXPECT_NE(items[0], items[8]) << "series 0 and 8 are drawn alike";
    if (kind == FigureKind::kLines) {
      EXPECT_EQ(items[0].find(" dt "), std::string::npos) << items[0];
      EXPECT_NE(items[8].find(" dt 2"), std::string::npos) << items[8];
    } else {
      EXPECT_EQ(items[0].find("pattern"), std::string::npos) << items[0];
      EXPECT_NE(items[8].find("fs pattern 1"), std::string::npos) << items[8];
    }
    expect_well_formed_svg(files.svg);
    expect_script_reproduces(files);
  }
}

TEST(FiguresTest, BarsClusterSeriesPerCategoryWithAReferenceLine) {
  TempDir dir;
  Figure bars;
  bars.id = "layer_speedup";
  bars.title = "Per-layer speed-up over dense";
  bars.xlabel = "layer";
  bars.ylabel = "speed-up";
  bars.kind = FigureKind::kBars;
  bars.categories = {"conv1", "layer1.0_conv2", "fc \"head\"", "it's 4"};
  bars.series = {
      {"aligned 4x4", {{0, 1.4, "1.4x"}, {1, 2.2, "2.2x"}, {2, 0.9, ""}, {3, 1.8, ""}}, {}},
      {"unaligned 4x4", {{0, 1.1, ""}, {1, 1.6, ""}, {3, 1.2, ""}}, {}}};
  bars.reference_y = 1.0;
  bars.reference_label = "as fast as dense";
  bars.label_points = true;
  const FigureFiles files = write_figure(bars, dir.path().string());

  const auto blocks = read_blocks(files.data);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[1].size(), 3u);
  EXPECT_EQ(blocks[1][2][0], "3");
  const std::string script = read_bytes(files.script);
  EXPECT_NE(script.find("rotate by 45"), std::string::npos);
  EXPECT_NE(script.find("'it''s 4' 3"), std::string::npos) << script;

  expect_well_formed_svg(files.svg);
  const std::string svg = read_bytes(files.svg);
  for (const char* text : {"layer1.0_conv2", "as fast as dense", "2.2x", "unaligned 4x4"}) {
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  }
  const auto image = expect_drawn_png(files.png);
  // Bars are filled at 85%: the series colour over white.
  EXPECT_GT(find_colour(image, 0x2687BE, 10).count, 1000u) << "aligned bars";
  EXPECT_GT(find_colour(image, 0xDB7626, 10).count, 1000u) << "unaligned bars";
  expect_script_reproduces(files);
}

template <typename Fn>
std::string report_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ReportError& e) {
    return e.what();
  }
  return "(no ReportError)";
}

TEST(FiguresTest, InconsistentFiguresAreRefusedWithTheReason) {
  TempDir dir;
  Figure empty;
  empty.id = "empty";
  empty.series = {{"a", {}, {}}};
  EXPECT_NE(report_error_of([&] { write_figure(empty, dir.path().string()); }).find("no points"),
            std::string::npos);

  Figure figure = accuracy_latency_figure();
  figure.logx = true;
  figure.series[1].points[0].x = 0;
  std::string message = report_error_of([&] { write_figure(figure, dir.path().string()); });
  EXPECT_NE(message.find("ours (knapsack)"), std::string::npos) << message;
  EXPECT_NE(message.find("log x axis"), std::string::npos) << message;

  figure = accuracy_latency_figure();
  figure.series[0].frontier.push_back(9);
  message = report_error_of([&] { write_figure(figure, dir.path().string()); });
  EXPECT_NE(message.find("frontier index 9"), std::string::npos) << message;

  figure = accuracy_latency_figure();
  figure.series[0].points[2].y = std::nan("");
  message = report_error_of([&] { write_figure(figure, dir.path().string()); });
  EXPECT_NE(message.find("finite"), std::string::npos) << message;

  figure = accuracy_latency_figure();
  figure.kind = FigureKind::kBars;
  figure.categories = {"a"};
  message = report_error_of([&] { write_figure(figure, dir.path().string()); });
  EXPECT_NE(message.find("category index"), std::string::npos) << message;

  figure = accuracy_latency_figure();
  figure.id = "../escape";
  message = report_error_of([&] { write_figure(figure, dir.path().string()); });
  EXPECT_NE(message.find("'../escape'"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir.path().parent_path() / "escape.dat"));
}

// Sets PATH for one test and puts it back.
class PathOverride {
 public:
  explicit PathOverride(const std::string& path) {
    if (const char* saved = std::getenv("PATH")) saved_ = saved;
    setenv("PATH", path.c_str(), 1);
  }
  ~PathOverride() { setenv("PATH", saved_.c_str(), 1); }

 private:
  std::string saved_;
};

TEST(FiguresTest, MissingGnuplotNamesTheDebianPackage) {
  TempDir dir;
  fs::create_directories(dir.path() / "empty-bin");
  std::string message;
  {
    PathOverride path((dir.path() / "empty-bin").string());
    message = report_error_of([&] { write_figure(accuracy_latency_figure(), dir.file("out")); });
  }
  EXPECT_NE(message.find("gnuplot-nox"), std::string::npos) << message;
  EXPECT_NE(message.find("scripts/install-deps.sh"), std::string::npos) << message;
  // The data and script are still there, to draw once gnuplot is installed.
  EXPECT_TRUE(fs::exists(dir.file("out/accuracy_latency_rpi4.gp")));
}

TEST(FiguresTest, GnuplotFailureCarriesItsStderr) {
  TempDir dir;
  const std::string fake =
      dir.write("bin/gnuplot", "#!/bin/sh\necho \"line 12: unknown terminal type\" >&2\nexit 1\n");
  chmod(fake.c_str(), 0755);
  std::string message;
  {
    PathOverride path(dir.file("bin"));
    message = report_error_of([&] { write_figure(accuracy_latency_figure(), dir.file("out")); });
  }
  EXPECT_NE(message.find("line 12: unknown terminal type"), std::string::npos) << message;
  EXPECT_NE(message.find("accuracy_latency_rpi4.gp"), std::string::npos) << message;
  EXPECT_NE(message.find("exit 1"), std::string::npos) << message;
}

}  // namespace
}  // namespace ubp::reports
