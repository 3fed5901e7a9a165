# lit configuration for the modelc compiler tests.
import os
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MODELC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "CMakeLists.txt", "check_server.py", "check_mpi_server.py",
                   "check_reasoning.py", "http_client.py", "check_embeddings.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.modelc_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%models", os.path.join(config.modelc_src_root, "models")))
config.substitutions.append(("%mlir_lib_dir", os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.modelc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["modelc-opt", "modelc"], tool_dirs)
llvm_config.add_tool_substitutions(
    ["modelrt"], [os.path.join(config.modelc_obj_root, "tools", "modelrt")])
config.substitutions.append(("%python", sys.executable))
config.substitutions.append(
    ("%modelrt_bin", os.path.join(config.modelc_obj_root, "tools", "modelrt", "modelrt")))
llvm_config.add_tool_substitutions(["not", "count", "mlir-cpu-runner", "llvm-readelf"], [config.llvm_tools_dir])

# The real SmolLM2 GGUF, when scripts/fetch-models.sh has fetched it.
smollm2 = os.environ.get("MODELC_SMOLLM2_GGUF") or os.path.join(
    os.path.expanduser("~"), ".cache", "modelc", "SmolLM2-135M-Instruct.Q4_1.gguf")
if os.path.exists(smollm2):
    config.available_features.add("smollm2")
    config.substitutions.append(("%smollm2_gguf", smollm2))
else:
    lit_config.note("SmolLM2 GGUF not found at %s: tests that need it are unsupported" % smollm2)

# ptxas (CUDA toolkit) assembles the generated PTX where it is installed.
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
ptxas = os.path.join(cuda_home, "bin", "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
else:
    lit_config.note("ptxas not found at %s: generated PTX is not assembled" % ptxas)
# modelc built with nvJitLink puts cubins into --target cuda plans.
if getattr(config, "modelc_have_cubins", False):
    config.available_features.add("cubins")
else:
    lit_config.note("modelc was built without nvJitLink: plans carry PTX only")
# The CUDA toolkit (libdevice) for the PTX path, as scripts/test.sh sees it.
if "CUDA_HOME" in os.environ:
    config.environment["CUDA_HOME"] = os.environ["CUDA_HOME"]

# mpirun, when modelrt was built with MPI: tensor-parallel plans as one process per rank.
# Open MPI refuses to run as root unless told that it is meant.
import shutil
if getattr(config, "modelrt_have_mpi", False) and shutil.which("mpirun"):
    config.available_features.add("mpi")
    config.environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    config.environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    config.substitutions.append(("%mpirun", shutil.which("mpirun") + " --oversubscribe"))
else:
    lit_config.note("no mpirun or modelrt built without MPI: multi-process tests are unsupported")
