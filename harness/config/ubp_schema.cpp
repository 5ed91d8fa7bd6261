// Every key a ubp config may contain. Later capabilities add their sections here.
#include "config/plan.h"
#include "experiments/experiment.h"
#include "experiments/layer_shapes.h"
#include "ubp/algorithms/selector.h"

namespace ubp::config {

namespace {

// `latency`: export each finished training run and measure it on devices (device/ protocol).
// Not part of the run id: the same trained model measured elsewhere is the same experiment, and
// a run already done is not trained again to be measured (use `ubp latency` for that).
void add_latency_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> training{"training"};
  auto key = [&](const char* path, ValueType type, Json default_value, const char* help) -> KeySpec& {
    return s.add_and_get(KeySpec(path, type, std::move(default_value), help).only_for(training).campaign_wide());
  };
  key("latency.devices", T::kStringList, Json::array(),
      "devices to measure on, a list: names of configs/devices/<name>.yaml (local is built in) "
      "or YAML files; empty: no latency (a comma-separated string is still read, with a warning)")
      .formerly_comma_string();
  key("latency.kernels", T::kString, "auto",
      "packed formats to export and measure: auto (dense and the method's own format) or a "
      "comma-separated list of dense, aligned, unaligned (WROS), unaligned-naive (the unaligned blocks "
      "run by the naive kernel, without WROS's output ring)");
  key("latency.threads", T::kIntList, Json::array({1}), "thread counts to measure each model with").range(1, 256);
  key("latency.sessions", T::kInt, 3, "independent sessions, each measuring every model once in a shuffled order")
      .range(1, 100);
  key("latency.cooldown_s", T::kFloat, 1.0, "idle seconds before each measurement").range(0, 600);
  key("latency.warmup", T::kInt, 10, "untimed iterations before timing").range(0, 100000);
  key("latency.warmup_s", T::kFloat, 1.0,
      "and keep warming up until this many seconds have passed, so a clock that ramps up after the "
      "cool-down (a VM host's, a phone governor's) runs at its steady speed before timing starts")
      .range(0, 600);
  key("latency.iterations", T::kInt, 30, "at least this many timed iterations per session").range(1, 1000000);
  key("latency.min_seconds", T::kFloat, 1.0, "and keep timing until this many seconds have passed").range(0, 3600);
  key("latency.min_sample_ms", T::kFloat, 5.0,
      "each timed sample groups enough inferences to last at least this many milliseconds (decided once "
      "per model and thread count before measuring, recorded as iterations_per_sample; times stay per "
      "inference); 0: one inference per sample")
      .range(0, 10000);
  key("latency.max_cv", T::kFloat, 0.03,
      "a measurement whose spread (per session, or of the session medians; in latency.dispersion) "
      "passes this is marked invalid")
      .range(0.0001, 10);
  key("latency.dispersion", T::kString, "robust",
      "the per-session spread max_cv bounds: robust (1.4826 * median absolute deviation / median, "
      "blind to a few samples a virtual machine's scheduler delayed) or classic (stddev / mean)")
      .one_of({"robust", "classic"});
  key("latency.noisy_retries", T::kInt, 2,
      "a session whose spread passes max_cv is measured again, at most this often; and sessions whose "
      "medians disagree by more than max_cv cost at most this many more sessions")
      .range(0, 100);
}

// `slurm`: defaults for the job array `ubp plan --slurm` writes (its flags win). Campaign-wide:
// where a sweep runs never changes what it computes.
void add_slurm_keys(Schema& s) {
  using T = ValueType;
  s.add(KeySpec("slurm.partition", T::kString, "", "partition of the job array; empty: the cluster's default")
            .campaign_wide());
  s.add(KeySpec("slurm.time", T::kString, "",
                "time limit of each array task, as sbatch takes it (MM, HH:MM:SS, D-HH:MM:SS); empty: "
                "the partition's default")
            .campaign_wide());
  s.add(KeySpec("slurm.cpus", T::kInt, 1, "CPUs per array task (sbatch --cpus-per-task)").range(1, 4096).campaign_wide());
  s.add(KeySpec("slurm.mem", T::kString, "",
                "memory per array task, as sbatch takes it (e.g. 4G, 500M); empty: the partition's default")
            .campaign_wide());
  s.add(KeySpec("slurm.parallel", T::kInt, 0, "array tasks running at once (the %P of --array); 0: no limit")
            .range(0, 1000000)
            .campaign_wide());
  s.add(KeySpec("slurm.ntasks", T::kInt, 1,
                "processes training each array task's run together (srun, train.distributed with world_size "
                "0); 1: one process, no srun")
            .range(1, 4096)
            .campaign_wide());
  s.add(KeySpec("slurm.ntasks_per_node", T::kInt, 1,
                "of those processes, at most this many per node (nodes = ceil(ntasks / ntasks_per_node))")
            .range(1, 4096)
            .campaign_wide());
  s.add(KeySpec("slurm.interface", T::kString, "",
                "network interface Gloo uses between the processes of a run, e.g. eth0 or ib0; empty: the "
                "address of the node's host name")
            .campaign_wide());
}

// `train.distributed`: one run trained by several processes (harness/distributed/). Not part of
// the run id nor of the dense baseline's key: the world size changes how the same experiment is
// computed, and its results agree with one process's within floating-point tolerance (the
// gradient sums are added in another order; batch norm normalises each process's slice).
void add_distributed_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> training{"training"};
  auto key = [&](const char* path, ValueType type, Json default_value, const char* help) -> KeySpec& {
    return s.add_and_get(KeySpec(path, type, std::move(default_value), help).only_for(training).not_identity());
  };
  key("train.distributed.world_size", T::kInt, 1,
      "processes training the run together: 1 (off), N, or 0 to take SLURM_NTASKS and SLURM_PROCID "
      "(the srun tasks of `ubp plan --slurm --ntasks N`)")
      .range(0, 4096);
  key("train.distributed.rank", T::kInt, 0, "this process's rank, 0 .. world_size-1 (rank 0 writes results)")
      .range(0, 4095);
  key("train.distributed.rendezvous", T::kString, "",
      "where the processes meet: file:PATH (a file on a path all of them reach) or tcp:HOST:PORT "
      "(rank 0 listens)");
  key("train.distributed.interface", T::kString, "",
      "network interface for Gloo's traffic, e.g. lo or eth0; empty: the address of the host name");
  key("train.distributed.timeout_s", T::kFloat, 600.0, "a collective waiting longer than this fails the run")
      .range(1, 86400);
  key("train.distributed.sync_batch_norm", T::kBool, true,
      "batch norm normalises with the statistics of the whole global batch (all-reduced per layer), "
      "as one process would; false: each process's slice on its own, as DDP without SyncBatchNorm");
}

