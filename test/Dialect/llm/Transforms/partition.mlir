// RUN: modelc-opt %s -llm-partition="tp=2 rank=1" -split-input-file -verify-diagnostics | FileCheck %s
// RUN: modelc-opt %s -llm-partition="tp=2 rank=0" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=RANK0
// RUN: modelc-opt %s -llm-partition="tp=4 rank=3" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=TP4

// A Llama attention block: 4 query heads and 2 KV heads of 16. Rank 1 of 2 keeps query
// heads 2-3 and KV head 1; the output projection keeps the matching input columns and its
// partial sums are all-reduced. With 4 ranks each KV head is kept by two ranks.
llm.weight @q : tensor<64x64xf32> = ["q.weight"]
llm.weight @k : tensor<32x64xf32> = ["k.weight"]
llm.weight @v : tensor<32x64xf32> = ["v.weight"]
llm.weight @o : tensor<64x64xf32> = ["o.weight"]
// CHECK: llm.weight @q : tensor<32x64xf32> = ["q.weight"] slices [array<i64: 0, 32, 32>]
// CHECK: llm.weight @k : tensor<16x64xf32> = ["k.weight"] slices [array<i64: 0, 16, 16>]
// CHECK: llm.weight @v : tensor<16x64xf32> = ["v.weight"] slices [array<i64: 0, 16, 16>]
// CHECK: llm.weight @o : tensor<64x32xf32> = ["o.weight"] slices [array<i64: 1, 32, 32>]
// RANK0: llm.weight @q : tensor<32x64xf32> = ["q.weight"] slices [array<i64: 0, 0, 32>]
// RANK0: llm.weight @o : tensor<64x32xf32> = ["o.weight"] slices [array<i64: 1, 0, 32>]
// TP4: llm.weight @q : tensor<16x64xf32> = ["q.weight"] slices [array<i64: 0, 48, 16>]
// TP4: llm.weight @k : tensor<16x64xf32> = ["k.weight"] slices [array<i64: 0, 16, 16>]
// TP4: llm.weight @o : tensor<64x16xf32> = ["o.weight"] slices [array<i64: 1, 48, 16>]
// CHECK-LABEL: func.func @attention
// CHECK: %[[Q:.*]] = llm.linear %{{.*}}, @q : tensor<?x64xf32> -> tensor<?x32xf32>
// CHECK: %[[K:.*]] = llm.linear %{{.*}}, @k : tensor<?x64xf32> -> tensor<?x16xf32>
// CHECK: llm.rope %[[Q]], %{{.*}} {{{.*}}num_heads = 2
// CHECK: llm.rope %[[K]], %{{.*}} {{{.*}}num_heads = 1
// CHECK: %[[A:.*]] = llm.attention {{.*}}num_heads = 2 : i64, num_kv_heads = 1 : i64{{.*}} -> tensor<?x32xf32>
// CHECK: %[[O:.*]] = llm.linear %[[A]], @o : tensor<?x32xf32> -> tensor<?x64xf32>
// CHECK: %[[S:.*]] = llm.all_reduce %[[O]] {group_size = 2 : i64} : tensor<?x64xf32>
// CHECK: llm.add %{{.*}}, %[[S]]
// TP4: llm.attention {{.*}}num_heads = 1 : i64, num_kv_heads = 1 : i64
func.func @attention(%x: tensor<?x64xf32>, %pos: tensor<?xi32>, %batch: !llm.batch) -> tensor<?x64xf32> {
  %q = llm.linear %x, @q : tensor<?x64xf32> -> tensor<?x64xf32>
  %k = llm.linear %x, @k : tensor<?x64xf32> -> tensor<?x32xf32>
  %v = llm.linear %x, @v : tensor<?x64xf32> -> tensor<?x32xf32>
  %qr = llm.rope %q, %pos {num_heads = 4 : i64, head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : tensor<?x64xf32>, tensor<?xi32>
  %kr = llm.rope %k, %pos {num_heads = 2 : i64, head_dim = 16 : i64, rotary_dim = 16 : i64, theta = 10000.0 : f64} : tensor<?x32xf32>, tensor<?xi32>
  %a = llm.attention %qr, %kr, %v, %batch {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  %o = llm.linear %a, @o : tensor<?x64xf32> -> tensor<?x64xf32>
  %r = llm.add %x, %o : tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// A gated MLP: gate and up keep rows, down keeps columns; only rank 0 adds a bias of
// the row-parallel linear, so the sum over ranks adds it once.
llm.weight @gate : tensor<128x64xf32> = ["gate.weight"]
llm.weight @up : tensor<128x64xf32> = ["up.weight"]
llm.weight @up_bias : tensor<128xf32> = ["up.bias"]
llm.weight @down : tensor<64x128xf32> = ["down.weight"]
llm.weight @down_bias : tensor<64xf32> = ["down.bias"]
// CHECK: llm.weight @gate : tensor<64x64xf32> = ["gate.weight"] slices [array<i64: 0, 64, 64>]
// CHECK: llm.weight @up_bias : tensor<64xf32> = ["up.bias"] slices [array<i64: 0, 64, 64>]
// CHECK: llm.weight @down : tensor<64x64xf32> = ["down.weight"] slices [array<i64: 1, 64, 64>]
// CHECK-NOT: @down_bias
// CHECK-LABEL: func.func @mlp
// CHECK: llm.silu %{{.*}} : tensor<?x64xf32>
// CHECK: %[[D:.*]] = llm.linear %{{.*}}, @down : tensor<?x64xf32> -> tensor<?x64xf32>
// CHECK: llm.all_reduce %[[D]] {group_size = 2 : i64}
// RANK0: llm.weight @down_bias : tensor<64xf32> = ["down.bias"]
// RANK0-LABEL: func.func @mlp
// RANK0: llm.linear %{{.*}}, @down bias @down_bias
func.func @mlp(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %g = llm.linear %x, @gate : tensor<?x64xf32> -> tensor<?x128xf32>
  %u = llm.linear %x, @up bias @up_bias : tensor<?x64xf32> -> tensor<?x128xf32>
  %s = llm.silu %g : tensor<?x128xf32>
  %m = llm.mul %s, %u : tensor<?x128xf32>
  %d = llm.linear %m, @down bias @down_bias : tensor<?x128xf32> -> tensor<?x64xf32>
  return %d : tensor<?x64xf32>
}

// -----

// GPT-2's one QKV projection split in three: each piece keeps its own heads, so the
// weight keeps three row ranges.
llm.weight @qkv : tensor<192x64xf32> = ["c_attn.weight"] transposed
llm.weight @proj : tensor<64x64xf32> = ["c_proj.weight"] transposed
// CHECK: llm.weight @qkv : tensor<96x64xf32> = ["c_attn.weight"] transposed slices [array<i64: 0, 32, 32, 96, 32, 160, 32>]
// CHECK: llm.weight @proj : tensor<64x32xf32> = ["c_proj.weight"] transposed slices [array<i64: 1, 32, 32>]
// CHECK-LABEL: func.func @fused_qkv
// CHECK: llm.split %{{.*}} : tensor<?x96xf32> -> tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
func.func @fused_qkv(%x: tensor<?x64xf32>, %batch: !llm.batch) -> tensor<?x64xf32> {
  %qkv = llm.linear %x, @qkv : tensor<?x64xf32> -> tensor<?x192xf32>
  %q, %k, %v = llm.split %qkv : tensor<?x192xf32> -> tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
  %a = llm.attention %q, %k, %v, %batch {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 0.25 : f64} : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>
  %o = llm.linear %a, @proj : tensor<?x64xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// A tied embedding and LM head: the table splits by rows. The embedding shard gives zero
// rows outside it, summed over the ranks; each rank's logits are gathered side by side. A
// table whose rows do not divide (7) stays whole.
llm.weight @embed : tensor<256x64xf32> = ["embed.weight"]
llm.weight @odd : tensor<7x64xf32> = ["odd.weight"]
// CHECK: llm.weight @embed : tensor<128x64xf32> = ["embed.weight"] slices [array<i64: 0, 128, 128>]
// CHECK: llm.weight @odd : tensor<7x64xf32> = ["odd.weight"]{{$}}
// CHECK-LABEL: func.func @vocabulary
// CHECK: %[[E:.*]] = llm.embedding %{{.*}}, @embed {vocab_offset = 128 : i64}
// CHECK: llm.all_reduce %[[E]] {group_size = 2 : i64}
// CHECK: %[[L:.*]] = llm.logits %{{.*}}, @embed : tensor<?x64xf32> -> tensor<?x128xf32>
// CHECK: %[[G:.*]] = llm.all_gather %[[L]] {group_size = 2 : i64} : tensor<?x128xf32> -> tensor<?x256xf32>
// CHECK: return %[[G]]
// TP4: llm.weight @embed : tensor<64x64xf32> = ["embed.weight"] slices [array<i64: 0, 192, 64>]
func.func @vocabulary(%ids: tensor<?xi32>, %small: tensor<?xi32>) -> (tensor<?x256xf32>, tensor<?x64xf32>) {
  %x = llm.embedding %ids, @embed : tensor<?xi32> -> tensor<?x64xf32>
  %y = llm.embedding %small, @odd : tensor<?xi32> -> tensor<?x64xf32>
  %s = llm.add %x, %y : tensor<?x64xf32>
  %l = llm.logits %s, @embed : tensor<?x64xf32> -> tensor<?x256xf32>
  return %l, %y : tensor<?x256xf32>, tensor<?x64xf32>
}

// -----

// A value read outside its region keeps the region from being sharded: nothing to do.
// expected-error @below {{llm-partition: nothing to shard over}}
module {
  llm.weight @a : tensor<64x64xf32> = ["a.weight"]
  llm.weight @b : tensor<64x64xf32> = ["b.weight"]
  func.func @escapes(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
    %h = llm.linear %x, @a : tensor<?x64xf32> -> tensor<?x64xf32>
    %s = llm.silu %h : tensor<?x64xf32>
    %o = llm.linear %s, @b : tensor<?x64xf32> -> tensor<?x64xf32>
    return %o, %s : tensor<?x64xf32>, tensor<?x64xf32>
  }
}

// -----

// Three query heads do not split over two ranks (nor over four).
llm.weight @q3 : tensor<48x48xf32> = ["q.weight"]
llm.weight @o3 : tensor<48x48xf32> = ["o.weight"]
func.func @odd_heads(%x: tensor<?x48xf32>, %batch: !llm.batch) -> tensor<?x48xf32> {
  %q = llm.linear %x, @q3 : tensor<?x48xf32> -> tensor<?x48xf32>
  // expected-error @below {{llm-partition: 3 query heads do not split over}}
  %a = llm.attention %q, %q, %q, %batch {layer = 0 : i64, num_heads = 3 : i64, num_kv_heads = 3 : i64, head_dim = 16 : i64, scale = 0.25 : f64} : tensor<?x48xf32>, tensor<?x48xf32>, tensor<?x48xf32> -> tensor<?x48xf32>
  %o = llm.linear %a, @o3 : tensor<?x48xf32> -> tensor<?x48xf32>
  return %o : tensor<?x48xf32>
}

// -----

// A mixture of 2 experts of 8 intermediate features: each rank keeps its block of every
// expert (gate and up rows, down columns), one source per expert or one stacked tensor
// (GGUF's ffn_*_exps); the router stays whole and the partial sums are all-reduced.
llm.weight @router : tensor<2x16xf32> = ["router"]
llm.weight @gate : tensor<16x16xf32> = ["e0.gate", "e1.gate"]
llm.weight @up : tensor<16x16xf32> = ["up_exps"]
llm.weight @down : tensor<32x8xf32> = ["e0.down", "e1.down"]
// CHECK: llm.weight @router : tensor<2x16xf32> = ["router"]{{$}}
// CHECK: llm.weight @gate : tensor<8x16xf32> = ["e0.gate", "e1.gate"] slices [array<i64: 0, 4, 4>, array<i64: 0, 4, 4>]
// CHECK: llm.weight @up : tensor<8x16xf32> = ["up_exps"] slices [array<i64: 0, 4, 4, 12, 4>]
// CHECK: llm.weight @down : tensor<32x4xf32> = ["e0.down", "e1.down"] slices [array<i64: 1, 4, 4>, array<i64: 1, 4, 4>]
// CHECK-LABEL: func.func @experts
// CHECK: %[[M:.*]] = llm.moe
// CHECK-NEXT: %[[S:.*]] = llm.all_reduce %[[M]] {group_size = 2 : i64}
// CHECK-NEXT: return %[[S]]
// RANK0: llm.weight @gate : tensor<8x16xf32> = ["e0.gate", "e1.gate"] slices [array<i64: 0, 0, 4>, array<i64: 0, 0, 4>]
// RANK0: llm.weight @up : tensor<8x16xf32> = ["up_exps"] slices [array<i64: 0, 0, 4, 8, 4>]
// TP4: llm.weight @gate : tensor<4x16xf32> = ["e0.gate", "e1.gate"] slices [array<i64: 0, 6, 2>, array<i64: 0, 6, 2>]
// TP4: llm.weight @up : tensor<4x16xf32> = ["up_exps"] slices [array<i64: 0, 6, 2, 14, 2>]
// TP4: llm.weight @down : tensor<32x2xf32> = ["e0.down", "e1.down"] slices [array<i64: 1, 6, 2>, array<i64: 1, 6, 2>]
func.func @experts(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %l = llm.linear %x, @router : tensor<?x16xf32> -> tensor<?x2xf32>
  %y = llm.moe %x, %l experts(@gate, @up, @down) {num_experts = 2 : i64, top_k = 1 : i64} : tensor<?x16xf32>, tensor<?x2xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Experts of 5 intermediate features do not split over 2 (or 4) ranks.
llm.weight @router5 : tensor<2x16xf32> = ["router"]
llm.weight @gate5 : tensor<10x16xf32> = ["gate_exps"]
llm.weight @up5 : tensor<10x16xf32> = ["up_exps"]
llm.weight @down5 : tensor<32x5xf32> = ["down_exps"]
func.func @odd_experts(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %l = llm.linear %x, @router5 : tensor<?x16xf32> -> tensor<?x2xf32>
  // expected-error @below {{llm-partition: experts of 5 intermediate features do not split over}}
  %y = llm.moe %x, %l experts(@gate5, @up5, @down5) {num_experts = 2 : i64, top_k = 1 : i64} : tensor<?x16xf32>, tensor<?x2xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A shared expert (Qwen2-MoE) is an MLP region of its own: sharded like any, but its
// all-reduce gives way to the mixture's, which adds the ranks' partials of both.
llm.weight @srouter : tensor<2x16xf32> = ["router"]
llm.weight @sgate : tensor<16x16xf32> = ["gate_exps"]
llm.weight @sup : tensor<16x16xf32> = ["up_exps"]
llm.weight @sdown : tensor<32x8xf32> = ["down_exps"]
llm.weight @shg : tensor<8x16xf32> = ["shared.gate"]
llm.weight @shu : tensor<8x16xf32> = ["shared.up"]
llm.weight @shd : tensor<16x8xf32> = ["shared.down"]
llm.weight @shgate : tensor<1x16xf32> = ["shared_expert_gate"]
// CHECK: llm.weight @shg : tensor<4x16xf32> = ["shared.gate"] slices [array<i64: 0, 4, 4>]
// CHECK: llm.weight @shd : tensor<16x4xf32> = ["shared.down"] slices [array<i64: 1, 4, 4>]
// CHECK: llm.weight @shgate : tensor<1x16xf32> = ["shared_expert_gate"]{{$}}
// CHECK-LABEL: func.func @shared_expert
// CHECK: %[[D:.*]] = llm.linear %{{.*}}, @shd : tensor<?x4xf32> -> tensor<?x16xf32>
// CHECK-NOT: llm.all_reduce
// CHECK: %[[M:.*]] = llm.moe %{{.*}}, %{{.*}} shared %[[D]] shared_gate
// CHECK-NEXT: %[[S:.*]] = llm.all_reduce %[[M]] {group_size = 2 : i64}
// CHECK-NEXT: return %[[S]]
func.func @shared_expert(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %l = llm.linear %x, @srouter : tensor<?x16xf32> -> tensor<?x2xf32>
  %g = llm.linear %x, @shg : tensor<?x16xf32> -> tensor<?x8xf32>
  %u = llm.linear %x, @shu : tensor<?x16xf32> -> tensor<?x8xf32>
  %a = llm.silu %g : tensor<?x8xf32>
  %m = llm.mul %a, %u : tensor<?x8xf32>
  %d = llm.linear %m, @shd : tensor<?x8xf32> -> tensor<?x16xf32>
  %sg = llm.linear %x, @shgate : tensor<?x16xf32> -> tensor<?x1xf32>
  %y = llm.moe %x, %l shared %d shared_gate %sg experts(@sgate, @sup, @sdown) {num_experts = 2 : i64, top_k = 1 : i64} : tensor<?x16xf32>, tensor<?x2xf32> shared tensor<?x16xf32> shared_gate tensor<?x1xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A shared expert that is no sharded MLP would be whole on every rank and counted once per
// rank by the mixture's all-reduce: refused.
llm.weight @wrouter : tensor<2x16xf32> = ["router"]
llm.weight @wgate : tensor<16x16xf32> = ["gate_exps"]
llm.weight @wup : tensor<16x16xf32> = ["up_exps"]
llm.weight @wdown : tensor<32x8xf32> = ["down_exps"]
llm.weight @whole : tensor<16x16xf32> = ["shared"]
func.func @whole_shared(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %l = llm.linear %x, @wrouter : tensor<?x16xf32> -> tensor<?x2xf32>
  %s = llm.linear %x, @whole : tensor<?x16xf32> -> tensor<?x16xf32>
  // expected-error @below {{llm-partition: its shared expert is not a sharded MLP}}
  %y = llm.moe %x, %l shared %s experts(@wgate, @wup, @wdown) {num_experts = 2 : i64, top_k = 1 : i64} : tensor<?x16xf32>, tensor<?x2xf32> shared tensor<?x16xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// gpt-oss's experts: gate and up are the even and odd rows of each expert's transposed
// gate_up_proj (stride 2), so rank r's block of expert e starts at 2I e + 2 (r I / tp) and
// keeps the stride; the biases shard with their features, and only rank 0 adds the down
// projection's. Attention sinks go with their query heads.
llm.weight @grouter : tensor<2x16xf32> = ["router"]
llm.weight @ggate : tensor<16x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 0, 16>] stride 2
llm.weight @gup : tensor<16x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 1, 16>] stride 2
llm.weight @gdown : tensor<32x8xf32> = ["down_proj"] transposed
llm.weight @ggbias : tensor<2x8xf32> = ["gate_up_proj_bias"] slices [array<i64: 1, 0, 8>] stride 2
llm.weight @gdbias : tensor<2x16xf32> = ["down_proj_bias"]
// CHECK: llm.weight @ggate : tensor<8x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 8, 4, 24, 4>] stride 2
// CHECK: llm.weight @gup : tensor<8x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 9, 4, 25, 4>] stride 2
// CHECK: llm.weight @gdown : tensor<32x4xf32> = ["down_proj"] transposed slices [array<i64: 1, 4, 4>]
// CHECK: llm.weight @ggbias : tensor<2x4xf32> = ["gate_up_proj_bias"] slices [array<i64: 1, 8, 4>] stride 2
// CHECK-NOT: @gdbias
// CHECK-LABEL: func.func @interleaved_experts
// CHECK: llm.moe {{.*}} {gate_bias = @ggbias, num_experts = 2
// RANK0: llm.weight @ggate : tensor<8x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 0, 4, 16, 4>] stride 2
// RANK0: llm.weight @ggbias : tensor<2x4xf32> = ["gate_up_proj_bias"] slices [array<i64: 1, 0, 4>] stride 2
// RANK0: llm.weight @gdbias : tensor<2x16xf32> = ["down_proj_bias"]{{$}}
// RANK0: llm.moe {{.*}} {down_bias = @gdbias, gate_bias = @ggbias
// TP4: llm.weight @ggate : tensor<4x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 12, 2, 28, 2>] stride 2
// TP4: llm.weight @ggbias : tensor<2x2xf32> = ["gate_up_proj_bias"] slices [array<i64: 1, 12, 2>] stride 2
func.func @interleaved_experts(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %l = llm.linear %x, @grouter : tensor<?x16xf32> -> tensor<?x2xf32>
  %y = llm.moe %x, %l experts(@ggate, @gup, @gdown) {num_experts = 2 : i64, top_k = 1 : i64, gate_bias = @ggbias, down_bias = @gdbias, swiglu_alpha = 1.702 : f64, swiglu_limit = 7.0 : f64} : tensor<?x16xf32>, tensor<?x2xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

llm.weight @sq : tensor<64x64xf32> = ["q.weight"]
llm.weight @sk : tensor<32x64xf32> = ["k.weight"]
llm.weight @sv : tensor<32x64xf32> = ["v.weight"]
llm.weight @so : tensor<64x64xf32> = ["o.weight"]
llm.weight @ssinks : tensor<4xf32> = ["sinks"]
// CHECK: llm.weight @ssinks : tensor<2xf32> = ["sinks"] slices [array<i64: 0, 2, 2>]
// CHECK-LABEL: func.func @sinks
// CHECK: llm.attention {{.*}}num_heads = 2 : i64, num_kv_heads = 1 : i64, scale = 2.500000e-01 : f64, sinks = @ssinks}
// RANK0: llm.weight @ssinks : tensor<2xf32> = ["sinks"] slices [array<i64: 0, 0, 2>]
// TP4: llm.weight @ssinks : tensor<1xf32> = ["sinks"] slices [array<i64: 0, 3, 1>]
func.func @sinks(%x: tensor<?x64xf32>, %batch: !llm.batch) -> tensor<?x64xf32> {
  %q = llm.linear %x, @sq : tensor<?x64xf32> -> tensor<?x64xf32>
  %k = llm.linear %x, @sk : tensor<?x64xf32> -> tensor<?x32xf32>
  %v = llm.linear %x, @sv : tensor<?x64xf32> -> tensor<?x32xf32>
  %a = llm.attention %q, %k, %v, %batch {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64, sinks = @ssinks} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  %o = llm.linear %a, @so : tensor<?x64xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// LFM2's short convolution: in_proj's B, C and x parts, B x convolved per feature, times C,
// out_proj. Each rank convolves its own features: the convolution's weight rows (and
// bias) follow its input's columns, as the parts' rows do; out_proj keeps the matching
// input columns and is all-reduced.
llm.weight @b : tensor<8x8xf32> = ["in_proj.weight"] slices [array<i64: 0, 0, 8>]
llm.weight @c : tensor<8x8xf32> = ["in_proj.weight"] slices [array<i64: 0, 8, 8>]
llm.weight @x : tensor<8x8xf32> = ["in_proj.weight"] slices [array<i64: 0, 16, 8>]
llm.weight @conv : tensor<8x3xf32> = ["conv.weight"]
llm.weight @convb : tensor<8xf32> = ["conv.bias"]
llm.weight @out : tensor<8x8xf32> = ["out_proj.weight"]
// CHECK: llm.weight @b : tensor<4x8xf32> = ["in_proj.weight"] slices [array<i64: 0, 4, 4>]
// CHECK: llm.weight @c : tensor<4x8xf32> = ["in_proj.weight"] slices [array<i64: 0, 12, 4>]
// CHECK: llm.weight @x : tensor<4x8xf32> = ["in_proj.weight"] slices [array<i64: 0, 20, 4>]
// CHECK: llm.weight @conv : tensor<4x3xf32> = ["conv.weight"] slices [array<i64: 0, 4, 4>]
// CHECK: llm.weight @convb : tensor<4xf32> = ["conv.bias"] slices [array<i64: 0, 4, 4>]
// CHECK: llm.weight @out : tensor<8x4xf32> = ["out_proj.weight"] slices [array<i64: 1, 4, 4>]
// CHECK-LABEL: func.func @short_conv
// CHECK: llm.causal_conv1d {{.*}} : tensor<?x4xf32> -> tensor<?x4xf32>
// CHECK: llm.all_reduce
func.func @short_conv(%h: tensor<?x8xf32>, %batch: !llm.batch) -> tensor<?x8xf32> {
  %b = llm.linear %h, @b : tensor<?x8xf32> -> tensor<?x8xf32>
  %c = llm.linear %h, @c : tensor<?x8xf32> -> tensor<?x8xf32>
  %x = llm.linear %h, @x : tensor<?x8xf32> -> tensor<?x8xf32>
  %bx = llm.mul %b, %x : tensor<?x8xf32>
  %conv = llm.causal_conv1d %bx, %batch {state = 0 : i64, kernel_size = 3 : i64, weight = @conv, bias = @convb} : tensor<?x8xf32> -> tensor<?x8xf32>
  %y = llm.mul %c, %conv : tensor<?x8xf32>
  %o = llm.linear %y, @out : tensor<?x8xf32> -> tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

// Qwen3.5's Gated DeltaNet: 4 key heads of 2, 4 value heads of 2. Rank 1 of 2 keeps key and
// value heads 2-3: the rows of in_proj_qkv's query, key and value parts (one tensor,
// convolved together), of in_proj_z, in_proj_b and in_proj_a, of the convolution, and of
// A_log and dt_bias; the per-head norm's weight is every head's; out_proj keeps the
// matching input columns and is all-reduced.
llm.weight @qkv : tensor<24x8xf32> = ["in_proj_qkv.weight"]
llm.weight @z : tensor<8x8xf32> = ["in_proj_z.weight"]
llm.weight @b : tensor<4x8xf32> = ["in_proj_b.weight"]
llm.weight @a : tensor<4x8xf32> = ["in_proj_a.weight"]
llm.weight @conv : tensor<24x4xf32> = ["conv1d.weight"]
llm.weight @alog : tensor<4xf32> = ["A_log"]
llm.weight @dtb : tensor<4xf32> = ["dt_bias"]
llm.weight @norm : tensor<2xf32> = ["norm.weight"]
llm.weight @out : tensor<8x8xf32> = ["out_proj.weight"]
// CHECK: llm.weight @qkv : tensor<12x8xf32> = ["in_proj_qkv.weight"] slices [array<i64: 0, 4, 4, 12, 4, 20, 4>]
// CHECK: llm.weight @z : tensor<4x8xf32> = ["in_proj_z.weight"] slices [array<i64: 0, 4, 4>]
// CHECK: llm.weight @b : tensor<2x8xf32> = ["in_proj_b.weight"] slices [array<i64: 0, 2, 2>]
// CHECK: llm.weight @conv : tensor<12x4xf32> = ["conv1d.weight"] slices [array<i64: 0, 4, 4, 12, 4, 20, 4>]
// CHECK: llm.weight @alog : tensor<2xf32> = ["A_log"] slices [array<i64: 0, 2, 2>]
// CHECK: llm.weight @norm : tensor<2xf32> = ["norm.weight"]{{$}}
// CHECK: llm.weight @out : tensor<8x4xf32> = ["out_proj.weight"] slices [array<i64: 1, 4, 4>]
// CHECK-LABEL: func.func @gated_delta
// CHECK: llm.gated_delta_rule {{.*}}num_k_heads = 2 : i64, num_v_heads = 2 : i64
// CHECK: llm.all_reduce
func.func @gated_delta(%h: tensor<?x8xf32>, %pos: tensor<?xi32>, %batch: !llm.batch) -> tensor<?x8xf32> {
  %qkv = llm.linear %h, @qkv : tensor<?x8xf32> -> tensor<?x24xf32>
  %z = llm.linear %h, @z : tensor<?x8xf32> -> tensor<?x8xf32>
  %b = llm.linear %h, @b : tensor<?x8xf32> -> tensor<?x4xf32>
  %a = llm.linear %h, @a : tensor<?x8xf32> -> tensor<?x4xf32>
  %c = llm.causal_conv1d %qkv, %batch {state = 0 : i64, kernel_size = 4 : i64, weight = @conv, activation = "silu"} : tensor<?x24xf32> -> tensor<?x24xf32>
  %q, %k, %v = llm.split %c : tensor<?x24xf32> -> tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
  %o = llm.gated_delta_rule %q, %k, %v, %a, %b, %batch {state = 1 : i64, num_k_heads = 4 : i64, num_v_heads = 4 : i64, key_head_dim = 2 : i64, value_head_dim = 2 : i64, a_log = @alog, dt_bias = @dtb} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  %n = llm.rope %o, %pos {num_heads = 4 : i64, head_dim = 2 : i64, rotary_dim = 0 : i64, theta = 10000.0 : f64, norm_weight = @norm, norm_eps = 1.0e-06 : f64} : tensor<?x8xf32>, tensor<?xi32>
  %g = llm.silu %z : tensor<?x8xf32>
  %y = llm.mul %n, %g : tensor<?x8xf32>
  %r = llm.linear %y, @out : tensor<?x8xf32> -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}
