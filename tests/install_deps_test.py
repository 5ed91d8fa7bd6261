#!/usr/bin/env python3
"""scripts/install-deps.sh --runtime: a strict subset of the full package set that still holds
everything the main job's build reads.

Usage: install_deps_test.py SOURCE_DIR BUILD_DIR

The last check looks at the real build in BUILD_DIR: every file under /usr that ninja read to
build `ubp` and `ubp-devbench` (headers from the deps log, libraries from the inputs), every
shared library the two binaries load, and what the main job reads when it runs (the
Fashion-MNIST files, gnuplot) must belong to a package of the runtime set or to a package those
depend on (Depends, Pre-Depends, through Provides), as dpkg knows them.
"""
import os
import re
import shutil
import subprocess
import sys

TEST_ONLY = ["chromium", "slurm-wlm", "munge", "openssh-server", "qemu-user",
             "g++-aarch64-linux-gnu", "libgtest-dev", "libgmock-dev", "python3-torchvision",
             "clang", "libclang-rt-14-dev", "llvm"]
BINARIES = ["bin/ubp", "bin/ubp-devbench"]

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def package_set(source, *flags):
    out = subprocess.run(["bash", os.path.join(source, "scripts", "install-deps.sh"), "--print", *flags],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def installed_graph():
    """Every installed package's dependencies (all alternatives) and who provides what."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
                         check=True, capture_output=True, text=True).stdout
    depends, providers = {}, {}
    for line in out.splitlines():
        name, status, deps, provides = line.split("\t")
        if not status.endswith(" installed"):
            continue
        names = re.split(r"[,|]", deps)
        depends[name] = {re.sub(r"\(.*?\)|:\w+", "", d).strip() for d in names} - {""}
        for p in provides.split(","):
            p = re.sub(r"\(.*?\)", "", p).strip()
            if p:
                providers.setdefault(p, set()).add(name)
    return depends, providers


def closure(roots, depends, providers):
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        for real in ({name} if name in depends else set()) | providers.get(name, set()):
            if real not in seen:
                seen.add(real)
                todo.extend(depends[real])
    return seen


def files_the_build_read(build):
    ninja = ["ninja", "-C", build]
    inputs = subprocess.run(ninja + ["-t", "inputs"] + BINARIES, check=True, capture_output=True,
                            text=True).stdout.split()
    objects = [i for i in inputs if i.endswith(".o")]
    check(len(objects) > 50, "ninja lists only %d objects as inputs of %s" % (len(objects), BINARIES))
    deps = subprocess.run(ninja + ["-t", "deps"] + objects, check=True, capture_output=True, text=True).stdout
    files = {line.strip() for line in deps.splitlines() if line.startswith("    ")}
    files |= {i for i in inputs if i.startswith("/")}
    for binary in BINARIES:
        ldd = subprocess.run(["ldd", os.path.join(build, binary)], check=True, capture_output=True, text=True).stdout
        files |= set(re.findall(r"=> (/\S+)", ldd))
    return sorted({os.path.realpath(f) for f in files if f.startswith("/usr/") or f.startswith("/lib")})


def files_the_main_job_reads(source):
    """What configs/quickstart.yaml reads when it runs: the Fashion-MNIST files (where
    harness/data/datasets.h looks for them) and gnuplot, which draws the report's figures."""
    with open(os.path.join(source, "harness", "data", "datasets.h")) as f:
        root = re.search(r'kDefaultFashionMnistRoot = "([^"]+)"', f.read()).group(1)
    files = [os.path.join(root, name) for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    gnuplot = shutil.which("gnuplot")
    check(gnuplot is not None, "gnuplot is not on PATH, so the report figures cannot be checked")
    return [os.path.realpath(f) for f in files + ([gnuplot] if gnuplot else [])]


def owners(paths):
    """dpkg's owner packages of each path (a path no package ships maps to an empty set)."""
    found = {p: set() for p in paths}
    for start in range(0, len(paths), 200):
        out = subprocess.run(["dpkg", "-S"] + paths[start:start + 200], capture_output=True, text=True).stdout
        for line in out.splitlines():
            match = re.match(r"^([^ ]+(?:, [^ ]+)*): (/.*)$", line)
            if match and match.group(2) in found:
                found[match.group(2)] |= {re.sub(r":\w+$", "", p) for p in match.group(1).split(", ")}
    return found


def owners_of_unmerged_paths(found):
    """On a merged-/usr system dpkg knows /lib/x.so as its package ships it, not as /usr/lib/x.so."""
    for path, packages in found.items():
        if not packages and path.startswith("/usr/lib"):
            alias = path[len("/usr"):]
            packages |= owners([alias]).get(alias, set())
    return found


def main():
    source, build = sys.argv[1], sys.argv[2]
    full, runtime = package_set(source), package_set(source, "--runtime")
    check(len(set(full)) == len(full), "the full set lists a package twice: %s" % full)
    check(len(set(runtime)) == len(runtime), "the runtime set lists a package twice: %s" % runtime)
    check(set(runtime) < set(full), "the runtime set is not a strict subset of the full set; runtime only: %s"
          % sorted(set(runtime) - set(full)))
    for package in TEST_ONLY:
        check(package not in runtime, "%s (tests only) is in the runtime set" % package)
    with open(os.path.join(source, "scripts", "quickstart.sh")) as f:
        check("install-deps.sh --runtime" in f.read(), "scripts/quickstart.sh does not install the runtime set")
    with open(os.path.join(source, "scripts", "test.sh")) as f:
        check(re.search(r"install-deps\.sh\s*$", f.read(), re.M) is not None,
              "scripts/test.sh does not install the full set")

    depends, providers = installed_graph()
    not_installed = [p for p in runtime if p not in depends]
    check(not not_installed, "runtime packages not installed here, so the build cannot be checked: %s" % not_installed)
    reachable = closure(runtime, depends, providers)
    files = files_the_build_read(build)
    check(len(files) > 100, "only %d system files found in the build of %s" % (len(files), BINARIES))
    files += files_the_main_job_reads(source)
    found = owners_of_unmerged_paths(owners(files))
    for path, packages in sorted(found.items()):
        if not packages:
            failures.append("%s, read by the build or the main job, belongs to no Debian package" % path)
        elif not packages & reachable:
            failures.append("%s, read by the build or the main job, comes from %s, outside the runtime set and "
                            "its dependencies" % (path, ", ".join(sorted(packages))))
    if not failures:
        print("runtime set: %d of %d packages; the %d system files read by the build of %s and by the main job "
              "all come from its %d packages with dependencies" % (len(runtime), len(full), len(files),
                                                                   " and ".join(BINARIES), len(reachable)))
    for failure in failures:
        print("FAIL: " + failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
