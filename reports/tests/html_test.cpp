// index.html: one file that stands alone, checked by opening it in Debian's headless Chromium.
#include "ubp/reports/html.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "png_pixels.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "ubp/reports/markdown_report.h"

namespace ubp::reports {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::run_process;
using testing::TempDir;

struct BrowserRun {
  std::vector<std::string> console;  // the page's console messages, as Chromium logs them
  testing::RgbImage screenshot;
};

// Opens `html` from disk (file://, no server) in headless Chromium, 1200 x 2000 pixels.
// Chromium's own chatter on stderr (no D-Bus in a container, no GPU) is not the page's; the
// page's console messages are the lines Chromium tags CONSOLE.
BrowserRun open_in_chromium(const TempDir& scratch, const std::string& html) {
  const std::string shot = scratch.file("screenshot.png");
  fs::remove(shot);
  const auto run = run_process({"timeout", "60", "chromium", "--headless", "--no-sandbox",
                                "--disable-gpu", "--hide-scrollbars",
                                "--user-data-dir=" + scratch.file("chromium-profile"),
                                "--enable-logging=stderr", "--v=0", "--screenshot=" + shot,
                                "--window-size=1200,2000", "file://" + html},
                               "");
  if (run.exit_code != 0 || !fs::exists(shot)) {
    ADD_FAILURE() << "headless Chromium could not run in this container (exit " << run.exit_code
                  << "; 127: not installed, install Debian's chromium with "
                     "scripts/install-deps.sh; 124: it hung for 60 s). Its stderr:\n"
                  << run.err.substr(run.err.size() > 4000 ? run.err.size() - 4000 : 0);
    return {};
  }
  BrowserRun result;
  std::istringstream lines(run.err);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(":CONSOLE") != std::string::npos) result.console.push_back(line);
  }
  result.screenshot = testing::decode_png(shot);
  return result;
}

FigureFiles scatter_figure(const std::string& dir) {
  Figure figure;
  figure.id = "accuracy_latency";
  figure.title = "Top-1 vs latency";
  figure.xlabel = "p50 latency [ms]";
  figure.ylabel = "top-1 [%]";
  FigureSeries method;
  method.name = "magnitude_l1";
  method.points = {{9.8, 68.0, ""}, {11.0, 66.5, ""}, {12.5, 70.1, ""}, {14.0, 69.0, ""},
                   {15.0, 71.3, ""}, {13.2, 67.9, ""}};
  method.frontier = {0, 2, 4};
  figure.series = {method};
  return write_figure(figure, dir);
}

FigureFiles bars_figure(const std::string& dir) {
  Figure figure;
  figure.id = "layer_speedup";
  figure.title = "Per-layer speed-up";
  figure.ylabel = "speed-up";
  figure.kind = FigureKind::kBars;
  figure.categories = {"conv1", "conv2_dw", "conv3"};
  figure.series = {{"aligned", {{0, 1.5, ""}, {1, 2.5, ""}, {2, 1.9, ""}}, {}},
                   {"unaligned", {{0, 1.2, ""}, {1, 1.8, ""}, {2, 1.4, ""}}, {}}};
  figure.reference_y = 1.0;
  return write_figure(figure, dir);
}

std::vector<HtmlBlock> report_blocks(const std::string& figures_dir) {
  const std::string note = "Top-1 over 3 seeds; fixed: model.arch=mobilenet_v1 & <dense>.";
  return {{"Accuracy", html_paragraph(note) +
                           html_table({"method", "sparsity", "top-1 [%]"},
                                      {{"magnitude_l1", "0.5", "70.1 \xC2\xB1 0.2"},
                                       {"knapsack <ours>", "0.5", "71.3 \xC2\xB1 0.1"}})},
          {"Pareto frontier", figure_html(scatter_figure(figures_dir), "Top-1 against latency")},
          {"Per-layer speed-up", figure_html(bars_figure(figures_dir), "Speed-up over dense")}};
}

TEST(HtmlTest, EscapesTextForContentAndAttributes) {
  EXPECT_EQ(html_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  EXPECT_EQ(html_escape("plain_text 1.5"), "plain_text 1.5");
  const std::string table = html_table({"m<1>"}, {{"2.5"}, {"x & y"}, {"70.1 \xC2\xB1 0.2"}});
  EXPECT_NE(table.find("<th>m&lt;1&gt;</th>"), std::string::npos) << table;
  EXPECT_NE(table.find("<td class=\"num\">2.5</td>"), std::string::npos) << table;
  EXPECT_NE(table.find("<td>x &amp; y</td>"), std::string::npos) << table;
  EXPECT_NE(table.find("<td class=\"num\">70.1 \xC2\xB1 0.2</td>"), std::string::npos) << table;
}

std::string base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(alphabet.find(c));
    held += 6;
    if (held >= 8) {
      held -= 8;
      out += static_cast<char>((bits >> held) & 255);
    }
  }
  return out;
}

