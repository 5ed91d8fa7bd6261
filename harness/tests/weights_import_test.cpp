// Over 500 lines: one fixture of reference weights (torchvision ResNets, TorchScript) serves every import case.
// Pretrained weights: torchvision's ResNets imported from a real torch.save state_dict and from a
// TorchScript archive give torchvision's own logits; mismatches are reported all at once; bad
// files are errors naming the file; our own state_dict files round-trip and PyTorch reads them.
//
// The torchvision references come from harness/tests/data/torchvision_reference.py, run with
// Debian's /usr/bin/python3 (python3-torch, python3-torchvision: scripts/install-deps.sh).
#include "models/weights_import.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "models/mobilenet_v1.h"
#include "models/resnet.h"
#include "support/process.h"
#include "io/zip_archive.h"
#include "support/temp_dir.h"
#include "tests/zip_builder.h"

namespace ubp::models {
namespace {

// Debian's interpreter: the one python3-torch and python3-torchvision install into; a python3
// earlier on PATH (pyenv, a venv) may have no torch.
constexpr const char* kPython = "/usr/bin/python3";

std::string run_python(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kPython};
  argv.insert(argv.end(), args.begin(), args.end());
  const testing::ProcessResult r = testing::run_process(argv, "");
  if (r.exit_code != 0) {
    throw std::runtime_error(std::string(kPython) + " exited with " + std::to_string(r.exit_code) +
                             " (are python3-torch and python3-torchvision installed? scripts/install-deps.sh):\n" +
                             r.err);
  }
  return r.out;
}

// The reference files of torchvision `model` ("resnet18", "resnet50"), written once per test
// process into a folder removed at exit.
std::string reference_dir(const std::string& model) {
  static testing::TempDir dir;
  static std::set<std::string> written;
  if (written.count(model) == 0) {
    run_python({std::string(UBP_SOURCE_DIR) + "/harness/tests/data/torchvision_reference.py", dir.path().string(),
                model});
    written.insert(model);
  }
  return dir.path().string();
}

at::Tensor tensor_named(const NamedTensors& tensors, const std::string& key) {
  for (const auto& [name, tensor] : tensors) {
    if (name == key) return tensor;
  }
  throw std::runtime_error("no tensor '" + key + "'");
}

at::Tensor eval_logits(Classifier& model, const at::Tensor& input) {
  torch::NoGradGuard no_grad;
  model.eval();
  return model.forward(input);
}

// Largest difference relative to the reference's magnitude (at least 1).
double relative_max_diff(const at::Tensor& ours, const at::Tensor& reference) {
  const double scale = std::max(1.0, reference.abs().max().item<double>());
  return (ours - reference).abs().max().item<double>() / scale;
}

// Imports torchvision's ResNet-`depth` from `file` ("resnet18.pth", "resnet18.ts", ...) into
// our ResNet; our eval-mode logits and torchvision's on the same input, for the caller to compare.
struct ImportedLogits {
  WeightImportReport report;
  at::Tensor ours;
  at::Tensor reference;
  size_t state_size = 0;
};

ImportedLogits import_torchvision(int depth, const std::string& file) {
  const std::string name = "resnet" + std::to_string(depth);
  const std::string dir = reference_dir(name);
  const WeightsFile io = read_weights_file(dir + "/" + name + "_io.pth");
  ResNetOptions o;
  o.depth = depth;
  ResNet model(o);
  ImportedLogits out;
  out.state_size = module_state(*model).size();
  const at::Tensor input = tensor_named(io.tensors, "input");
  out.reference = tensor_named(io.tensors, "logits");
  // Before the import our randomly initialised model must disagree, or the check below says nothing.
  EXPECT_GT(relative_max_diff(eval_logits(*model, input), out.reference), 1e-2);
  out.report = import_weights(*model, dir + "/" + file);
  out.ours = eval_logits(*model, input);
  return out;
}

TEST(WeightImport, TorchvisionResnet18StateDictGivesTorchvisionsLogits) {
  const ImportedLogits r = import_torchvision(18, "resnet18.pth");
  EXPECT_EQ(r.report.format, WeightFileFormat::kStateDict);
  EXPECT_EQ(r.report.loaded.size(), r.state_size);  // every parameter and buffer, counters included
  EXPECT_TRUE(r.report.skipped.empty());
  ASSERT_EQ(r.ours.sizes(), r.reference.sizes());
  EXPECT_LT(relative_max_diff(r.ours, r.reference), 1e-4);
}

TEST(WeightImport, TorchvisionResnet50StateDictGivesTorchvisionsLogits) {
  const ImportedLogits r = import_torchvision(50, "resnet50.pth");
  EXPECT_EQ(r.report.loaded.size(), r.state_size);
  ASSERT_EQ(r.ours.sizes(), r.reference.sizes());
  EXPECT_LT(relative_max_diff(r.ours, r.reference), 1e-4);
}

TEST(WeightImport, TorchScriptArchiveGivesTheSameLogitsAsTheStateDict) {
  const ImportedLogits r = import_torchvision(18, "resnet18.ts");
  EXPECT_EQ(r.report.format, WeightFileFormat::kTorchScript);
  EXPECT_EQ(r.report.loaded.size(), r.state_size);
  ASSERT_EQ(r.ours.sizes(), r.reference.sizes());
  EXPECT_LT(relative_max_diff(r.ours, r.reference), 1e-4);
}

TEST(WeightImport, TorchvisionBatchNormBuffersArriveWithTheirValues) {
  const std::string dir = reference_dir("resnet18");
  const WeightsFile file = read_weights_file(dir + "/resnet18.pth");
  ResNetOptions o;
  ResNet model(o);
  import_weights(*model, dir + "/resnet18.pth");
  const NamedTensors state = module_state(*model);
  for (const std::string key : {"layer3.1.bn2.running_var", "layer1.0.bn1.num_batches_tracked", "fc.bias"}) {
    const at::Tensor expected = tensor_named(file.tensors, key);
    EXPECT_TRUE(tensor_named(state, key).equal(expected)) << key;
  }
  // The reference script moved every counter away from 0 and the variances away from 1.
  EXPECT_GT(tensor_named(state, "layer1.0.bn1.num_batches_tracked").item<int64_t>(), 0);
  EXPECT_GT((tensor_named(state, "layer3.1.bn2.running_var") - 1).abs().max().item<double>(), 1e-3);
}

// --- Mismatches and options, on a small MobileNetV1 whose files we write ourselves. ---

MobileNetV1 tiny_mobilenet(uint64_t seed, int64_t num_classes = 10) {
  torch::manual_seed(seed);
  MobileNetV1Options o;
  o.width = 0.25;
  o.num_classes = num_classes;
  o.in_channels = 1;
  o.small_input = true;
  MobileNetV1 model(o);
  // A training-mode pass so running statistics and counters are not their initial values.
  torch::NoGradGuard no_grad;
  model->train();
  model->forward(at::randn({4, 1, 16, 16}));
  return model;
}

NamedTensors without(NamedTensors tensors, const std::string& key) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [&](const auto& e) { return e.first == key; }),
                tensors.end());
  return tensors;
}

