// ubp export: a packed-model file (device/README.md) for the device engine, from the final
// model of a training run, from a saved model file, or from a randomly initialised model with
// masks chosen on its weights (for latency benchmarks, where accuracy does not matter).
#include <torch/utils.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "config/schema.h"
#include "export/final_model.h"
#include "export/packed_export.h"
#include "runner/runner.h"
#include "ubp/device/model_file.h"
#include "ubp/results/store.h"
#include "ubp/support/error.h"
#include "ubp/support/strings.h"
#include "ubp/support/text.h"

namespace ubp::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string db, run, checkpoint;
  std::string arch;
  double width = 1.0;
  int64_t resolution = 224, classes = 1000;
  uint64_t seed = 0;
  std::string method = "none";
  double sparsity = 0.8;
  std::string block;  // RxC; default: the saved model's grid, 4x1 from scratch
  std::string layers = "pointwise";
  std::string kernel;
  std::string out;
  std::string name;
};

// Bad input (support::exit_code: status 2).
struct BadInput : support::Error {
  explicit BadInput(const std::string& what) : support::Error(support::ErrorKind::kInput, what) {}
};

algorithms::BlockShape block_of(const std::string& text) {
  const auto shape = support::parse_block_shape(text);
  if (!shape || shape->first < 1 || shape->second < 1 || shape->first > 999 || shape->second > 999) {
    throw BadInput("--block '" + support::excerpt(text) + "' is not a block shape (accepted: RxC with sides 1 to 999, e.g. 4x1)");
  }
  return {static_cast<int>(shape->first), static_cast<int>(shape->second)};
}

// The final model of the run `requested_run` (an id or its first digits) names in `db`.
std::string final_model_of_run(const std::string& db, const std::string& requested_run) {
  if (!fs::exists(db)) throw BadInput("database " + db + " does not exist");
  const results::Store store = results::Store::open(db, results::OpenMode::kReadOnly);
  const auto row = [&] {
    try {
      return store.find_run(store.resolve_run_id(requested_run));
    } catch (const results::StoreError& e) {  // no such run, or an ambiguous prefix
      throw BadInput(e.what());
    }
  }();
  const std::string run_id = row->run_id;
  if (row->status != results::RunStatus::kDone) {
    throw BadInput("run " + run_id + " is " + results::to_string(row->status) +
                   ", not done; its final model is kept only when it finishes (`ubp run` it)");
  }
  const std::string path =
      (fs::path(runner::models_dir_for(db, run_id)) / exporter::kFinalModelFile).string();
  if (!fs::exists(path)) {
    throw BadInput("run " + run_id + " is done but kept no model at " + path +
                   " (only `kind: training` runs keep one, and only since ubp export exists)");
  }
  return path;
}

