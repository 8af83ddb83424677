import CDirRM
import DirRMCore

// Datasets and synthetic data (docs/mathematics.md §5).

func lookupDataset(_ d: OpaquePointer?, _ name: String) throws(ABIError) -> PreferenceDataset {
  try Handles.shared(d, PreferenceDataset.self, name)
}

@c @implementation
public func dirrm_dataset_create(
  _ numPrompts: Int64, _ promptDim: Int64, _ promptFeatures: UnsafePointer<Float>?, _ numResponses: Int64,
  _ responseDim: Int64, _ responseFeatures: UnsafePointer<Float>?, _ numPairs: Int64,
  _ pairs: UnsafePointer<Int64>?, _ biasDim: Int64, _ bias: UnsafePointer<Float>?,
  _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_dataset_create") { () throws(ABIError) in
    let prompts = try Check.count(numPrompts, "num_prompts")
    let pdim = try Check.count(promptDim, "prompt_dim")
    let responses = try Check.count(numResponses, "num_responses")
    let rdim = try Check.count(responseDim, "response_dim")
    let count = try Check.count(numPairs, "num_pairs")
    let bdim = try Check.count(biasDim, "bias_dim", minimum: 0)
    let promptValues = try Check.array(
      promptFeatures, Check.product(prompts, pdim, "prompt_features"), "prompt_features")
    let responseValues = try Check.array(
      responseFeatures, Check.product(responses, rdim, "response_features"), "response_features")
    guard let pairs else { throw ABIError(DIRRM_ERR_NULL_POINTER, "pairs is NULL") }
    let triples = UnsafeBufferPointer(start: pairs, count: try Check.product(count, 3, "pairs"))
    var biasValues: [Float] = []
    if bdim > 0 {
      biasValues = try Check.array(bias, Check.product(count, bdim, "bias"), "bias")
    } else if bias != nil {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "bias must be NULL when bias_dim is 0")
    }
    let handle = try Check.output(out, "out")
    // Before the pairs are parsed (each copy above was probed by Check.array).
    try reserve(
      PreferenceDataset.bytes(
        prompts: prompts, promptDim: pdim, responses: responses, responseDim: rdim, pairs: count,
        biasDim: bdim),
      for: "the dataset")
    let parsed = (0..<count).map {
      PreferenceDataset.Pair(
        prompt: Int(clamping: triples[$0 * 3]), chosen: Int(clamping: triples[$0 * 3 + 1]),
        rejected: Int(clamping: triples[$0 * 3 + 2]))
    }
    let dataset = try bridge("") { () throws(ConfigError) in
      try PreferenceDataset(
        promptDim: pdim, prompts: promptValues, responseDim: rdim, responses: responseValues, pairs: parsed,
        biasDim: bdim, bias: biasValues)
    }
    handle.pointee = Handles.register(dataset)
  }
}

@c @implementation
public func dirrm_dataset_free(_ d: OpaquePointer?) -> Int32 {
  abiCall("dirrm_dataset_free") { () throws(ABIError) in
    try Handles.release(d, PreferenceDataset.self, "d")
  }
}

@c @implementation
public func dirrm_dataset_shape(
  _ d: OpaquePointer?, _ numPrompts: UnsafeMutablePointer<Int64>?, _ promptDim: UnsafeMutablePointer<Int64>?,
  _ numResponses: UnsafeMutablePointer<Int64>?, _ responseDim: UnsafeMutablePointer<Int64>?,
  _ numPairs: UnsafeMutablePointer<Int64>?, _ biasDim: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_dataset_shape") { () throws(ABIError) in
    let data = try lookupDataset(d, "d")
    numPrompts?.pointee = Int64(data.promptCount)
    promptDim?.pointee = Int64(data.promptDim)
    numResponses?.pointee = Int64(data.responseCount)
    responseDim?.pointee = Int64(data.responseDim)
    numPairs?.pointee = Int64(data.pairs.count)
    biasDim?.pointee = Int64(data.biasDim)
  }
}