NamedTensors replaced(NamedTensors tensors, const std::string& key, const at::Tensor& value) {
  for (auto& e : tensors) {
    if (e.first == key) e.second = value;
  }
  return tensors;
}

std::string import_error(torch::nn::Module& model, const std::string& path, const WeightImportOptions& options = {}) {
  try {
    import_weights(model, path, options);
  } catch (const WeightImportError& e) {
    return e.what();
  }
  return "(no error)";
}

bool has_skipped(const WeightImportReport& report, const std::string& key, const std::string& reason_part) {
  for (const auto& s : report.skipped) {
    if (s.key == key && s.reason.find(reason_part) != std::string::npos) return true;
  }
  return false;
}

TEST(WeightImport, MissingUnexpectedAndMisshapenKeysAreAllListedInOneError) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  NamedTensors state = without(module_state(*a), "features.0.pw_bn.running_mean");
  state.emplace_back("features.99.pw.weight", at::zeros({4, 4, 1, 1}));
  state = replaced(state, "features.1.pw.weight", at::zeros({32, 16}));
  const std::string path = dir.file("mismatched.pth");
  save_state_dict(state, path);

  auto b = tiny_mobilenet(2);
  const at::Tensor stem_before = b->conv1->weight.clone();
  const std::string error = import_error(*b, path);
  EXPECT_NE(error.find("'" + path + "'"), std::string::npos) << error;
  EXPECT_NE(error.find("1 key missing from the file: features.0.pw_bn.running_mean"), std::string::npos) << error;
  EXPECT_NE(error.find("1 key in the file but not in the model: features.99.pw.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("1 shape mismatch: features.1.pw.weight: model [32, 16, 1, 1], file [32, 16]"),
            std::string::npos)
      << error;
  // Nothing is copied from a file that does not match.
  EXPECT_TRUE(b->conv1->weight.equal(stem_before));
}

