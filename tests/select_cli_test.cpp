// `ubp select` end to end: the real binary on random matrices and real .npy files.
#include <nlohmann/json.hpp>

#include <set>

#include "support/npy_bytes.h"
#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

using Json = nlohmann::json;
using SelectCommand = UbpTest;

const std::vector<std::string> kProductSelectors = {"aligned", "bed", "greedy", "optimal", "optimal-dp", "unstructured"};

Json parse(const ProcessResult& result) {
  try {
    return Json::parse(result.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "): " << result.out << result.err;
    return Json::object();
  }
}

TEST_F(SelectCommand, ComparesEveryMethodOnOneMatrixAsJson) {
  const auto result = ubp({"select", "--rows", "64", "--cols", "48", "--block", "4x1", "--sparsity", "0.75",
                           "--seed", "7", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json report = parse(result);
  EXPECT_EQ(report["rows"], 64);
  EXPECT_EQ(report["cols"], 48);
  EXPECT_EQ(report["block"], "4x1");
  EXPECT_EQ(report["budget"], 64 * 48 / 4 / 4);
  std::set<std::string> methods;
  for (const auto& entry : report["methods"]) {
    const std::string method = entry["method"];
    methods.insert(method);
    ASSERT_FALSE(entry.contains("error")) << method << ": " << entry["error"];
    EXPECT_GE(entry["seconds"].get<double>(), 0.0);
    EXPECT_LE(entry["retained_importance"].get<double>(), entry["total_importance"].get<double>() * (1 + 1e-12));
    if (method == "unstructured") {
      EXPECT_EQ(entry["block"], "1x1");
      EXPECT_EQ(entry["blocks"], 64 * 48 / 4);
      EXPECT_GE(entry["ratio_to_optimal"].get<double>(), 1.0 - 1e-12) << "single weights keep at least as much";
    } else {
      EXPECT_EQ(entry["blocks"], report["budget"]) << method;
      EXPECT_NEAR(entry["sparsity"].get<double>(), 0.75, 1e-12) << method;
      EXPECT_LE(entry["ratio_to_optimal"].get<double>(), 1.0 + 1e-9) << method << " beats the optimum";
    }
  }
  EXPECT_EQ(report["methods"][0]["method"], "optimal") << "optimal runs first so the others can be compared";
  EXPECT_EQ(report["methods"][0]["ratio_to_optimal"], 1.0);
  EXPECT_EQ(methods, std::set<std::string>(kProductSelectors.begin(), kProductSelectors.end()));
}

TEST_F(SelectCommand, PrintsAReadableTableByDefault) {
  const auto result = ubp({"select", "--rows", "32", "--cols", "32", "--method", "aligned,bed"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "budget 51 blocks")) << result.out;
  EXPECT_TRUE(contains(result.out, "aligned")) << result.out;
  EXPECT_TRUE(contains(result.out, "bed")) << result.out;
  EXPECT_FALSE(contains(result.out, "greedy")) << "only the requested methods: " << result.out;
}

TEST_F(SelectCommand, WritesTheKeptBlocksAndGivesTheSameBlocksEveryTime) {
  for (const char* name : {"a.json", "b.json"}) {
    const auto result = ubp({"select", "--rows", "40", "--cols", "24", "--block", "2x1", "--sparsity", "0.6",
                             "--method", "bed", "--blocks-out", name});
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  const Json blocks = Json::parse(read_bytes(work.file("a.json")));
  ASSERT_TRUE(blocks.is_array());
  EXPECT_EQ(blocks.size(), 40u * 24 * 4 / 10 / 2);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& b : blocks) {
    ASSERT_EQ(b.size(), 2u);
    EXPECT_GE(b[0].get<int64_t>(), 0);
    EXPECT_LT(b[0].get<int64_t>(), 24);
    EXPECT_GE(b[1].get<int64_t>(), 0);
    EXPECT_LE(b[1].get<int64_t>(), 40 - 2);
    seen.insert({b[0].get<int64_t>(), b[1].get<int64_t>()});
  }
  EXPECT_EQ(seen.size(), blocks.size()) << "no block twice";
  EXPECT_EQ(read_bytes(work.file("a.json")), read_bytes(work.file("b.json")));
}

TEST_F(SelectCommand, ReadsALayerFromANpyFile) {
  // A 4x2 layer whose best 2x1 blocks are obvious: rows 1-2 of column 0 and rows 0-1 of column 1.
  const std::vector<float> w = {0, 5, 9, -6, -9, 0, 0, 0};
  work.write("layer.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", raw_bytes(w)));
  const auto result = ubp({"select", "--weights", "layer.npy", "--block", "2x1", "--sparsity", "0.5", "--method",
                           "optimal", "--json", "--blocks-out", "kept.json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json report = parse(result);
  EXPECT_EQ(report["source"], "weights");
  EXPECT_EQ(report["rows"], 4);
  EXPECT_EQ(report["cols"], 2);
  EXPECT_DOUBLE_EQ(report["methods"][0]["retained_importance"].get<double>(), 29.0);
  EXPECT_EQ(Json::parse(read_bytes(work.file("kept.json"))), Json::parse("[[0, 1], [1, 0]]"));
}

TEST_F(SelectCommand, BadInputIsAOneLineErrorThatSaysWhatIsAccepted) {
  work.write("ints.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
                                   raw_bytes(std::vector<int64_t>{1, 2, 3, 4})));
  work.write("cube.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2), }",
                                   raw_bytes(std::vector<float>{1, 2, 3, 4})));
  work.write("cut.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                                  raw_bytes(std::vector<float>{1, 2, 3})));
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--weights", "ints.npy"}, "ints.npy: dtype '<i8' is not supported"},
      {{"--weights", "cube.npy"}, "cube.npy: the array has shape (2, 1, 2)"},
      {{"--weights", "cut.npy"}, "cut.npy: damaged .npy file"},
      {{"--block", "4by1"}, "'4by1' is not a block shape (accepted: RxC"},
      {{"--method", "best"}, "unknown method 'best' (accepted: all, aligned"},
      {{"--sparsity", "1.5"}, "--sparsity"},
      {{"--norm", "l3"}, "--norm"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"select", "--rows", "8", "--cols", "8"};
    if (c.args[0] == "--weights") args = {"select"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto result = ubp(args);
    EXPECT_EQ(result.exit_code, 2) << c.args[1];
    EXPECT_TRUE(contains(result.err, c.expected)) << c.args[1] << ": " << result.err;
    EXPECT_EQ(line_count(result.err), 1u) << result.err;
  }
}

TEST_F(SelectCommand, OptimalDpRefusesAnInputOverItsMemoryLimitNamingTheEstimate) {
  const auto alone = ubp({"select", "--rows", "512", "--cols", "512", "--method", "optimal-dp", "--memory-limit", "1"});
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_TRUE(contains(alone.err, "MiB")) << alone.err;
  EXPECT_TRUE(contains(alone.err, "optimal")) << alone.err;
  // Among several methods the refusal is reported and the others still run.
  const auto several = ubp({"select", "--rows", "512", "--cols", "512", "--method", "optimal-dp,bed",
                            "--memory-limit", "1", "--json"});
  ASSERT_EQ(several.exit_code, 0) << several.err;
  const Json report = parse(several);
  EXPECT_TRUE(report["methods"][0].contains("error"));
  EXPECT_EQ(report["methods"][1]["blocks"], report["budget"]);
}

}  // namespace
}  // namespace ubp::testing
