// RUN: modelc-opt %s | FileCheck %s
// RUN: modelc-opt %s | modelc-opt | FileCheck %s
// RUN: modelc-opt -mlir-print-op-generic %s | modelc-opt | FileCheck %s

llm.weight @embed : tensor<32x8xf32> = ["e"]
llm.weight @norm : tensor<8xf32> = ["n"]
llm.weight @gate_up : tensor<32x8xf32> = ["g", "u"]

// CHECK-LABEL: func.func @kernels
func.func @kernels(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %x: tensor<?x8xf32>) -> tensor<?x16xf32> {
  // CHECK: kern.gather_rows @embed[%{{.*}}] : tensor<?xi32> -> tensor<?x8xf32>
  %e = kern.gather_rows @embed [%ids] : tensor<?xi32> -> tensor<?x8xf32>
  // CHECK: kern.gather_rows %{{.*}} : tensor<?x8xf32>[%{{.*}}] : tensor<?xi32> -> tensor<?x8xf32>
  %g = kern.gather_rows %e : tensor<?x8xf32> [%pos] : tensor<?xi32> -> tensor<?x8xf32>
  // CHECK: kern.fused ins(%{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<?x8xf32>) weights([@norm]) -> tensor<?x8xf32>, tensor<?x8xf32> {
  // CHECK: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[W:.*]]: f32):
  // CHECK:   kern.reduce <add> %{{.*}} : f32
  // CHECK:   kern.yield %{{.*}}, %{{.*}} : f32, f32
  %r:2 = kern.fused ins(%g, %x : tensor<?x8xf32>, tensor<?x8xf32>) weights([@norm]) -> tensor<?x8xf32>, tensor<?x8xf32> {
  ^bb0(%a: f32, %b: f32, %w: f32):
    %s = arith.addf %a, %b : f32
    %sq = arith.mulf %s, %s : f32
    %sum = kern.reduce <add> %sq : f32
    %c8 = arith.constant 8.0 : f32
    %mean = arith.divf %sum, %c8 : f32
    %inv = math.rsqrt %mean : f32
    %n = arith.mulf %s, %inv : f32
    %y = arith.mulf %n, %w : f32
    kern.yield %s, %y : f32, f32
  }
  // CHECK: kern.gemm %{{.*}}, @gate_up : tensor<?x8xf32> -> tensor<?x32xf32>
  %gu = kern.gemm %r#1, @gate_up : tensor<?x8xf32> -> tensor<?x32xf32>
  // CHECK: kern.columns %{{.*}}[16] : tensor<?x32xf32> -> tensor<?x16xf32>
  %up = kern.columns %gu [16] : tensor<?x32xf32> -> tensor<?x16xf32>
  // CHECK: kern.rope %{{.*}}, %{{.*}} {head_dim = 8 : i64} : tensor<?x16xf32>, tensor<?xi32>
  %ro = kern.rope %up, %pos {head_dim = 8 : i64} : tensor<?x16xf32>, tensor<?xi32>
  // CHECK: kern.attention %{{.*}}, %{{.*}}, %{{.*}} {layer = 0 : i64} : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x16xf32>
  %at = kern.attention %ro, %ro, %up {layer = 0 : i64} : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x16xf32>
  // CHECK: kern.all_reduce %{{.*}} {group_size = 2 : i64} : tensor<?x16xf32>
  %ar = kern.all_reduce %at {group_size = 2 : i64} : tensor<?x16xf32>
  // CHECK: kern.all_gather %{{.*}} {group_size = 2 : i64} : tensor<?x16xf32> -> tensor<?x32xf32>
  %ag = kern.all_gather %ar {group_size = 2 : i64} : tensor<?x16xf32> -> tensor<?x32xf32>
  // CHECK: kern.gather_rows @embed[%{{.*}}] {row_offset = 4 : i64} : tensor<?xi32> -> tensor<?x8xf32>
  %es = kern.gather_rows @embed [%ids] {row_offset = 4 : i64} : tensor<?xi32> -> tensor<?x8xf32>
  return %ar : tensor<?x16xf32>
}
