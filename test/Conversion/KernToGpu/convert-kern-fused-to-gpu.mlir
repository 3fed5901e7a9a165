// RUN: modelc-opt %s -split-input-file -convert-kern-fused-to-gpu -verify-diagnostics | FileCheck %s

llm.weight @w : tensor<1000xf16> = ["w"]

// RMSNorm over 1000 columns: 256 threads (the cap), one block per row, threads striding
// the columns; the row sum is a per-thread pass, a shuffle tree (16, 8, 4, 2, 1) and the
// eight warps' partials combined from shared memory after one barrier; then a pass that
// computes and stores. The op names its CUDA kernel and block size.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK: kern.fused {{.*}}cuda_block_size = 256 : i32, cuda_kernel = @cuda_kernels::@fused_0
// CHECK-LABEL: gpu.module @cuda_kernels
// CHECK: gpu.func @fused_0(%[[X:.*]]: memref<?x1000xf16, strided<[?, 1], offset: ?>>, %[[W:.*]]: memref<1000xf16>, %[[Y:.*]]: memref<?x1000xf16, strided<[?, 1], offset: ?>>)
// CHECK-SAME: workgroup(%[[SH:.*]] : memref<1x32xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK-DAG: %[[ROW:.*]] = gpu.block_id x
// CHECK-DAG: %[[TID:.*]] = gpu.thread_id x
// CHECK-DAG: %[[ROWS:.*]] = memref.dim %[[Y]]
// CHECK-DAG: %[[STEP:.*]] = arith.constant 256 : index
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[ROW]], %[[ROWS]]
// CHECK: scf.if %[[IN]] {
// CHECK:   %[[PART:.*]] = scf.for %[[J:.*]] = %[[TID]] to %{{.*}} step %[[STEP]] iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32) {
// CHECK:     memref.load %[[X]][%[[ROW]], %[[J]]]
// CHECK:     arith.addf %[[ACC]]
// CHECK:   %[[S16:.*]], %{{.*}} = gpu.shuffle xor %[[PART]], %{{.*}}, %{{.*}} : f32
// CHECK:   %[[A16:.*]] = arith.addf %[[PART]], %[[S16]]
// CHECK-COUNT-4: gpu.shuffle xor
// CHECK:   scf.if
// CHECK:     memref.store %{{.*}}, %[[SH]]
// CHECK:   gpu.barrier
// CHECK-COUNT-8: memref.load %[[SH]]
// CHECK:   scf.for %[[J2:.*]] = %[[TID]] to %{{.*}} step %[[STEP]] {
// CHECK:     memref.load %[[W]][%[[J2]]]
// CHECK:     math.rsqrt
// CHECK:     memref.store %{{.*}}, %[[Y]][%[[ROW]], %[[J2]]]
// CHECK: gpu.return
func.func @f(%x: tensor<?x1000xf16>) -> tensor<?x1000xf16> {
  %y = kern.fused ins(%x : tensor<?x1000xf16>) weights([@w]) -> tensor<?x1000xf16> {
  ^bb0(%a: f16, %wj: f16):
    %af = arith.extf %a : f16 to f32
    %sq = arith.mulf %af, %af : f32
    %sum = kern.reduce <add> %sq : f32
    %c = arith.constant 1000.0 : f32
    %mean = arith.divf %sum, %c : f32
    %inv = math.rsqrt %mean : f32
    %n = arith.mulf %af, %inv : f32
    %wf = arith.extf %wj : f16 to f32
    %o = arith.mulf %n, %wf : f32
    %t = arith.truncf %o : f32 to f16
    kern.yield %t : f16
  }
  return %y : tensor<?x1000xf16>
}

// -----

// Two reductions (a sum, then a max that needs it) get their own shared-memory rows and
// barriers; 40 columns round up to 64 threads (two warps); the op's `kernel` name is kept.
// CHECK-LABEL: gpu.module @cuda_kernels
// CHECK: gpu.func @norm_then_max({{.*}}) workgroup(%[[SH:.*]] : memref<2x32xf32, #gpu.address_space<workgroup>>) kernel attributes {known_block_size = array<i32: 64, 1, 1>}
// CHECK: gpu.barrier
// CHECK-COUNT-2: memref.load %[[SH]][%c0
// CHECK: scf.for
// CHECK: arith.maximumf
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK-COUNT-2: memref.load %[[SH]][%c1
func.func @g(%x: tensor<?x40xf32>) -> tensor<?x40xf32> {
  %y = kern.fused ins(%x : tensor<?x40xf32>) weights([]) {kernel = "norm_then_max"} -> tensor<?x40xf32> {
  ^bb0(%a: f32):
    %sq = arith.mulf %a, %a : f32
    %sum = kern.reduce <add> %sq : f32
    %s = arith.divf %a, %sum : f32
    %m = kern.reduce <max> %s : f32
    %e = arith.subf %s, %m : f32
    kern.yield %e : f32
  }
  return %y : tensor<?x40xf32>
}

// -----

// A kernel name that is already taken in the GPU module is an error, not a silent merge.
gpu.module @cuda_kernels {
  gpu.func @dup() kernel {
    gpu.return
  }
}
func.func @h(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{CUDA kernel name 'dup' is taken}}
  %y = kern.fused ins(%x : tensor<?x8xf32>) weights([]) {kernel = "dup"} -> tensor<?x8xf32> {
  ^bb0(%a: f32):
    kern.yield %a : f32
  }
  return %y : tensor<?x8xf32>
}
