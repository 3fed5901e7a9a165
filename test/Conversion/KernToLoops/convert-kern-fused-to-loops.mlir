// RUN: modelc-opt %s -convert-kern-fused-to-loops | FileCheck %s

llm.weight @w : tensor<8xf16> = ["w"]

// One column pass per reduction (accumulating), then one that stores; inputs are strided
// memrefs so column views need no copy; the op names its kernel.
// CHECK-LABEL: func.func @f
// CHECK: kern.fused {{.*}}kernel = @fused_0
// CHECK-LABEL: func.func private @fused_0(
// CHECK-SAME: %[[X:.*]]: memref<?x8xf16, strided<[?, 1], offset: ?>>, %[[W:.*]]: memref<8xf16>, %[[Y:.*]]: memref<?x8xf16, strided<[?, 1], offset: ?>>)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[ROWS:.*]] = memref.dim %[[Y]], %{{.*}}
// CHECK: scf.for %[[T:.*]] = %{{.*}} to %[[ROWS]]
// CHECK:   %[[SUM:.*]] = scf.for %[[J:.*]] = {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32)
// CHECK:     memref.load %[[X]][%[[T]], %[[J]]]
// CHECK:     %[[NEXT:.*]] = arith.addf %[[ACC]], %{{.*}} : f32
// CHECK:     scf.yield %[[NEXT]] : f32
// CHECK:   scf.for %[[J2:.*]] =
// CHECK:     memref.load %[[W]][%[[J2]]]
// CHECK:     arith.divf %[[SUM]]
// CHECK:     memref.store %{{.*}}, %[[Y]][%[[T]], %[[J2]]]
func.func @f(%x: tensor<?x8xf16>) -> tensor<?x8xf16> {
  %y = kern.fused ins(%x : tensor<?x8xf16>) weights([@w]) -> tensor<?x8xf16> {
  ^bb0(%a: f16, %wj: f16):
    %af = arith.extf %a : f16 to f32
    %sq = arith.mulf %af, %af : f32
    %sum = kern.reduce <add> %sq : f32
    %c8 = arith.constant 8.0 : f32
    %mean = arith.divf %sum, %c8 : f32
    %inv = math.rsqrt %mean : f32
    %n = arith.mulf %af, %inv : f32
    %wf = arith.extf %wj : f16 to f32
    %o = arith.mulf %n, %wf : f32
    %t = arith.truncf %o : f32 to f16
    kern.yield %t : f16
  }
  return %y : tensor<?x8xf16>
}