TEST(WeightImport, NonStrictImportSkipsMissingAndUnexpectedKeysButNotShapeMismatches) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  NamedTensors state = without(module_state(*a), "features.2.dw.weight");
  state.emplace_back("head.weight", at::zeros({3}));
  save_state_dict(state, dir.file("partial.pth"));

  auto b = tiny_mobilenet(2);
  const at::Tensor kept = b->features[2]->as<DepthwiseSeparableImpl>()->dw->weight.clone();
  WeightImportOptions loose;
  loose.strict = false;
  const WeightImportReport report = import_weights(*b, dir.file("partial.pth"), loose);
  EXPECT_TRUE(has_skipped(report, "features.2.dw.weight", "not in the file"));
  EXPECT_TRUE(has_skipped(report, "head.weight", "in the file only"));
  EXPECT_EQ(report.loaded.size(), module_state(*b).size() - 1);
  EXPECT_TRUE(b->features[2]->as<DepthwiseSeparableImpl>()->dw->weight.equal(kept));
  EXPECT_TRUE(b->conv1->weight.equal(a->conv1->weight));

  save_state_dict(replaced(module_state(*a), "fc.bias", at::zeros({3})), dir.file("misshapen.pth"));
  EXPECT_NE(import_error(*b, dir.file("misshapen.pth"), loose).find("fc.bias: model [10], file [3]"),
            std::string::npos);
}

TEST(WeightImport, ClassifierIsSkippedWhenItsClassCountDiffersAndThatIsAsked) {
  testing::TempDir dir;
  auto imagenet_like = tiny_mobilenet(1, /*num_classes=*/1000);
  save_state_dict(*imagenet_like, dir.file("pretrained.pth"));

  auto subset = tiny_mobilenet(2, /*num_classes=*/10);
  const at::Tensor fc_before = subset->fc->weight.clone();
  const std::string error = import_error(*subset, dir.file("pretrained.pth"));
  EXPECT_NE(error.find("fc.weight: model [10, 256], file [1000, 256]"), std::string::npos) << error;
  EXPECT_NE(error.find("fc.bias: model [10], file [1000]"), std::string::npos) << error;
  EXPECT_NE(error.find("skip_classifier_on_class_mismatch"), std::string::npos) << error;

  WeightImportOptions fine_tune;
  fine_tune.skip_classifier_on_class_mismatch = true;
  const WeightImportReport report = import_weights(*subset, dir.file("pretrained.pth"), fine_tune);
  EXPECT_TRUE(has_skipped(report, "fc.weight", "1000 classes in the file, 10 in the model"));
  EXPECT_TRUE(has_skipped(report, "fc.bias", "1000 classes in the file"));
  EXPECT_EQ(report.skipped.size(), 2u);
  EXPECT_TRUE(subset->fc->weight.equal(fc_before));
  EXPECT_TRUE(subset->conv1->weight.equal(imagenet_like->conv1->weight));
  EXPECT_TRUE(subset->features[12]->as<DepthwiseSeparableImpl>()->pw_bn->running_var.equal(
      imagenet_like->features[12]->as<DepthwiseSeparableImpl>()->pw_bn->running_var));

  // Same class count: the option changes nothing, the classifier loads.
  auto same = tiny_mobilenet(3, /*num_classes=*/1000);
  EXPECT_TRUE(import_weights(*same, dir.file("pretrained.pth"), fine_tune).skipped.empty());
  EXPECT_TRUE(same->fc->weight.equal(imagenet_like->fc->weight));
}

