// Run-time CPU dispatch. Kernels are compiled once per path (see native/src/cpu/README.md); the
// active path is the best the CPU supports, lowered by INSTRUCTEDIT_CPU=generic|avx2|avx512 in the
// environment or by set_cpu_path() (tests use it to run every path on one machine).
#pragma once

namespace ie {

enum class CpuPath : int { Generic = 0, AVX2 = 1, AVX512 = 2 };

const char* cpu_path_name(CpuPath p);
bool cpu_path_from_name(const char* name, CpuPath* out);
// Best path this CPU and OS support (CPUID + XGETBV).
CpuPath cpu_path_detected();
// Path kernels use now.
CpuPath cpu_path();
// Selects a path; throws ie::Error when the CPU does not support it.
void set_cpu_path(CpuPath p);

}  // namespace ie
