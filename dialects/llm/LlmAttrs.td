#ifndef MODELC_LLM_ATTRS
#define MODELC_LLM_ATTRS

include "LlmDialect.td"

def Llm_GeluApproximation : I32EnumAttr<"GeluApproximation", "GELU formula", [
    I32EnumAttrCase<"none", 0>,  // x * Phi(x), with erf
    I32EnumAttrCase<"tanh", 1>,  // the tanh approximation (GPT-2's gelu_new)
  ]> {
  let cppNamespace = "::modelc::llm";
  let genSpecializedAttr = 0;
}
def Llm_GeluApproximationAttr
    : EnumAttr<Llm_Dialect, Llm_GeluApproximation, "gelu_approximation"> {
  let assemblyFormat = "`<` $value `>`";
}

def Llm_Llama3RopeScalingAttr : AttrDef<Llm_Dialect, "Llama3RopeScaling"> {
  let mnemonic = "llama3_scaling";
  let summary = "Llama 3.1 frequency-dependent RoPE scaling";
  let description = [{
    Wavelengths longer than `original_max_position / low_freq_factor` are divided by
    `factor`, those shorter than `original_max_position / high_freq_factor` are kept, and
    the band between is interpolated smoothly (Hugging Face `rope_type: "llama3"`).
  }];
  let parameters = (ins APFloatParameter<"scale factor">:$factor,
                        APFloatParameter<"">:$low_freq_factor,
                        APFloatParameter<"">:$high_freq_factor,
                        "int64_t":$original_max_position);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // MODELC_LLM_ATTRS
