// The CUDA path end to end in the compiler: kern.fused -> gpu.func -> NVVM (libdevice for
// math) -> PTX by LLVM's NVPTX back end, for sm_80.
// RUN: modelc-opt %s -pass-pipeline='builtin.module(convert-kern-fused-to-gpu, kern-cuda-to-ptx)' | FileCheck %s

llm.weight @w : tensor<4096xf32> = ["w"]

// CHECK: gpu.binary @cuda_kernels
// CHECK-SAME: chip = "sm_80"
// CHECK-SAME: .target sm_80
// CHECK-SAME: .entry add_rms_norm(
// CHECK-SAME: .maxntid 256, 1, 1
// CHECK-SAME: shfl.sync.bfly.b32
// CHECK-SAME: bar.sync
// CHECK-SAME: rsqrt.approx
func.func @f(%x: tensor<?x4096xf32>, %r: tensor<?x4096xf32>) -> (tensor<?x4096xf32>, tensor<?x4096xf32>) {
  %y:2 = kern.fused ins(%x, %r : tensor<?x4096xf32>, tensor<?x4096xf32>) weights([@w]) {kernel = "add_rms_norm"} -> tensor<?x4096xf32>, tensor<?x4096xf32> {
  ^bb0(%a: f32, %b: f32, %wj: f32):
    %s = arith.addf %a, %b : f32
    %sq = arith.mulf %s, %s : f32
    %sum = kern.reduce <add> %sq : f32
    %c = arith.constant 4096.0 : f32
    %mean = arith.divf %sum, %c : f32
    %eps = arith.constant 1.0e-5 : f32
    %v = arith.addf %mean, %eps : f32
    %inv = math.rsqrt %v : f32
    %n = arith.mulf %s, %inv : f32
    %o = arith.mulf %n, %wj : f32
    kern.yield %s, %o : f32, f32
  }
  return %y#0, %y#1 : tensor<?x4096xf32>, tensor<?x4096xf32>
}