@c @implementation
public func dirrm_dataset_copy(
  _ d: OpaquePointer?, _ promptFeatures: UnsafeMutablePointer<Float>?,
  _ responseFeatures: UnsafeMutablePointer<Float>?, _ pairs: UnsafeMutablePointer<Int64>?,
  _ bias: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_dataset_copy") { () throws(ABIError) in
    let data = try lookupDataset(d, "d")
    if bias != nil && data.biasDim == 0 {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "bias must be NULL: the dataset has no bias columns")
    }
    Check.write(data.prompts, toOptional: promptFeatures)
    Check.write(data.responses, toOptional: responseFeatures)
    if let pairs {
      for (i, pair) in data.pairs.enumerated() {
        pairs[3 * i] = Int64(pair.prompt)
        pairs[3 * i + 1] = Int64(pair.chosen)
        pairs[3 * i + 2] = Int64(pair.rejected)
      }
    }
    Check.write(data.bias, toOptional: bias)
  }
}

@c @implementation
public func dirrm_synth_params_init(_ p: UnsafeMutablePointer<dirrm_synth_params>?) {
  fillDefaults(p) { params(of: SyntheticPreferences.Settings.defaults) }
}

/// The parameter struct of synthetic-data settings (dirrm_synth_params_init from the core's
/// defaults).
func params(of settings: SyntheticPreferences.Settings) -> dirrm_synth_params {
  let kind: Int32 =
    switch settings.kind {
    case .unbiased: DIRRM_SYNTH_UNBIASED
    case .length: DIRRM_SYNTH_LENGTH
    case .sycophancy: DIRRM_SYNTH_SYCOPHANCY
    case .adversarial: DIRRM_SYNTH_ADVERSARIAL
    }
  return dirrm_synth_params(
    struct_size: UInt32(MemoryLayout<dirrm_synth_params>.size), kind: kind,
    bias_ratio: Float(settings.biasRatio),
    num_prompts: Int64(settings.promptCount),
    responses_per_prompt: Int32(clamping: settings.responsesPerPrompt),
    prompt_dim: Int64(settings.promptDim), response_dim: Int64(settings.responseDim), seed: settings.seed)
}

@c @implementation
public func dirrm_synth_generate(
  _ p: UnsafePointer<dirrm_synth_params>?, _ train: UnsafeMutablePointer<OpaquePointer?>?,
  _ test: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_synth_generate") { () throws(ABIError) in
    let params = try readParams(p, "p")
    let kind: SyntheticPreferences.Kind
    switch params.kind {
    case DIRRM_SYNTH_UNBIASED: kind = .unbiased
    case DIRRM_SYNTH_LENGTH: kind = .length
    case DIRRM_SYNTH_SYCOPHANCY: kind = .sycophancy
    case DIRRM_SYNTH_ADVERSARIAL: kind = .adversarial
    default:
      throw ABIError(
        DIRRM_ERR_INVALID_ARGUMENT, "p->kind = \(params.kind) is not one of the DIRRM_SYNTH_* constants")
    }
    // Int64 and Int32 to Int are exact on the 64-bit platforms the library builds for.
    let settings = SyntheticPreferences.Settings(
      kind: kind, biasRatio: Double(params.bias_ratio), promptCount: Int(params.num_prompts),
      responsesPerPrompt: Int(params.responses_per_prompt), promptDim: Int(params.prompt_dim),
      responseDim: Int(params.response_dim), seed: params.seed)
    try bridge("p->") { () throws(ConfigError) in try settings.validate() }
    let trainOut = try Check.output(train, "train")
    let testOut = try Check.output(test, "test")
    try reserve(SyntheticPreferences.workBytes(settings), for: "the synthetic data")
    let (a, b) = SyntheticPreferences.generate(settings)
    trainOut.pointee = Handles.register(a)
    testOut.pointee = Handles.register(b)
  }
}
