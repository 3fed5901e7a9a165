// RUN: modelc-opt %s -pass-pipeline='builtin.module(llm-optimize)' | FileCheck %s
// RUN: modelc-opt %s -pass-pipeline='builtin.module(llm-optimize{merge-linears=false})' | FileCheck %s --check-prefix=NOMERGE

llm.weight @g : tensor<16x8xf32> = ["gate"]
llm.weight @u : tensor<16x8xf32> = ["up"]
// CHECK-LABEL: func.func @mlp
// CHECK: llm.linear %{{.*}}, @g_u : tensor<?x8xf32> -> tensor<?x32xf32>
// CHECK-NOT: llm.all_reduce
// NOMERGE-COUNT-2: llm.linear
// NOMERGE-NOT: llm.all_reduce
func.func @mlp(%x: tensor<?x8xf32>) -> tensor<?x16xf32> {
  %r = llm.all_reduce %x {group_size = 1 : i64} : tensor<?x8xf32>
  %g = llm.linear %r, @g : tensor<?x8xf32> -> tensor<?x16xf32>
  %u = llm.linear %r, @u : tensor<?x8xf32> -> tensor<?x16xf32>
  %s = llm.silu %g : tensor<?x16xf32>
  %m = llm.mul %s, %u : tensor<?x16xf32>
  return %m : tensor<?x16xf32>
}