// `kind: training` (docs/method.md section 6): data, model, dense training, pruning schedule.
void add_training_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> training{"training"};
  auto key = [&](const char* path, ValueType type, Json default_value, const char* help) -> KeySpec& {
    return s.add_and_get(KeySpec(path, type, std::move(default_value), help).only_for(training));
  };

  // data
  key("data.dataset", T::kString, "fashion_mnist",
      "fashion_mnist (Debian's dataset-fashion-mnist), imagenet (a folder tree root/{train,val}/<class>/), "
      "or synthetic (seeded class patterns, for tests)")
      .one_of({"fashion_mnist", "imagenet", "synthetic"});
  key("data.root", T::kString, "",
      "dataset folder; empty: /usr/share/datasets/fashion-mnist for fashion_mnist (required for imagenet)");
  key("data.image_size", T::kInt, 32, "side of the (square) network input in pixels").range(8, 1024);
  key("data.num_classes", T::kInt, 0, "imagenet: classes in the subset (0: all, or the class list)").range(0, 100000);
  key("data.class_list", T::kString, "", "imagenet: file with one class folder name per line (overrides num_classes)");
  key("data.images_per_class", T::kInt, 0, "imagenet: training images per class (0: all)").range(0, 1000000);
  key("data.subset_seed", T::kInt, 0, "imagenet: seed of the choice of classes and images").at_least(0);
  key("data.val_images_per_class", T::kInt, 0, "imagenet: validation images per class (0: all)").range(0, 1000000);
  key("data.train_limit", T::kInt, 0, "fashion_mnist/synthetic: use only the first N training images (0: all)")
      .range(0, 100000000);
  key("data.test_limit", T::kInt, 0, "fashion_mnist/synthetic: use only the first N test images (0: all)")
      .range(0, 100000000);
  key("data.skip_bad_images", T::kBool, false,
      "imagenet: skip and count unreadable images instead of failing the run");
  key("data.loader_threads", T::kInt, 0, "imagenet: decoding threads (0: all cores)").range(0, 1024).not_identity();
  key("data.cache", T::kString, "", "imagenet: preprocessed cache file (built on first use; empty: none)")
      .not_identity();

  // model
  key("model.name", T::kString, "mobilenet_v1", "network").one_of({"mobilenet_v1", "resnet18", "resnet50"});
  key("model.width", T::kFloat, 1.0, "MobileNetV1 width multiplier").range(0.05, 4);
  key("model.small_input", T::kBool, false,
      "stem for 28 to 64 pixel inputs (total stride 8 instead of 32)");
  key("model.pretrained", T::kString, "",
      "weights to start from: a PyTorch state_dict (torchvision names) or a TorchScript archive");

  // train: the dense baseline (cached by its own hash, shared by the pruned runs)
  key("train.epochs", T::kInt, 10, "epochs of dense training (0 with model.pretrained: use it as is)").range(0, 100000);
  key("train.batch_size", T::kInt, 128, "images per optimizer step").range(1, 65536);
  key("train.lr", T::kFloat, 0.1, "peak learning rate").range(0, 100);
  key("train.lr_schedule", T::kString, "cosine", "learning-rate decay over the phase")
      .one_of({"cosine", "multistep", "constant"});
  key("train.milestones", T::kIntList, Json::array(), "multistep: epochs at which the rate is multiplied by gamma")
      .at_least(1);
  key("train.gamma", T::kFloat, 0.1, "multistep: factor at each milestone").range(0, 1);
  key("train.warmup_epochs", T::kFloat, 0.0, "linear warm-up from lr/100 to lr (epochs, fractions allowed)")
      .range(0, 100000);
  key("train.momentum", T::kFloat, 0.9, "SGD momentum").range(0, 1);
  key("train.nesterov", T::kBool, true, "Nesterov momentum");
  key("train.weight_decay", T::kFloat, 4e-5, "L2 weight decay").range(0, 1);
  key("train.label_smoothing", T::kFloat, 0.1, "label smoothing of the cross-entropy").range(0, 1);
  key("train.bn_recalibration_batches", T::kInt, 50,
      "before the final evaluation of every model (dense and pruned), recompute the batch-norm running "
      "statistics as the average over this many training batches (0: evaluate with the running averages "
      "kept during training)").range(0, 1000000);
  key("train.seed", T::kInt, 0, "seed of the dense baseline (initialisation and data order)").at_least(0);
  key("train.threads", T::kInt, 0,
      "LibTorch intra-op threads (0: the cores this process may run on, shared with the other --nproc workers; "
      "under Slurm at most SLURM_CPUS_PER_TASK)").range(0, 1024).not_identity();

  // prune: which layers, and how the sparsity is reached (the selector keys are above)
  key("prune.layers", T::kString, "pointwise", "layers pruned: 1x1 convolutions, k x k convolutions, or both")
      .one_of({"pointwise", "conv", "all"});
  // The pruner compiles it with std::regex, whose compiler recurses once per character: a long
  // pattern would overflow the stack instead of giving an error.
  key("prune.layer_regex", T::kString, "", "if set, only layers whose module name matches (ECMAScript regex)")
      .at_most_chars(1000);
  key("prune.include_first_conv", T::kBool, false, "also prune the first convolution");
  key("prune.include_classifier", T::kBool, false, "also prune the classifier (as a 1x1 layer)");
  key("prune.schedule", T::kString, "gmp",
      "oneshot (masks chosen once on the dense weights, then fine-tuning), gradual magnitude pruning (sparsity "
      "ramp, masks re-selected) or ADMM (the authors' loop)")
      .one_of({"oneshot", "gmp", "admm"});
  key("prune.reselect", T::kString, "shadow",
      "gmp: what a re-selection ranks: 'shadow' ranks every weight, a pruned one by its last unpruned value, so a "
      "dropped block can come back; 'nested' ranks the masked weights, so each mask lies inside the previous one")
      .one_of({"shadow", "nested"});
  key("prune.finetune_lr", T::kString, "auto",
      "learning rate of fine-tuning: 'continue' the pruning phase's cosine, or 'restart' a cosine from prune.lr "
      "when fine-tuning begins; 'auto': continue for gmp, restart for admm (oneshot is one phase)")
      .one_of({"auto", "continue", "restart"});
  key("prune.ramp", T::kString, "cubic", "gmp: shape of the sparsity ramp (constant: one-shot)")
      .one_of({"cubic", "linear", "constant"});
  key("prune.power", T::kFloat, 3.0, "gmp: exponent of the cubic ramp").range(0.1, 100);
  key("prune.initial_sparsity", T::kFloat, 0.0, "gmp: sparsity at the start of the ramp").range(0, 1);
  key("prune.ramp_epochs", T::kFloat, 1.0, "gmp: epochs over which the sparsity ramps (masks frozen after)")
      .range(0, 100000);
  key("prune.update_every", T::kInt, 50, "gmp: re-select the masks every this many units").range(1, 100000000);
  key("prune.update_unit", T::kString, "step", "gmp: unit of update_every").one_of({"step", "epoch"});
  key("prune.admm_epochs", T::kInt, 1, "admm: epochs of training with the ADMM penalty").range(0, 100000);
  key("prune.rho", T::kFloat, 1e-3, "admm: penalty weight rho").range(0, 1e6);
  key("prune.finetune_epochs", T::kFloat, 1.0, "epochs of fine-tuning with the final masks fixed").range(0, 100000);
  key("prune.lr", T::kFloat, 0.01, "peak learning rate of the pruning and fine-tuning phases (cosine)").range(0, 100);
}

