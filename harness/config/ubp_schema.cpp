// Every key a ubp config may contain. The sections that a settings struct reads are declared
// beside its reader in harness/settings/; the keys every kind shares and the output keys here.
#include "config/plan.h"
#include "experiments/experiment.h"
#include "settings/latency_settings.h"
#include "settings/selection_settings.h"
#include "settings/training_settings.h"
#include "ubp/algorithms/selector.h"

namespace ubp::config {

namespace {

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

  settings::add_selection_keys(s);
  settings::add_training_keys(s);
  settings::add_distributed_keys(s);
  settings::add_latency_keys(s);
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