int run_export(const ExportArgs& args) {
  const exporter::ExportKernel kernel = exporter::export_kernel_from_string(args.kernel);
  exporter::ExportOptions options;
  options.kernel = kernel;
  std::shared_ptr<models::Classifier> model;
  std::map<std::string, at::Tensor> masks;
  std::string source;
  if (!args.arch.empty()) {
    models::ModelSpec spec;
    spec.name = args.arch;
    spec.width = args.width;
    spec.num_classes = args.classes;
    torch::manual_seed(args.seed);
    model = models::make_model(spec);
    models::init_conv_bn_linear(*model);
    model->eval();
    options.block = block_of(args.block.empty() ? "4x1" : args.block);
    options.input_shape = {spec.in_channels, args.resolution, args.resolution};
    exporter::MaskChoice choice;
    choice.method = args.method;
    choice.block = options.block;
    choice.sparsity = args.sparsity;
    choice.layers = args.layers;
    masks = exporter::choose_masks_for_export(*model, choice);
    source = args.arch + " (random weights, seed " + std::to_string(args.seed) + ")";
    options.name = args.name.empty() ? args.arch : args.name;
  } else {
    const std::string path =
        args.checkpoint.empty() ? final_model_of_run(args.db, args.run) : args.checkpoint;
    exporter::SavedModel saved = exporter::load_saved_model(path);
    model = saved.model;
    masks = std::move(saved.masks);
    options.block = args.block.empty() ? saved.block : block_of(args.block);
    options.input_shape = saved.input_shape;
    source = path;
    options.name = !args.name.empty()      ? args.name
                   : !saved.run_id.empty() ? saved.spec.name + "-" + saved.run_id
                                           : saved.spec.name;
  }
  const device::PackedModel packed = exporter::export_model(*model, masks, options);
  device::write_model_file(args.out, packed);
  const exporter::ExportSummary s = exporter::summarize_export(packed, masks);
  const std::string naive =
      s.unaligned_naive > 0 ? ", " + std::to_string(s.unaligned_naive) + " unaligned-naive" : "";
  std::printf(
      "%s: %lld layers (%lld dense, %lld aligned, %lld unaligned%s), %lld masked layers "
      "keep %.2f%% of their weights, %s kernel, %lld bytes, from %s\n",
      args.out.c_str(), static_cast<long long>(s.layers), static_cast<long long>(s.dense),
      static_cast<long long>(s.aligned), static_cast<long long>(s.unaligned), naive.c_str(),
      static_cast<long long>(s.masked_layers), 100.0 * s.kept_fraction,
      exporter::to_string(kernel).c_str(), static_cast<long long>(fs::file_size(args.out)),
      source.c_str());
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* sub = app.add_subcommand(
      "export",
      "Write a packed-model file for the device engine (batch norm folded, masked layers in the\n"
      "chosen kernel's format): from a done training run (--db, --run), a saved model file\n"
      "(--checkpoint), or a randomly initialised model with masks chosen on its weights (--arch).");
  auto* db = sub->add_option("--db", args->db, "Results database of the run");
  auto* run =
      sub->add_option("--run", args->run, "Run id, or its first digits (`ubp db runs DB` lists them)");
  auto* checkpoint = sub->add_option("--checkpoint", args->checkpoint,
                                     "A final model file (<db dir>/models/<run id>/model.pt)")
                         ->check(CLI::ExistingFile);
  auto* arch = sub->add_option("--arch", args->arch, "Build a random model instead")
                   ->check(CLI::IsMember({"mobilenet_v1", "resnet18", "resnet50"}));
  auto* width = sub->add_option("--width", args->width, "MobileNetV1 width multiplier")
                    ->capture_default_str()
                    ->check(CLI::PositiveNumber);
  auto* resolution = sub->add_option("--resolution", args->resolution, "Input side in pixels")
                         ->capture_default_str()
                         ->check(CLI::Range(int64_t{8}, int64_t{4096}));
  auto* classes = sub->add_option("--classes", args->classes, "Classifier outputs")
                      ->capture_default_str()
                      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  auto* seed =
      sub->add_option("--seed", args->seed, "Seed of the random weights")->capture_default_str();
  auto* method =
      sub->add_option("--method", args->method,
                      "Selector choosing the masks (none: dense), e.g. bed, aligned, optimal")
          ->capture_default_str();
  auto* sparsity = sub->add_option("--sparsity", args->sparsity, "Fraction of pruned weights")
                       ->capture_default_str()
                       ->check(CLI::Range(0.0, 1.0));
  auto* layers = sub->add_option("--layers", args->layers, "Layers the masks prune")
                     ->capture_default_str()
                     ->check(CLI::IsMember({"pointwise", "conv", "all"}));
  sub->add_option("--block", args->block,
                  "Block shape RxC of the masks (default: the saved model's, 4x1 with --arch)");
  sub->add_option("--kernel", args->kernel,
                  "Storage of the masked layers (unaligned-naive: the unaligned blocks run by the "
                  "naive kernel instead of WROS)")
      ->required()
      ->check(CLI::IsMember({"dense", "aligned", "unaligned", "unaligned-naive"}));
  sub->add_option("--out", args->out, "The packed-model file to write")->required();
  sub->add_option("--name", args->name, "Model name in the file (default: model and run id)");
  for (auto* only_random : {width, resolution, classes, seed, method, sparsity, layers}) {
    only_random->needs(arch);
  }
  db->needs(run);
  run->needs(db);
  checkpoint->excludes(db)->excludes(run)->excludes(arch);
  arch->excludes(db)->excludes(run);
  return {sub, [args] {
            if (args->arch.empty() && args->checkpoint.empty() && args->run.empty()) {
              return fail(
                  "ubp export needs a source: --db DB --run ID, --checkpoint FILE or "
                  "--arch NAME",
                  2);
            }
            try {
              return run_export(*args);
            } catch (const support::Error& e) {
              return fail(e.what(), support::exit_code(e.kind()));
            } catch (const std::invalid_argument& e) {
              return fail(e.what(), 2);
            } catch (const results::StoreError& e) {
              return fail(e.what(), 2);
            }
          }};
}

}  // namespace ubp::cli