Schema build_schema() {
  using T = ValueType;
  Schema s;
  // experiment: what kind of run, and its seed.
  s.add(KeySpec("experiment.kind", T::kString, nullptr,
                "what a run does: 'selection' runs a block selector on weight matrices, 'training' trains, "
                "prunes and fine-tunes a network")
            .must_be_given()
            .one_of([] { return experiments::experiment_kinds(); }));
  s.add(KeySpec("experiment.name", T::kString, "", "a label for reports; not part of the run id")
            .not_identity());
  s.add(KeySpec("experiment.seed", T::kInt, 0, "seed of the run: the random matrices of a selection run, the batch order of a training run's pruning phase (its dense baseline has train.seed)").at_least(0));

  // prune: how blocks are chosen. Selectors register themselves, so the list grows on its own.
  s.add(KeySpec("prune.method", T::kString, "aligned",
                "block selector; 'none' (training only) keeps the dense model")
            .one_of([] {
              auto names = algorithms::SelectorRegistry::instance().names();
              names.push_back("none");
              return names;
            }));
  s.add(KeySpec("prune.block", T::kBlockShape, Json::array({4, 1}),
                "block shape [rows, cols]; rows run along output channels")
            .range(1, 256));
  s.add(KeySpec("prune.sparsity", T::kFloat, 0.8, "target fraction of pruned weights per layer").range(0, 1));
  s.add(KeySpec("prune.norm", T::kString, "l1", "importance: |w| (l1) or w^2 (l2)").one_of({"l1", "l2"}));
  s.add(KeySpec("prune.memory_limit_mib", T::kInt, 2048,
                "MiB that optimal-dp may use for its tables; it refuses larger layers")
            .range(1, int64_t{1} << 30)
            .not_identity());
  s.add(KeySpec("prune.allocation", T::kString, "uniform",
                "how the block budget is spread over layers: the same sparsity everywhere (uniform), or "
                "one importance threshold over all layers' blocks (global)")
            .one_of({"uniform", "global"}));
  s.add(KeySpec("prune.min_sparsity", T::kFloat, 0.0, "no layer is pruned less than this (global allocation)")
            .range(0, 1));
  s.add(KeySpec("prune.max_sparsity", T::kFloat, 1.0, "no layer is pruned more than this (global allocation)")
            .range(0, 1));

  s.add_rule({{"prune.min_sparsity", "prune.max_sparsity"}, [](const Json& run) -> std::string {
                 if (!run["prune"].contains("min_sparsity")) return "";  // normalised away: unpruned
                 const double lo = run["prune"]["min_sparsity"], hi = run["prune"]["max_sparsity"];
                 if (lo <= hi) return "";
                 return "min_sparsity " + Json(lo).dump() + " is above max_sparsity " + Json(hi).dump() +
                        " (accepted: min_sparsity <= max_sparsity)";
               }});

  // selection: the matrices a `selection` run prunes.
  const std::vector<std::string> selection{"selection"};
  s.add(KeySpec("selection.source", T::kString, "random",
                "random matrices of rows x cols, random matrices with the layer shapes of a model, the trained "
                "weights of a done training run of this database (selection.run), or of a kept model file "
                "(selection.file)")
            .one_of({"random", "model", "run", "file"})
            .only_for(selection));
  s.add(KeySpec("selection.run", T::kString, "",
                "source run: id of a done training run whose kept model <db dir>/models/<id>/model.pt is read "
                "(`ubp run` keeps one per training run; an unpruned run, prune.method none, has the dense weights)")
            .only_for(selection));
  s.add(KeySpec("selection.file", T::kString, "",
                "source file: a kept model file (model.pt of a training run, e.g. copied from another database)")
            .only_for(selection));
  s.add_rule({{"selection.source", "selection.run", "selection.file"}, [](const Json& run) -> std::string {
                 if (!run.contains("selection")) return "";  // not a selection run
                 const Json& sel = run["selection"];
                 const std::string source = sel["source"];
                 if (source == "run" && sel.value("run", "").empty()) {
                   return "source 'run' needs selection.run, the id of a done training run (`ubp db info` lists them)";
                 }
                 if (source == "file" && sel.value("file", "").empty()) {
                   return "source 'file' needs selection.file, the path of a kept model (model.pt)";
                 }
                 return "";
               }});
  // Random sources do not depend on the trained-weight keys (and keep the ids they had before
  // those keys existed).
  s.add_normalizer([](nlohmann::json& run) {
    if (run["experiment"]["kind"] != "selection") return;
    nlohmann::json& sel = run["selection"];
    if (sel["source"] != "run") sel.erase("run");
    if (sel["source"] != "file") sel.erase("file");
  });
  s.add(KeySpec("selection.rows", T::kInt, 512, "rows (output channels) of a random matrix")
            .range(1, 65536)
            .only_for(selection));
  s.add(KeySpec("selection.cols", T::kInt, 512, "columns (inputs) of a random matrix")
            .range(1, 65536)
            .only_for(selection));
  s.add(KeySpec("selection.matrices", T::kInt, 1, "how many random matrices").range(1, 10000).only_for(selection));
  s.add(KeySpec("selection.dist", T::kString, "gaussian", "distribution of the random weights")
            .one_of({"gaussian", "uniform", "laplace"})
            .only_for(selection));
  s.add(KeySpec("selection.model", T::kString, "mobilenet_v1", "model whose layer shapes are used (source: model)")
            .one_of([] { return experiments::model_names(); })
            .only_for(selection));
  s.add(KeySpec("selection.compare_to_optimal", T::kBool, true,
                "also run `optimal` on every matrix and record retained_vs_optimal")
            .only_for(selection));
  s.add(KeySpec("selection.layers", T::kString, "pointwise",
                "which layers of the model: 1x1 convolutions, k x k convolutions, or both")
            .one_of({"pointwise", "conv", "all"})
            .only_for(selection));

  add_training_keys(s);
  add_distributed_keys(s);
  add_latency_keys(s);
  add_slurm_keys(s);

  // output: where a campaign writes; the same for every run of a sweep.
  s.add(KeySpec("output.db", T::kString, "runs/ubp.db", "results database (the --db flag wins)").campaign_wide());
  s.add(KeySpec("output.report", T::kString, "",
                "if set, `ubp run` writes a report of the database to this folder at the end")
            .campaign_wide());
  s.add(KeySpec("output.cache", T::kString, "",
                "folder for files shared between runs and campaigns (dense baselines); "
                "empty: <db dir>/cache")
            .campaign_wide());
  s.add_rule({{"prune.method", "experiment.kind"}, [](const Json& run) -> std::string {
                 if (run["experiment"]["kind"] == "training" || run["prune"]["method"] != "none") return "";
                 return "method 'none' (no pruning) is for training runs only (accepted here: a block selector)";
               }});
  // An unpruned training run does not depend on any pruning setting, nor on the seed of the
  // pruning phase (the dense baseline has train.seed): one run id for all.
  s.add_normalizer([](nlohmann::json& run) {
    if (run["experiment"]["kind"] != "training" || run["prune"]["method"] != "none") return;
    run["experiment"]["seed"] = 0;
    nlohmann::json& prune = run["prune"];
    const std::string method = prune["method"];
    prune = nlohmann::json::object();
    prune["method"] = method;
  });
  // A pruned training run depends only on the keys of its own schedule: a oneshot run is the
  // same run whatever the ramp keys say.
  s.add_normalizer([](nlohmann::json& run) {
    if (run["experiment"]["kind"] != "training" || !run["prune"].contains("schedule")) return;
    nlohmann::json& prune = run["prune"];
    const std::string schedule = prune["schedule"];
    static const char* const kGmpOnly[] = {"ramp", "power", "initial_sparsity", "ramp_epochs",
                                           "update_every", "update_unit", "reselect"};
    static const char* const kAdmmOnly[] = {"admm_epochs", "rho"};
    if (schedule != "gmp") {
      for (const char* key : kGmpOnly) prune.erase(key);
    }
    if (schedule != "admm") {
      for (const char* key : kAdmmOnly) prune.erase(key);
    }
    if (schedule == "oneshot") prune.erase("finetune_lr");  // one phase
  });
  return s;
}

}  // namespace

const Schema& ubp_schema() {
  static const Schema schema = build_schema();
  return schema;
}

}  // namespace ubp::config
