// RUN: modelc-opt %s -llm-fuse -split-input-file | FileCheck %s

// A residual add joins the norm after it; SiLU and the gating multiply form one kernel.
llm.weight @n : tensor<8xf32> = ["n"]
llm.weight @gu : tensor<32x8xf32> = ["gu"]
// CHECK-LABEL: func.func @block
// CHECK: llm.add {{.*}}llm.fusion_group = [[G0:[0-9]+]] : i64
// CHECK: llm.rms_norm {{.*}}llm.fusion_group = [[G0]] : i64
// CHECK: llm.linear
// CHECK-NOT: fusion_group
// CHECK: llm.silu {{.*}}llm.fusion_group = [[G1:[0-9]+]] : i64
// CHECK: llm.mul {{.*}}llm.fusion_group = [[G1]] : i64
func.func @block(%x: tensor<?x8xf32>, %o: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x16xf32>) {
  %r = llm.add %x, %o : tensor<?x8xf32>
  %h = llm.rms_norm %r, @n {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  %gu = llm.linear %h, @gu : tensor<?x8xf32> -> tensor<?x32xf32>
  %g, %u = llm.split %gu : tensor<?x32xf32> -> tensor<?x16xf32>, tensor<?x16xf32>
  %s = llm.silu %g : tensor<?x16xf32>
  %m = llm.mul %s, %u : tensor<?x16xf32>
  return %r, %m : tensor<?x8xf32>, tensor<?x16xf32>
}

// -----

// Different widths never share a kernel.
// CHECK-LABEL: func.func @widths
// CHECK: llm.silu {{.*}}llm.fusion_group = [[A:[0-9]+]] : i64
// CHECK: llm.silu {{.*}}llm.fusion_group = [[B:[0-9]+]] : i64
// CHECK-NOT: llm.fusion_group = [[A]] :
func.func @widths(%x: tensor<?x8xf32>, %y: tensor<?x4xf32>) -> (tensor<?x8xf32>, tensor<?x4xf32>) {
  %a = llm.silu %x : tensor<?x8xf32>
  %b = llm.silu %y : tensor<?x4xf32>
  return %a, %b : tensor<?x8xf32>, tensor<?x4xf32>
}

// -----

// The second add may not join: the linear between them reads the group's value, and the
// fused kernel would only run at the add, after the linear.
llm.weight @w : tensor<8x8xf32> = ["w"]
// CHECK-LABEL: func.func @no_cycle
// CHECK: llm.silu {{.*}}llm.fusion_group = [[S:[0-9]+]] : i64
// CHECK: llm.linear
// CHECK: llm.add {{.*}}llm.fusion_group = [[T:[0-9]+]] : i64
// CHECK-NOT: llm.fusion_group = [[S]] :
func.func @no_cycle(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %s = llm.silu %x : tensor<?x8xf32>
  %l = llm.linear %s, @w : tensor<?x8xf32> -> tensor<?x8xf32>
  %a = llm.add %s, %l : tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}