TEST(HtmlTest, FigureEmbedsTheSvgBytesExactly) {
  TempDir dir;
  // Lengths 0, 1 and 2 past a multiple of three: every base64 padding case.
  const std::vector<std::string> svgs = {"<svg/>", "<svg />", "<svg>\xC2\xB1 </svg>"};
  for (size_t i = 0; i < svgs.size(); ++i) ASSERT_EQ(svgs[i].size() % 3, i);
  for (const std::string& svg : svgs) {
    FigureFiles files;
    files.svg = dir.write("f.svg", svg);
    const std::string html = figure_html(files, "caption \"quoted\"");
    const std::string prefix = "src=\"data:image/svg+xml;base64,";
    const size_t start = html.find(prefix);
    ASSERT_NE(start, std::string::npos) << html;
    const size_t end = html.find('"', start + prefix.size());
    EXPECT_EQ(base64_decode(html.substr(start + prefix.size(), end - start - prefix.size())), svg);
    EXPECT_NE(html.find("alt=\"caption &quot;quoted&quot;\""), std::string::npos) << html;
  }
}

TEST(HtmlTest, IndexHasNoExternalReferences) {
  TempDir dir;
  const std::string index = dir.file("report/index.html");
  write_index_html(index, "ubp report: test <db>", report_blocks(dir.file("report/figures")));
  const std::string page = read_bytes(index);
  EXPECT_NE(page.find("<title>ubp report: test &lt;db&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("knapsack &lt;ours&gt;"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  const std::regex reference(R"((src|href)\s*=\s*["']([^"']*))");
  size_t embedded = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), reference);
       it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[2].str();
    EXPECT_TRUE(target.rfind("data:", 0) == 0 || target.rfind("#", 0) == 0)
        << (*it)[1].str() << "=\"" << target.substr(0, 80) << "\" is outside index.html";
    embedded += target.rfind("data:image/svg+xml;base64,", 0) == 0;
  }
  EXPECT_EQ(embedded, 2u) << "both figures embedded";
  const std::regex url(R"(url\(\s*['"]?([^'")]*))");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), url); it != std::sregex_iterator();
       ++it) {
    EXPECT_EQ((*it)[1].str().substr(0, 1), "#") << "CSS url(" << (*it)[1].str() << ")";
  }
}

TEST(HtmlTest, ChromiumShowsTheFiguresWithoutConsoleErrors) {
  TempDir dir;
  const std::string index = dir.file("report/index.html");
  write_index_html(index, "ubp report", report_blocks(dir.file("report/figures")));
  // Without the files beside it the page must still show everything.
  fs::remove_all(dir.file("report/figures"));

  const BrowserRun browser = open_in_chromium(dir, index);
  ASSERT_GT(browser.screenshot.width, 0);
  for (const auto& line : browser.console) ADD_FAILURE() << "console: " << line;

  const auto& shot = browser.screenshot;
  EXPECT_EQ(shot.width, 1200);
  // The bars are filled in the two series colours at 85%; the scatter, above them as on the
  // page, is drawn in full blue only. (Anti-aliased blue edges blend to the 85% blue too, so
  // where the bars start is told by the other colour.)
  const auto aligned_bars = testing::find_colour(shot, 0x2687BE, 10);
  const auto unaligned_bars = testing::find_colour(shot, 0xDB7626, 10);
  EXPECT_GT(aligned_bars.count, 2000u) << "bar figure not rendered";
  EXPECT_GT(unaligned_bars.count, 2000u) << "bar figure not rendered";
  const auto scatter = testing::find_colour(shot, 0x0072B2, 12, 0, unaligned_bars.first_row);
  EXPECT_GT(scatter.count, 300u) << "scatter figure not rendered above the bars";
  EXPECT_GE(testing::distinct_colours(shot), 100u);
}

// The console check above can fail: a page whose script throws is caught by it.
TEST(HtmlTest, ChromiumConsoleErrorsAreSeen) {
  TempDir dir;
  const std::string index = dir.file("index.html");
  write_index_html(index, "broken", {{"", "<script>undefined_report_function();</script>"}});
  const BrowserRun browser = open_in_chromium(dir, index);
  ASSERT_EQ(browser.console.size(), 1u);
  EXPECT_NE(browser.console[0].find("undefined_report_function"), std::string::npos)
      << browser.console[0];
}

TEST(HtmlTest, UnreadableFigureAndUnwritablePathAreNamed) {
  TempDir dir;
  FigureFiles missing;
  missing.svg = dir.file("nope.svg");
  try {
    figure_html(missing, "x");
    ADD_FAILURE() << "no error for a missing SVG";
  } catch (const ReportError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.svg"), std::string::npos) << e.what();
  }
  const std::string blocker = dir.write("file", "not a folder");
  try {
    write_index_html(blocker + "/index.html", "t", {});
    ADD_FAILURE() << "no error for a path under a file";
  } catch (const ReportError& e) {
    EXPECT_NE(std::string(e.what()).find(blocker), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ubp::reports
