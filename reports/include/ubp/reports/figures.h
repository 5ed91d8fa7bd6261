// Figures for reports, drawn by gnuplot (Debian's gnuplot-nox). Each figure leaves three files
// beside its images: the data (<id>.dat), a readable gnuplot script (<id>.gp) that a user can
// restyle and rerun with `gnuplot <id>.gp` in that folder, and the images <id>.svg and <id>.png.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ubp::reports {

struct FigurePoint {
  double x = 0;
  double y = 0;
  std::string label;  // kept in the .dat; drawn beside the point when Figure::label_points
};

struct FigureSeries {
  std::string name;  // the legend entry
  std::vector<FigurePoint> points;
  // Indices into `points` of the series' Pareto frontier. When given, the frontier is drawn as
  // a staircase through its points sorted by x and the other points are drawn faint; when
  // empty, every point is drawn plainly.
  std::vector<size_t> frontier;
};

enum class FigureKind {
  kScatter,  // points; frontier staircases where series give one
  kLines,    // one line per series through its points sorted by x
  kBars,     // clustered bars: point.x is an index into Figure::categories
};

struct Figure {
  std::string id;  // file stem: letters, digits, '-', '_' and '.'
  std::string title;
  std::string xlabel;
  std::string ylabel;
  FigureKind kind = FigureKind::kScatter;
  bool logx = false;
  bool logy = false;  // not for bars: a bar starts at zero
  bool label_points = false;
  std::vector<FigureSeries> series;  // series without points are left out of the plot
  std::vector<std::string> categories;  // bars: the x tick labels, in order
  // A dashed horizontal line, e.g. speed-up 1 (as fast as dense), labelled in the legend.
  std::optional<double> reference_y;
  std::string reference_label;
};

struct FigureFiles {
  std::string svg;
  std::string png;
  std::string data;
  std::string script;
};

// Writes <dir>/<id>.dat and <dir>/<id>.gp (creating dir), then runs gnuplot there to draw
// <id>.svg and <id>.png; returns the four paths. Throws ReportError when the figure has no
// points or is inconsistent (non-finite or, on a log axis, non-positive values, a frontier or
// category index out of range), when gnuplot is not on PATH (install gnuplot-nox:
// scripts/install-deps.sh), or when gnuplot fails (the message carries its stderr).
FigureFiles write_figure(const Figure& figure, const std::string& dir);

}  // namespace ubp::reports
