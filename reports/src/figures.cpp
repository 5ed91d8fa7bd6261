#include "ubp/reports/figures.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>

#include "ubp/reports/markdown_report.h"
#include "ubp/support/atomic_file.h"

namespace ubp::reports {

namespace fs = std::filesystem;

namespace {

// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies and in grey
// print, which is where paper figures end up. Yellow is left out: it vanishes on white.
const char* const kColours[] = {"0072B2", "D55E00", "009E73", "CC79A7",
                                "E69F00", "56B4E9", "000000", "8C564B"};
// gnuplot point types that stay apart when colours are lost: filled circle, square, triangle,
// diamond, inverted triangle, pentagon, then open variants.
const int kPointTypes[] = {7, 5, 9, 13, 11, 15, 6, 4};
constexpr size_t kStyles = sizeof(kColours) / sizeof(kColours[0]);

// In gnuplot's ARGB the high byte is transparency: 0xB0 leaves about a third of the colour,
// faint enough to tell dominated points from the frontier, still visible.
constexpr const char* kFaintAlpha = "B0";

constexpr int kWidth = 960;
constexpr int kHeight = 600;

std::string one_line(const std::string& text) {
  std::string out = text;
  for (auto& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

// A gnuplot single-quoted string: backslashes are literal there, a quote is doubled.
std::string gp_string(const std::string& text) {
  std::string out = "'";
  for (char c : one_line(text)) {
    if (c == '\'') out += "''";
    else out += c;
  }
  return out + "'";
}

// A label column in the .dat: gnuplot reads a double-quoted field as one column but has no
// escape for a double quote inside it, so those become single quotes.
std::string data_label(const std::string& text) {
  std::string out = "\"";
  for (char c : one_line(text)) out += c == '"' ? '\'' : c;
  return out + "\"";
}

// The shortest text that reads back as the same double: 9.8, not 9.8000000000000007.
std::string number(double value) {
  char buffer[32];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::string colour(size_t series_index, bool faint) {
  return std::string("'#") + (faint ? kFaintAlpha : "") + kColours[series_index % kStyles] + "'";
}

// Past the 8 colours, a series repeats a colour: it then takes the next point type, and a dash
// pattern (lines) or a fill pattern (bars) of its cycle, so series i and i + 8 never look alike.
size_t style_cycle(size_t series_index) { return series_index / kStyles; }
int point_type(size_t series_index) {
  return kPointTypes[(series_index + style_cycle(series_index)) % kStyles];
}
std::string dash(size_t series_index) {
  return style_cycle(series_index) == 0 ? "" : " dt " + std::to_string(1 + style_cycle(series_index));
}
std::string bar_fill(size_t series_index) {
  // gnuplot's patterns 1-7 are hatchings; 0 is empty, left out.
  return style_cycle(series_index) == 0 ? ""
                                        : " fs pattern " + std::to_string(1 + (style_cycle(series_index) - 1) % 7) +
                                              " border";
}

const char* kind_name(FigureKind kind) {
  switch (kind) {
    case FigureKind::kScatter: return "scatter";
    case FigureKind::kLines: return "lines";
    case FigureKind::kBars: return "bars";
  }
  return "?";
}

[[noreturn]] void fail(const Figure& figure, const std::string& problem) {
  throw ReportError("figure '" + figure.id + "': " + problem);
}

void check_figure(const Figure& figure) {
  if (figure.id.empty() || figure.id.front() == '.' ||
      !std::all_of(figure.id.begin(), figure.id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    throw ReportError("figure id '" + figure.id +
                      "' cannot name its files: use letters, digits, '-', '_' and '.' "
                      "(not first)");
  }
  size_t points = 0;
  for (const auto& series : figure.series) {
    const std::string where = "series '" + series.name + "'";
    points += series.points.size();
    for (size_t i = 0; i < series.points.size(); ++i) {
      const FigurePoint& p = series.points[i];
      const std::string at = where + " point " + std::to_string(i);
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
        fail(figure, at + " is (" + number(p.x) + ", " + number(p.y) + "); values must be finite");
      }
      if (figure.logx && p.x <= 0) {
        fail(figure, at + " has x = " + number(p.x) + " on a log x axis; it must be positive");
      }
      if (figure.logy && p.y <= 0) {
        fail(figure, at + " has y = " + number(p.y) + " on a log y axis; it must be positive");
      }
      const double categories = static_cast<double>(figure.categories.size());
      if (figure.kind == FigureKind::kBars &&
          (p.x < 0 || p.x != std::floor(p.x) || p.x >= categories)) {
        fail(figure, at + " has x = " + number(p.x) + "; on bars x is a category index, 0 to " +
                         std::to_string(figure.categories.size()) + " (exclusive)");
      }
    }
    for (size_t index : series.frontier) {
      if (figure.kind != FigureKind::kScatter) {
        fail(figure, where + " has a frontier; frontiers are drawn on scatter figures only, this "
                             "one is " + kind_name(figure.kind));
      }
      if (index >= series.points.size()) {
        fail(figure, where + " frontier index " + std::to_string(index) + " is out of range (" +
                         std::to_string(series.points.size()) + " points)");
      }
    }
  }
  if (points == 0) fail(figure, "has no points to draw");
  if (figure.kind == FigureKind::kBars && figure.logy) {
    fail(figure, "bars cannot use a log y axis: a bar starts at zero");
  }
  if (figure.reference_y && (!std::isfinite(*figure.reference_y) ||
                             (figure.logy && *figure.reference_y <= 0))) {
    fail(figure, "reference line y = " + number(*figure.reference_y) +
                     " cannot be drawn on this y axis");
  }
}

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs `gnuplot <script>` with `dir` as its working folder, so the script's relative file names
// work exactly as they will for a user rerunning it there. Returns gnuplot's stderr.
std::string run_gnuplot(const std::string& gnuplot, const std::string& dir,
                        const std::string& script, int* exit_code) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    throw ReportError(std::string("cannot run gnuplot: pipe: ") + std::strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    throw ReportError(std::string("cannot run gnuplot: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    if (chdir(dir.c_str()) != 0) _exit(126);
    execl(gnuplot.c_str(), "gnuplot", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string err;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    err.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return err;
}

struct SeriesBlocks {
  size_t series = 0;      // index into Figure::series
  size_t style = 0;       // colour and point type, counted over the series drawn
  int points_block = -1;  // gnuplot `index` of the series' points
  int frontier_block = -1;
  bool has_dominated = false;  // some points are off the frontier
};

std::vector<size_t> sorted_by_x(const std::vector<FigurePoint>& points, std::vector<size_t> order) {
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return points[a].x < points[b].x; });
  return order;
}

std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  return order;
}

std::string write_data(const Figure& figure, std::vector<SeriesBlocks>* blocks) {
  std::ostringstream out;
  out << "# " << one_line(figure.title.empty() ? figure.id : figure.title) << "\n";
  out << "# Data of figure " << figure.id << ", drawn by " << figure.id << ".gp.\n";
  out << "# Blocks are separated by two blank lines; gnuplot's `index N` reads block N (from 0).\n";
  switch (figure.kind) {
    case FigureKind::kScatter:
      out << "# Columns: x y on_frontier label (on_frontier: 1 on the series' Pareto frontier, 0 "
             "dominated, -1 no frontier given)\n";
      break;
    case FigureKind::kLines:
      out << "# Columns: x y label (sorted by x)\n";
      break;
    case FigureKind::kBars:
      out << "# Columns: category y label; categories:";
      for (size_t i = 0; i < figure.categories.size(); ++i) {
        out << (i ? ", " : " ") << i << " = " << one_line(figure.categories[i]);
      }
      out << "\n";
      break;
  }
  out << "# x: " << one_line(figure.xlabel) << "\n# y: " << one_line(figure.ylabel) << "\n";

  int next_block = 0;
  size_t style = 0;
  for (size_t s = 0; s < figure.series.size(); ++s) {
    const FigureSeries& series = figure.series[s];
    if (series.points.empty()) {
      out << "\n# series " << one_line(series.name) << ": no points, not drawn\n";
      continue;
    }
    SeriesBlocks entry;
    entry.series = s;
    entry.style = style++;
    const std::set<size_t> on_frontier(series.frontier.begin(), series.frontier.end());
    std::vector<size_t> order = all_indices(series.points.size());
    if (figure.kind == FigureKind::kLines) order = sorted_by_x(series.points, order);
    if (next_block > 0) out << "\n\n";
    entry.points_block = next_block++;
    out << "# block " << entry.points_block << ": series " << one_line(series.name) << "\n";
    for (size_t i : order) {
      const FigurePoint& p = series.points[i];
      out << number(p.x) << " " << number(p.y);
      if (figure.kind == FigureKind::kScatter) {
        out << " " << (on_frontier.empty() ? -1 : static_cast<int>(on_frontier.count(i)));
      }
      out << " " << data_label(p.label) << "\n";
    }
    entry.has_dominated = on_frontier.size() < series.points.size();
    if (!on_frontier.empty()) {
      out << "\n\n";
      entry.frontier_block = next_block++;
      out << "# block " << entry.frontier_block << ": series " << one_line(series.name)
          << ", its Pareto frontier sorted by x\n";
      for (size_t i : sorted_by_x(series.points, {on_frontier.begin(), on_frontier.end()})) {
        const FigurePoint& p = series.points[i];
        out << number(p.x) << " " << number(p.y) << " 1 " << data_label(p.label) << "\n";
      }
    }
    blocks->push_back(entry);
  }
  return out.str();
}

// A frontier between "less x is better" and "more y is better" rises with x; the best y at a
// given x is then that of the last frontier point at or left of it: horizontal, then up
// (`steps`). A falling frontier (more of both is better) steps down first (`fsteps`). Anything
// else is joined point to point.
const char* frontier_style(const FigureSeries& series) {
  const std::vector<size_t> order =
      sorted_by_x(series.points, {series.frontier.begin(), series.frontier.end()});
  bool rising = true, falling = true;
  for (size_t k = 1; k < order.size(); ++k) {
    const double step = series.points[order[k]].y - series.points[order[k - 1]].y;
    rising = rising && step >= 0;
    falling = falling && step <= 0;
  }
  if (rising) return "steps";
  if (falling) return "fsteps";
  return "lines";
}

std::string plot_command(const Figure& figure, const std::vector<SeriesBlocks>& blocks) {
  const std::string data = gp_string(figure.id + ".dat");
  std::vector<std::string> items;
  const double bar_width = 0.8 / static_cast<double>(std::max<size_t>(blocks.size(), 1));
  for (const SeriesBlocks& b : blocks) {
    const FigureSeries& series = figure.series[b.series];
    const std::string title = "title " + gp_string(series.name);
    const std::string index = " index " + std::to_string(b.points_block);
    const std::string look = " lc rgb " + colour(b.style, false);
    const std::string point = " pt " + std::to_string(point_type(b.style));
    int label_column = 3;
    std::string x = "1";
    switch (figure.kind) {
      case FigureKind::kScatter:
        label_column = 4;
        if (b.frontier_block < 0) {
          items.push_back(data + index + " using 1:2 with points" + point + " ps 1.2" + look +
                          " " + title);
          break;
        }
        // Without dominated points the filter would leave gnuplot nothing to plot, and a warning.
        if (b.has_dominated) {
          items.push_back(data + index + " using 1:($3 == 0 ? $2 : NaN) with points" + point +
                          " ps 1.0 lc rgb " + colour(b.style, true) + " notitle");
        }
        items.push_back(data + " index " + std::to_string(b.frontier_block) + " using 1:2 with " +
                        frontier_style(series) + " lw 2" + dash(b.style) + look + " notitle");
        items.push_back(data + " index " + std::to_string(b.frontier_block) +
                        " using 1:2 with points" + point + " ps 1.3" + look + " " + title);
        break;
      case FigureKind::kLines:
        items.push_back(data + index + " using 1:2 with linespoints lw 2" + dash(b.style) + point +
                        " ps 1.1" + look + " " + title);
        break;
      case FigureKind::kBars: {
        // Series sit side by side inside each category's 0.8-wide slot.
        const double offset = -0.4 + bar_width * (static_cast<double>(b.style) + 0.5);
        x = "($1 + " + number(offset) + ")";
        items.push_back(data + index + " using " + x + ":2 with boxes" + bar_fill(b.style) + look + " " + title);
        break;
      }
    }
    if (figure.label_points) {
      // Beside a point, above a bar.
      const char* place =
          figure.kind == FigureKind::kBars ? " center offset 0,0.7" : " left offset 0.6,0.5";
      items.push_back(data + index + " using " + x + ":2:" + std::to_string(label_column) +
                      " with labels" + place + " font ',9' tc rgb '#444444' notitle");
    }
  }
  if (figure.reference_y) {
    const std::string title = figure.reference_label.empty()
                                  ? std::string("notitle")
                                  : "title " + gp_string(figure.reference_label);
    items.push_back(number(*figure.reference_y) + " with lines dt 2 lw 1.5 lc rgb '#555555' " +
                    title);
  }
  std::string command = "plot";
  for (size_t i = 0; i < items.size(); ++i) {
    command += (i ? ", \\\n     " : " ") + items[i];
  }
  return command + "\n";
}

std::string write_script(const Figure& figure, const std::vector<SeriesBlocks>& blocks) {
  std::ostringstream out;
  out << "# " << one_line(figure.title.empty() ? figure.id : figure.title) << "\n";
  out << "# Drawn by ubp report from " << figure.id << ".dat. Restyle freely, then run\n";
  out << "#   gnuplot " << figure.id << ".gp\n";
  out << "# in this folder to redraw " << figure.id << ".svg and " << figure.id << ".png.\n\n";
  out << "set encoding utf8\n";
  // Labels are shown as written: no _subscripts or ^superscripts from names like conv_1.
  out << "set termoption noenhanced\n";
  out << "set title " << gp_string(figure.title) << "\n";
  out << "set xlabel " << gp_string(figure.xlabel) << "\n";
  out << "set ylabel " << gp_string(figure.ylabel) << "\n";
  // Outside the plot area the legend never hides a point, however many series there are.
  out << "set key outside right top vertical Left reverse samplen 2 spacing 1.2\n";
  out << "set border 3 lc rgb '#333333'\nset tics nomirror\n";
  // %g keeps decade labels short (1e-05, 0.001, 1000) where the default pads them to 7 decimals.
  if (figure.logx) out << "set logscale x\nset format x '%g'\n";
  if (figure.logy) out << "set logscale y\nset format y '%g'\n";
  if (figure.kind == FigureKind::kBars) {
    const double width = 0.8 / static_cast<double>(std::max<size_t>(blocks.size(), 1));
    out << "set grid ytics lt 1 lc rgb '#dddddd'\n";
    out << "set style fill solid 0.85 border lc rgb '#333333'\n";
    out << "set boxwidth " << number(width) << " absolute\n";
    out << "set xrange [-0.6:" << number(static_cast<double>(figure.categories.size()) - 0.4)
        << "]\n";
    bool all_positive = true;
    for (const auto& series : figure.series) {
      for (const auto& p : series.points) all_positive = all_positive && p.y >= 0;
    }
    if (all_positive) out << "set yrange [0:*]\n";
    out << "set xzeroaxis lt 1 lc rgb '#333333'\n";
    // Rotated so that long layer names do not run into each other.
    out << "set xtics (";
    for (size_t i = 0; i < figure.categories.size(); ++i) {
      out << (i ? ", " : "") << gp_string(figure.categories[i]) << " " << i;
    }
    out << ") rotate by 45 right\n";
  } else {
    out << "set grid lt 1 lc rgb '#dddddd'\n";
    out << "set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n";
  }
  out << "\n";
  const std::string size = " size " + std::to_string(kWidth) + "," + std::to_string(kHeight) +
                           " font 'sans,12' background rgb 'white'";
  out << "set terminal svg" << size << " noenhanced\n";
  out << "set output " << gp_string(figure.id + ".svg") << "\n";
  out << plot_command(figure, blocks);
  out << "\nset terminal pngcairo" << size << " noenhanced\n";
  out << "set output " << gp_string(figure.id + ".png") << "\n";
  out << "replot\nset output\n";
  return out.str();
}

void write_text(const std::string& path, const std::string& text) {
  try {
    support::write_file_atomically(path, text);
  } catch (const support::FileError& e) {
    throw ReportError(std::string("cannot write: ") + e.what());
  }
}

}  // namespace

FigureFiles write_figure(const Figure& figure, const std::string& dir) {
  check_figure(figure);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw ReportError("cannot create folder " + dir + ": " + ec.message());

  const fs::path base = fs::path(dir) / figure.id;
  FigureFiles files;
  files.data = base.string() + ".dat";
  files.script = base.string() + ".gp";
  files.svg = base.string() + ".svg";
  files.png = base.string() + ".png";

  std::vector<SeriesBlocks> blocks;
  write_text(files.data, write_data(figure, &blocks));
  write_text(files.script, write_script(figure, blocks));

  const std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty()) {
    throw ReportError("figure '" + figure.id +
                      "': gnuplot is not on PATH; install the Debian package gnuplot-nox "
                      "(scripts/install-deps.sh installs it). Its data and script are in " +
                      files.data + " and " + files.script);
  }
  // Stale images must not pass for new ones if gnuplot stops early.
  fs::remove(files.svg, ec);
  fs::remove(files.png, ec);
  int exit_code = 0;
  const std::string err = run_gnuplot(gnuplot, dir, figure.id + ".gp", &exit_code);
  if (exit_code != 0) {
    throw ReportError("figure '" + figure.id + "': gnuplot " + files.script + " failed (exit " +
                      std::to_string(exit_code) + "): " + err);
  }
  for (const std::string& image : {files.svg, files.png}) {
    if (!fs::exists(image) || fs::file_size(image) == 0) {
      throw ReportError("figure '" + figure.id + "': gnuplot " + files.script + " wrote no " +
                        image + (err.empty() ? "" : ": " + err));
    }
  }
  return files;
}

}  // namespace ubp::reports
