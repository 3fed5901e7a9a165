// RUN: modelc-opt %s -split-input-file -verify-diagnostics

func.func @columns_range(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{columns [6, 10) fall outside the 8 input columns}}
  %y = kern.columns %x [6] : tensor<?x8xf32> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

func.func @columns_type(%x: tensor<?x8xf32>) -> tensor<?x4xf16> {
  // expected-error @+1 {{cannot change the element type}}
  %y = kern.columns %x [0] : tensor<?x8xf32> -> tensor<?x4xf16>
  return %y : tensor<?x4xf16>
}

// -----

llm.weight @t : tensor<4x8xf32> = ["t"]
func.func @gather_both(%x: tensor<?x8xf32>, %i: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{reads either a source activation or a table weight}}
  %y = kern.gather_rows %x : tensor<?x8xf32> @t [%i] : tensor<?xi32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @w : tensor<8x4xf32> = ["w"]
func.func @gemm_weight(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{weight @w has type 'tensor<8x4xf32>', which does not fit this kernel}}
  %y = kern.gemm %x, @w : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @fused_width(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{every input and result must have 4 columns, got 'tensor<?x8xf32>'}}
  %y = kern.fused ins(%x : tensor<?x8xf32>) weights([]) -> tensor<?x4xf32> {
  ^bb0(%a: f32):
    kern.yield %a : f32
  }
  return %y : tensor<?x4xf32>
}

// -----

func.func @fused_args(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{body takes 2 arguments, expected one per input and weight (1)}}
  %y = kern.fused ins(%x : tensor<?x8xf32>) weights([]) -> tensor<?x8xf32> {
  ^bb0(%a: f32, %b: f32):
    kern.yield %a : f32
  }
  return %y : tensor<?x8xf32>
}

// -----

func.func @fused_arg_type(%x: tensor<?x8xf16>) -> tensor<?x8xf16> {
  // expected-error @+1 {{body argument 0 has type 'f32', expected 'f16'}}
  %y = kern.fused ins(%x : tensor<?x8xf16>) weights([]) -> tensor<?x8xf16> {
  ^bb0(%a: f32):
    %t = arith.truncf %a : f32 to f16
    kern.yield %t : f16
  }
  return %y : tensor<?x8xf16>
}

// -----

func.func @fused_yield_count(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{yields 2 values for 1 results}}
  %y = kern.fused ins(%x : tensor<?x8xf32>) weights([]) -> tensor<?x8xf32> {
  ^bb0(%a: f32):
    kern.yield %a, %a : f32, f32
  }
  return %y : tensor<?x8xf32>
}

// -----

func.func @fused_yield_type(%x: tensor<?x8xf32>) -> tensor<?x8xf16> {
  // expected-error @+1 {{yields 'f32' for a result of 'tensor<?x8xf16>'}}
  %y = kern.fused ins(%x : tensor<?x8xf32>) weights([]) -> tensor<?x8xf16> {
  ^bb0(%a: f32):
    kern.yield %a : f32
  }
  return %y : tensor<?x8xf16>
}

// -----

llm.weight @w : tensor<4xf32> = ["w"]
func.func @fused_weight_width(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{weight @w has type 'tensor<4xf32>', which does not fit this kernel}}
  %y = kern.fused ins(%x : tensor<?x8xf32>) weights([@w]) -> tensor<?x8xf32> {
  ^bb0(%a: f32, %w: f32):
    kern.yield %a : f32
  }
  return %y : tensor<?x8xf32>
}

// -----

func.func @reduce_outside(%a: f32) -> f32 {
  // expected-error @+1 {{expects parent op 'kern.fused'}}
  %s = kern.reduce <add> %a : f32
  return %s : f32
}