TEST(WeightImport, ExcludedKeysAreNeitherLoadedNorReportedMissing) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  save_state_dict(without(module_state(*a), "features.4.pw_bn.weight"), dir.file("a.pth"));

  auto b = tiny_mobilenet(2);
  const at::Tensor pw_bn_bias = b->features[4]->as<DepthwiseSeparableImpl>()->pw_bn->bias.clone();
  WeightImportOptions options;
  options.exclude = R"(^features\.4\.pw_bn\.)";
  const WeightImportReport report = import_weights(*b, dir.file("a.pth"), options);
  EXPECT_TRUE(has_skipped(report, "features.4.pw_bn.weight", "exclude pattern"));
  EXPECT_TRUE(has_skipped(report, "features.4.pw_bn.bias", "exclude pattern"));
  EXPECT_TRUE(b->features[4]->as<DepthwiseSeparableImpl>()->pw_bn->bias.equal(pw_bn_bias));
  EXPECT_TRUE(b->features[4]->as<DepthwiseSeparableImpl>()->pw->weight.equal(
      a->features[4]->as<DepthwiseSeparableImpl>()->pw->weight));

  options.exclude = "([";
  try {
    import_weights(*b, dir.file("a.pth"), options);
    ADD_FAILURE() << "an invalid pattern was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'(['"), std::string::npos) << e.what();
  }
}

TEST(WeightImport, BatchCountersMissingFromTheFileKeepTheModelsValues) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  NamedTensors state;
  for (const auto& e : module_state(*a)) {
    if (e.first.find("num_batches_tracked") == std::string::npos) state.push_back(e);
  }
  save_state_dict(state, dir.file("old.pth"));

  auto b = tiny_mobilenet(2);
  b->bn1->num_batches_tracked.fill_(7);
  const WeightImportReport report = import_weights(*b, dir.file("old.pth"));
  EXPECT_EQ(b->bn1->num_batches_tracked.item<int64_t>(), 7);
  EXPECT_TRUE(has_skipped(report, "bn1.num_batches_tracked", "keeps the model's counter"));
  EXPECT_EQ(report.loaded.size(), state.size());
  EXPECT_TRUE(b->bn1->running_mean.equal(a->bn1->running_mean));
}

TEST(WeightImport, NonexistentFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  auto b = tiny_mobilenet(1);
  const std::string error = import_error(*b, dir.file("no-such.pth"));
  EXPECT_NE(error.find("'" + dir.file("no-such.pth") + "' does not exist"), std::string::npos) << error;
}

TEST(WeightImport, TruncatedFilesAreErrorsNamingThem) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  save_state_dict(*a, dir.file("whole.pth"));
  const std::string bytes = testing::read_bytes(dir.file("whole.pth"));
  for (const size_t keep : {bytes.size() / 2, bytes.size() - 10}) {
    const std::string path = dir.write("cut-" + std::to_string(keep) + ".pth", bytes.substr(0, keep));
    auto b = tiny_mobilenet(2);
    const std::string error = import_error(*b, path);
    EXPECT_NE(error.find("'" + path + "'"), std::string::npos) << error;
    EXPECT_NE(error.find("damaged, truncated"), std::string::npos) << error;
  }
}

