// Hopper warpgroup MMA (sm_90a): wgmma.mma_async wrappers for the shapes the prefill kernel
// uses, with f32 accumulators. The operand lists (one "+f" per accumulator register) are
// written out once per shape, in a macro taking the input type's name.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <type_traits>

namespace modelrt::cuda::wgmma {

__device__ __forceinline__ void fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins an accumulator register after a wait (the asm above does not name the registers, so
// the compiler must not move their reads or writes across it).
__device__ __forceinline__ void fenceOperand(float &x) { asm volatile("" : "+f"(x)::"memory"); }
__device__ __forceinline__ void fenceOperand(uint32_t &x) { asm volatile("" : "+r"(x)::"memory"); }
// Ordinary shared-memory writes (cp.async included) made visible to the tensor cores' async
// proxy; each writing thread runs it before the barrier that precedes the wgmma.
__device__ __forceinline__ void fenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// SS: D (+)= A B, A and B from shared memory (descriptors, both K-major); scale-d 0 ignores D.
// RS: D (+)= A B, A from registers (per warp, the mma.m16n8k16 A layout), B from shared
// memory MN-major (transposed).

#define MODELRT_WGMMA_SS64(TY)                                                                     \
  asm volatile("{\n.reg .pred p;\n"                                                                \
               "setp.ne.b32 p, %34, 0;\n"                                                          \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " "                         \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "            \
               "%30, %31}, "                                                                       \
               "%32, %33, p, 1, 1, 0, 0;\n}\n"                                                     \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),           \
                 "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),         \
                 "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),     \
                 "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),     \
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),     \
                 "+f"(d[30]), "+f"(d[31])                                                          \
               : "l"(descA), "l"(descB), "r"(scaleD)                                               \
               : "memory")

#define MODELRT_WGMMA_SS128(TY)                                                                    \
  asm volatile("{\n.reg .pred p;\n"                                                                \
               "setp.ne.b32 p, %66, 0;\n"                                                          \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " "                        \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "            \
               "%30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "            \
               "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, "            \
               "%58, %59, %60, %61, %62, %63}, "                                                   \
               "%64, %65, p, 1, 1, 0, 0;\n}\n"                                                     \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),           \
                 "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),         \
                 "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),     \
                 "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),     \
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),     \
                 "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),     \
                 "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),     \
                 "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),     \
                 "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]),     \
                 "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]),     \
                 "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])                                \
               : "l"(descA), "l"(descB), "r"(scaleD)                                               \
               : "memory")

#define MODELRT_WGMMA_RS64(TY)                                                                     \
  asm volatile("{\n.reg .pred p;\n"                                                                \
               "setp.ne.b32 p, %37, 0;\n"                                                          \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " "                         \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "            \
               "%30, %31}, "                                                                       \
               "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                       \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),           \
                 "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),         \
                 "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),     \
                 "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),     \
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),     \
                 "+f"(d[30]), "+f"(d[31])                                                          \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(scaleD)               \
               : "memory")

#define MODELRT_WGMMA_RS128(TY)                                                                    \
  asm volatile("{\n.reg .pred p;\n"                                                                \
               "setp.ne.b32 p, %69, 0;\n"                                                          \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " "                        \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "            \
               "%30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "            \
               "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, "            \
               "%58, %59, %60, %61, %62, %63}, "                                                   \
               "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"                                       \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),           \
                 "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),         \
                 "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),     \
                 "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),     \
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),     \
                 "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),     \
                 "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),     \
                 "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),     \
                 "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]),     \
                 "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]),     \
                 "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])                                \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(scaleD)               \
               : "memory")

template <typename T>
__device__ __forceinline__ void mmaSS64(float (&d)[32], uint64_t descA, uint64_t descB,
                                        int scaleD) {
  if constexpr (std::is_same_v<T, __half>)
    MODELRT_WGMMA_SS64("f16");
  else
    MODELRT_WGMMA_SS64("bf16");
}

template <typename T>
__device__ __forceinline__ void mmaSS128(float (&d)[64], uint64_t descA, uint64_t descB,
                                         int scaleD) {
  if constexpr (std::is_same_v<T, __half>)
    MODELRT_WGMMA_SS128("f16");
  else
    MODELRT_WGMMA_SS128("bf16");
}

template <typename T>
__device__ __forceinline__ void mmaRS64(float (&d)[32], const uint32_t (&a)[4], uint64_t descB,
                                        int scaleD) {
  if constexpr (std::is_same_v<T, __half>)
    MODELRT_WGMMA_RS64("f16");
  else
    MODELRT_WGMMA_RS64("bf16");
}

template <typename T>
__device__ __forceinline__ void mmaRS128(float (&d)[64], const uint32_t (&a)[4], uint64_t descB,
                                         int scaleD) {
  if constexpr (std::is_same_v<T, __half>)
    MODELRT_WGMMA_RS128("f16");
  else
    MODELRT_WGMMA_RS128("bf16");
}

#undef MODELRT_WGMMA_SS64
#undef MODELRT_WGMMA_SS128
#undef MODELRT_WGMMA_RS64
#undef MODELRT_WGMMA_RS128

} // namespace modelrt::cuda::wgmma
