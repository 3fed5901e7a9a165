// RUN: modelc-opt %s -llm-pipeline="pp=2 stage=0" | FileCheck %s --check-prefix=STAGE0
// RUN: modelc-opt %s -llm-pipeline="pp=2 stage=1" | FileCheck %s --check-prefix=STAGE1
// RUN: modelc-opt %s -llm-pipeline="pp=3 stage=1" | FileCheck %s --check-prefix=MIDDLE
// RUN: not modelc-opt %s -llm-pipeline="pp=4 stage=0" 2>&1 | FileCheck %s --check-prefix=TOOMANY

// Three layers (attention, then an MLP-like linear, each with a residual add) between an
// embedding and the LM head. Two stages: layers 0-1 and 2 (the later stage, which holds
// the head, gets the fewer); the cut is where only the residual stream crosses, after
// layer 1's residual add.
llm.weight @embed : tensor<32x8xf32> = ["embed"]
llm.weight @w0 : tensor<8x8xf32> = ["w0"]
llm.weight @w1 : tensor<8x8xf32> = ["w1"]
llm.weight @w2 : tensor<8x8xf32> = ["w2"]
// STAGE0: llm.weight @embed
// STAGE0: llm.weight @w0
// STAGE0: llm.weight @w1
// STAGE0-NOT: llm.weight @w2
// STAGE0-LABEL: func.func @forward
// STAGE0-SAME: %arg3: tensor<?xi32>) {
// STAGE0: llm.attention {{.*}}layer = 0
// STAGE0: llm.attention {{.*}}layer = 1
// STAGE0: %[[X2:.*]] = llm.add
// STAGE0-NEXT: llm.send %[[X2]] to 1 : tensor<?x8xf32>
// STAGE0-NEXT: return{{$}}
// STAGE1: llm.weight @embed
// STAGE1-NOT: llm.weight @w0
// STAGE1-NOT: llm.weight @w1
// STAGE1: llm.weight @w2
// STAGE1-LABEL: func.func @forward
// STAGE1-SAME: -> tensor<?x32xf32>
// STAGE1-NEXT: %[[R:.*]] = llm.recv %arg2 from 0 : tensor<?x8xf32>
// STAGE1-NEXT: llm.attention %[[R]], %[[R]], %[[R]], %arg2 {{.*}}layer = 0
// STAGE1-NOT: llm.attention
// STAGE1: llm.logits
// STAGE1: return
// Three stages: the middle one holds layer 1 alone, between a receive and a send.
// MIDDLE: llm.recv %arg2 from 0
// MIDDLE: llm.attention {{.*}}layer = 0
// MIDDLE-NOT: llm.attention
// MIDDLE: llm.send %{{.*}} to 2
// TOOMANY: llm-pipeline: 4 stages for 3 layers
func.func @forward(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %batch: !llm.batch, %rows: tensor<?xi32>) -> tensor<?x32xf32> {
  %x0 = llm.embedding %ids, @embed : tensor<?xi32> -> tensor<?x8xf32>
  %a0 = llm.attention %x0, %x0, %x0, %batch {layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 8 : i64, scale = 0.35 : f64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x8xf32>
  %m0 = llm.linear %a0, @w0 : tensor<?x8xf32> -> tensor<?x8xf32>
  %x1 = llm.add %x0, %m0 : tensor<?x8xf32>
  %a1 = llm.attention %x1, %x1, %x1, %batch {layer = 1 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 8 : i64, scale = 0.35 : f64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x8xf32>
  %m1 = llm.linear %a1, @w1 : tensor<?x8xf32> -> tensor<?x8xf32>
  %x2 = llm.add %x1, %m1 : tensor<?x8xf32>
  %a2 = llm.attention %x2, %x2, %x2, %batch {layer = 2 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 8 : i64, scale = 0.35 : f64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x8xf32>
  %m2 = llm.linear %a2, @w2 : tensor<?x8xf32> -> tensor<?x8xf32>
  %x3 = llm.add %x2, %m2 : tensor<?x8xf32>
  %sel = llm.gather_tokens %x3, %rows : tensor<?x8xf32>, tensor<?xi32>
  %logits = llm.logits %sel, @embed : tensor<?x8xf32> -> tensor<?x32xf32>
  return %logits : tensor<?x32xf32>
}