// Our zip check (io/zip_archive.h) runs before LibTorch's reader: the archives LibTorch and
// PyTorch write pass it, and a damaged central directory is refused in its words.
TEST(WeightImport, ArchivesWithUnsafeEntriesAreRefusedBeforeLibTorchOpensThem) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  save_state_dict(*a, dir.file("whole.pth"));
  const std::vector<io::ZipEntry> entries = io::check_zip_archive(dir.file("whole.pth"));
  const auto pickle = std::find_if(entries.begin(), entries.end(), [](const io::ZipEntry& e) {
    return e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0;
  });
  ASSERT_NE(pickle, entries.end());
  const std::string bytes = testing::read_bytes(dir.file("whole.pth"));
  const size_t central_entry = testing::find_central_entry(bytes, pickle->name);
  ASSERT_NE(central_entry, std::string::npos);
  const size_t central_name = central_entry + 46;

  std::string escaping = bytes;
  escaping.replace(central_name, 3, "../");
  std::string huge = bytes;
  for (const size_t field : {central_entry + 20, central_entry + 24}) {  // both sizes: 4 GiB - 16
    for (int i = 0; i < 4; ++i) huge[field + i] = static_cast<char>(i == 0 ? 0xf0 : 0xff);
  }
  const std::map<std::string, std::string> cases = {
      {dir.write("escaping.pth", escaping), "has a '..' component in its name"},
      {dir.write("huge.pth", huge), "has 4294967280 bytes (4.0 GiB) of data at offset"},
  };
  for (const auto& [path, what] : cases) {
    auto b = tiny_mobilenet(2);
    const std::string error = import_error(*b, path);
    EXPECT_NE(error.find("weights file '" + path + "' is not a sound zip archive (damaged, truncated or crafted): "),
              std::string::npos)
        << error;
    EXPECT_NE(error.find(what), std::string::npos) << error;
  }
}

TEST(WeightImport, FilesInNeitherFormatAreErrorsNamingTheAcceptedFormats) {
  testing::TempDir dir;
  // A zip archive PyTorch's reader accepts, but without a pickle of either format.
  {
    caffe2::serialize::PyTorchStreamWriter writer(dir.file("other.zip"));
    const std::string notes = "not weights";
    writer.writeRecord("notes.txt", notes.data(), notes.size());
    writer.writeEndOfFile();
  }
  const std::map<std::string, std::string> cases = {
      {dir.write("text.pth", "conv1.weight 1 2 3\n"), "is not a zip archive"},
      {dir.write("empty.pth", ""), "is empty"},
      {dir.file("other.zip"), "is a zip archive without data.pkl"},
  };
  auto b = tiny_mobilenet(1);
  for (const auto& [path, what] : cases) {
    const std::string error = import_error(*b, path);
    EXPECT_NE(error.find("'" + path + "' " + what), std::string::npos) << error;
    EXPECT_NE(error.find("torch.save(model.state_dict(), path)"), std::string::npos) << error;
    EXPECT_NE(error.find("TorchScript archive"), std::string::npos) << error;
  }
}

TEST(WeightImport, MobileNetV1RoundTripRestoresEveryParameterAndBuffer) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  save_state_dict(*a, dir.file("mobilenet.pth"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("mobilenet.pth.tmp")));

  auto b = tiny_mobilenet(2);
  const WeightImportReport report = import_weights(*b, dir.file("mobilenet.pth"));
  const NamedTensors sa = module_state(*a), sb = module_state(*b);
  ASSERT_EQ(sa.size(), sb.size());
  EXPECT_EQ(report.loaded.size(), sa.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(sa[i].second.equal(sb[i].second)) << sa[i].first;
  }
  const at::Tensor x = at::randn({3, 1, 16, 16});
  EXPECT_TRUE(eval_logits(*a, x).equal(eval_logits(*b, x)));
}

