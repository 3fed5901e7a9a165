// A fused kernel (residual add + RMSNorm + row max + erf) lowered to loops, then to LLVM,
// and run on the CPU. Expected values: numpy in float32 (see the comment at the end).
// RUN: modelc-opt %s -pass-pipeline='builtin.module(convert-kern-fused-to-loops, kern-cpu-to-llvm)' \
// RUN: | mlir-cpu-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so \
// RUN: | FileCheck %s

llm.weight @w : tensor<4xf32> = ["w"] {sym_visibility = "private"}

// Only here to carry the kern.fused; symbol-dce drops it after outlining.
func.func private @holder(%x: tensor<?x4xf32>, %r: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %y:2 = kern.fused ins(%x, %r : tensor<?x4xf32>, tensor<?x4xf32>) weights([@w]) {kernel = "add_rms_norm"} -> tensor<?x4xf32>, tensor<?x4xf32> {
  ^bb0(%a: f32, %b: f32, %wj: f32):
    %s = arith.addf %a, %b : f32
    %sq = arith.mulf %s, %s : f32
    %sum = kern.reduce <add> %sq : f32
    %c4 = arith.constant 4.0 : f32
    %mean = arith.divf %sum, %c4 : f32
    %eps = arith.constant 1.0e-5 : f32
    %v = arith.addf %mean, %eps : f32
    %inv = math.rsqrt %v : f32
    %n = arith.mulf %s, %inv : f32
    %o = arith.mulf %n, %wj : f32
    %m = kern.reduce <max> %o : f32
    %e = arith.subf %o, %m : f32
    %g = math.erf %e : f32
    kern.yield %s, %g : f32, f32
  }
  return %y#0, %y#1 : tensor<?x4xf32>, tensor<?x4xf32>
}

!act = memref<?x4xf32, strided<[?, 1], offset: ?>>
func.func private @add_rms_norm(!act, !act, memref<4xf32>, !act, !act)
func.func private @printMemrefF32(memref<*xf32>) attributes {llvm.emit_c_interface}

memref.global "private" constant @xs : memref<3x4xf32> = dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 2.0, -3.0], [0.25, -0.75, 1.5, 8.0]]>
memref.global "private" constant @rs : memref<3x4xf32> = dense<[[0.5, -0.5, 0.0, 1.0], [2.0, 2.0, -1.0, 0.125], [0.0, 0.0, 0.0, 0.0]]>
memref.global "private" constant @ws : memref<4xf32> = dense<[1.0, 0.5, 2.0, -1.0]>

func.func @main() {
  %x = memref.get_global @xs : memref<3x4xf32>
  %r = memref.get_global @rs : memref<3x4xf32>
  %w = memref.get_global @ws : memref<4xf32>
  %sum = memref.alloc() : memref<3x4xf32>
  %out = memref.alloc() : memref<3x4xf32>
  %xa = memref.cast %x : memref<3x4xf32> to !act
  %ra = memref.cast %r : memref<3x4xf32> to !act
  %sa = memref.cast %sum : memref<3x4xf32> to !act
  %oa = memref.cast %out : memref<3x4xf32> to !act
  call @add_rms_norm(%xa, %ra, %w, %sa, %oa) : (!act, !act, memref<4xf32>, !act, !act) -> ()
  %su = memref.cast %sum : memref<3x4xf32> to memref<*xf32>
  %ou = memref.cast %out : memref<3x4xf32> to memref<*xf32>
  call @printMemrefF32(%su) : (memref<*xf32>) -> ()
  call @printMemrefF32(%ou) : (memref<*xf32>) -> ()
  memref.dealloc %sum : memref<3x4xf32>
  memref.dealloc %out : memref<3x4xf32>
  return
}

// The residual stream x + r, then erf(y - max_row(y)) with y = RMSNorm(x + r) * w. numpy
// (float32, math.erf) gives [[-0.95976126 -0.9832966 0. -0.99999946]
// [-0.8080946 -0.74193144 -0.4574642 0.] [-0.658468 -0.7569154 0. -0.99985796]].
// CHECK: rank = 2 offset = 0 sizes = [3, 4]
// CHECK-NEXT: [1.5,   1.5,   3,   5],
// CHECK-NEXT: [1,   2.5,   1,   -2.875],
// CHECK-NEXT: [0.25,   -0.75,   1.5,   8]]
// CHECK: rank = 2 offset = 0 sizes = [3, 4]
// CHECK-NEXT: [-0.959761,   -0.983297,   0,   -0.999999],
// CHECK-NEXT: [-0.808095,   -0.741931,   -0.457464,   0],
// CHECK-NEXT: [-0.658468,   -0.756915,   0,   -0.999858]]