TEST(WeightImport, PyTorchReadsOurStateDictWithItsKeysInOrder) {
  testing::TempDir dir;
  auto a = tiny_mobilenet(1);
  save_state_dict(*a, dir.file("ours.pth"));
  const std::string out = run_python(
      {"-c",
       "import sys, torch\n"
       "d = torch.load(sys.argv[1])\n"
       "for k, v in d.items(): print(k, list(v.shape), repr(v.double().sum().item()))\n",
       dir.file("ours.pth")});
  std::istringstream lines(out);
  for (const auto& [key, tensor] : module_state(*a)) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << "PyTorch read fewer keys than we wrote; output:\n" << out;
    EXPECT_EQ(line.substr(0, line.find(' ')), key);
    const double sum = std::stod(line.substr(line.rfind(' ') + 1));
    const double expected = tensor.to(at::kDouble).sum().item<double>();
    EXPECT_NEAR(sum, expected, 1e-9 * std::max(1.0, std::abs(expected))) << key;
  }
  std::string extra;
  EXPECT_FALSE(std::getline(lines, extra)) << "PyTorch read a key we did not write: " << extra;
}

// Files PyTorch writes that are valid but unusual, and files that are not state_dicts, written
// once per test process by one Python run.
std::string python_written_files() {
  static testing::TempDir dir;
  static bool written = false;
  if (!written) {
    run_python({"-c",
                "import sys, torch\n"
                "out = sys.argv[1]\n"
                "base = torch.arange(12, dtype=torch.float32).reshape(3, 4)\n"
                "unusual = {'half': torch.tensor([1.5, -2.25], dtype=torch.float16),\n"
                "           'transposed': base.t(), 'row': base[1], 'scalar': torch.tensor(7),\n"
                "           'flags': torch.tensor([True, False])}\n"
                "torch.save(unusual, out + '/protocol4.pth', pickle_protocol=4)\n"
                "sd = {'w': torch.ones(2), 'b': torch.zeros(2)}\n"
                "torch.save({'model': sd, 'epoch': 3}, out + '/checkpoint.pth')\n"
                "torch.save(sd, out + '/legacy.pth', _use_new_zipfile_serialization=False)\n"
                "torch.save(torch.nn.Linear(2, 2), out + '/module.pth')\n",
                dir.path().string()});
    written = true;
  }
  return dir.path().string();
}

TEST(WeightImport, ViewsHalfPrecisionAndPickleProtocol4AreReadAsPyTorchWroteThem) {
  const WeightsFile file = read_weights_file(python_written_files() + "/protocol4.pth");
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  ASSERT_EQ(file.tensors.size(), 5u);
  EXPECT_EQ(file.tensors[0].first, "half");
  EXPECT_EQ(tensor_named(file.tensors, "half").scalar_type(), at::kHalf);
  EXPECT_TRUE(tensor_named(file.tensors, "half").to(at::kFloat).equal(at::tensor({1.5f, -2.25f})));
  EXPECT_TRUE(tensor_named(file.tensors, "transposed").equal(base.t()));
  EXPECT_TRUE(tensor_named(file.tensors, "row").equal(base[1]));
  EXPECT_EQ(tensor_named(file.tensors, "scalar").dim(), 0);
  EXPECT_EQ(tensor_named(file.tensors, "scalar").item<int64_t>(), 7);
  EXPECT_EQ(tensor_named(file.tensors, "flags").scalar_type(), at::kBool);
  EXPECT_TRUE(tensor_named(file.tensors, "flags").equal(at::tensor({1, 0}).to(at::kBool)));
}

TEST(WeightImport, PyTorchFilesThatAreNotStateDictsAreRejectedWithTheReason) {
  const std::string dir = python_written_files();
  const std::map<std::string, std::string> cases = {
      {"checkpoint.pth", "entry 'model' is itself a dict"},
      {"legacy.pth", "legacy (before 1.6) torch.save format"},
      {"module.pth", "pickled Python object (torch.nn.modules.linear.Linear)"},
  };
  for (const auto& [file, reason] : cases) {
    const std::string path = dir + "/" + file;
    try {
      read_weights_file(path);
      ADD_FAILURE() << file << " was accepted";
    } catch (const WeightImportError& e) {
      const std::string error = e.what();
      EXPECT_NE(error.find("'" + path + "'"), std::string::npos) << error;
      EXPECT_NE(error.find(reason), std::string::npos) << error;
    }
  }
}

}  // namespace
}  // namespace ubp::models

#include "models/torch_pickle.h"

namespace ubp::models {
namespace {

using namespace std::string_literals;  // pickles hold NUL bytes

// Pickles written opcode by opcode: what a damaged or hostile data.pkl can hold.
std::string hostile_error(const std::string& pickle) {
  const StorageLoader no_storage = [](const std::string& key, at::ScalarType, int64_t) -> at::Tensor {
    throw std::runtime_error("no storage '" + key + "' expected");
  };
  try {
    unpickle_tensor_dict(pickle, no_storage);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string long_binget(uint32_t index) {
  std::string op = "j";
  for (int i = 0; i < 4; ++i) op += static_cast<char>((index >> (8 * i)) & 0xff);
  return op;
}

// 3 000 000 nested tuples used to crash the training run (SIGSEGV): the tree was built without a
// bound and freed recursively.
TEST(TorchPickle, TuplesNestedMillionsDeepAreRefusedWithoutCrashing) {
  std::string pickle = "\x80\x02)";
  pickle.append(3000000, '\x85');  // TUPLE1, each around the previous tuple
  pickle += '.';
  const std::string error = hostile_error(pickle);
  EXPECT_NE(error.find("nested deeper than 1000 levels"), std::string::npos) << error;
}

// Memo references link containers after they were built, which the depth count cannot follow:
// list i gets list i + 1 appended after list i already sits in list i - 1. A chain 300 000 deep
// is then freed without recursion.
TEST(TorchPickle, AChainLinkedThroughTheMemoIsFreedWithoutRecursion) {
  // 200 000 lists: deep enough for a recursive free to overflow the stack, and within the
  // reader's cap of 1 000 000 values (each list costs 4: its push, memo entry and two GETs).
  constexpr uint32_t kLists = 200000;
  std::string pickle = "\x80\x02";
  for (uint32_t i = 0; i < kLists; ++i) pickle += "]\x94" "0";  // EMPTY_LIST, MEMOIZE, POP
  for (uint32_t i = 0; i + 1 < kLists; ++i) {
    pickle += long_binget(i) + long_binget(i + 1) + "a0";  // list i .append(list i + 1), POP
  }
  pickle += long_binget(0) + ".";
  const std::string error = hostile_error(pickle);
  EXPECT_NE(error.find("the file holds a list"), std::string::npos) << error;
}

TEST(TorchPickle, SizesThatWouldOverflowAreRefused) {
  // A string whose length runs past the end, and a tensor view whose (size - 1) * stride
  // overflows int64.
  EXPECT_NE(hostile_error(std::string("\x80\x02X\xff\xff\xff\x7f", 7)).find("longer than the rest"),
            std::string::npos);
  const StorageLoader four_floats = [](const std::string&, at::ScalarType dtype, int64_t numel) {
    return at::zeros({numel}, at::TensorOptions().dtype(dtype));
  };
  // {'w': _rebuild_tensor_v2(storage('storage', FloatStorage, '0', 'cpu', 4), 0, (2**62, 2), (2**62, 1), False, {})}
  std::string pickle = "\x80\x02}(X\x01\x00\x00\x00w"s;
  pickle += "ctorch._utils\n_rebuild_tensor_v2\n(";
  pickle += "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"s + "0X\x03\x00\x00\x00"s + "cpuK\x04tQ";
  pickle += "K\x00"s;
  const std::string huge("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40", 10);  // LONG1 2**62
  pickle += huge + "K\x02\x86" + huge + "K\x01\x86";
  pickle += "\x89}tRu.";
  try {
    unpickle_tensor_dict(pickle, four_floats);
    ADD_FAILURE() << "a view of 2^62 x 2 elements over 4 floats was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("past its storage of 4 elements"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ubp::models
