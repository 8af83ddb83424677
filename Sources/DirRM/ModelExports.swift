import CDirRM
import DirRMCore

// Datasets, synthetic data, the reward model, training and evaluation (docs/mathematics.md §5).

private func lookupDataset(_ d: OpaquePointer?, _ name: String) throws(ABIError) -> PreferenceDataset {
  try Handles.shared(d, PreferenceDataset.self, name)
}

private func lookupModel(_ m: OpaquePointer?) throws(ABIError) -> HandleBox<RewardModel<Float>> {
  try Handles.lookup(m, RewardModel<Float>.self, "m")
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
    let promptValues = try Check.input(
      promptFeatures, Check.product(prompts, pdim, "prompt_features"), "prompt_features")
    let responseValues = try Check.input(
      responseFeatures, Check.product(responses, rdim, "response_features"), "response_features")
    guard let pairs else { throw ABIError(DIRRM_ERR_NULL_POINTER, "pairs is NULL") }
    let triples = UnsafeBufferPointer(start: pairs, count: try Check.product(count, 3, "pairs"))
    let parsed = (0..<count).map {
      PreferenceDataset.Pair(
        prompt: Int(clamping: triples[$0 * 3]), chosen: Int(clamping: triples[$0 * 3 + 1]),
        rejected: Int(clamping: triples[$0 * 3 + 2]))
    }
    if let (_, _, message) = PreferenceDataset.firstInvalidPair(
      parsed, promptCount: prompts, responseCount: responses)
    {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, message)
    }
    var biasValues: [Float] = []
    if bdim > 0 {
      biasValues = Array(try Check.input(bias, Check.product(count, bdim, "bias"), "bias"))
    } else if bias != nil {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "bias must be NULL when bias_dim is 0")
    }
    let handle = try Check.output(out, "out")
    try reserve(
      Workspace.bytes([[prompts, pdim], [responses, rdim], [count, 8], [count, bdim]]), for: "the dataset")
    let dataset = PreferenceDataset(
      promptDim: pdim, prompts: Array(promptValues), responseDim: rdim, responses: Array(responseValues),
      pairs: (0..<count).map {
        .init(
          prompt: Int(triples[$0 * 3]), chosen: Int(triples[$0 * 3 + 1]), rejected: Int(triples[$0 * 3 + 2]))
      }, biasDim: bdim, bias: biasValues)
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
public func dirrm_synth_params_init(_ p: UnsafeMutablePointer<dirrm_synth_params>?) {
  p?.pointee = params(of: SyntheticPreferences.Settings.defaults)
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
    try Check.oneOf(params.kind, DIRRM_SYNTH_UNBIASED...DIRRM_SYNTH_ADVERSARIAL, "p->kind", "DIRRM_SYNTH_*")
    try Check.finite(params.bias_ratio, "p->bias_ratio")
    guard params.bias_ratio >= 0.5, params.bias_ratio <= 1 else {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "p->bias_ratio = \(params.bias_ratio) is outside [0.5, 1]")
    }
    func within(_ v: Int64, _ low: Int64, _ high: Int64, _ name: String) throws(ABIError) -> Int {
      guard v >= low, v <= high else {
        throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "p->\(name) = \(v) is outside [\(low), \(high)]")
      }
      return Int(v)
    }
    let prompts = try within(params.num_prompts, 2, 1_000_000, "num_prompts")
    let perPrompt = try within(Int64(params.responses_per_prompt), 2, 64, "responses_per_prompt")
    let pdim = try within(params.prompt_dim, 2, 4096, "prompt_dim")
    let rdim = try within(params.response_dim, 4, 4096, "response_dim")
    let trainOut = try Check.output(train, "train")
    let testOut = try Check.output(test, "test")
    let kinds: [SyntheticPreferences.Kind] = [.unbiased, .length, .sycophancy, .adversarial]
    let (a, b) = SyntheticPreferences.generate(
      .init(
        kind: kinds[Int(params.kind)], biasRatio: Double(params.bias_ratio), promptCount: prompts,
        responsesPerPrompt: perPrompt, promptDim: pdim, responseDim: rdim, seed: params.seed))
    trainOut.pointee = Handles.register(a)
    testOut.pointee = Handles.register(b)
  }
}

@c @implementation
public func dirrm_model_params_init(_ p: UnsafeMutablePointer<dirrm_model_params>?) {
  p?.pointee = params(of: RewardModel<Float>.Shape.defaults, seed: RewardModel<Float>.defaultSeed)
}

/// The parameter struct of a model shape and seed (dirrm_model_params_init from the core's
/// defaults).
func params(of shape: RewardModel<Float>.Shape, seed: UInt64) -> dirrm_model_params {
  dirrm_model_params(
    struct_size: UInt32(MemoryLayout<dirrm_model_params>.size), prompt_dim: Int64(shape.promptDim),
    response_dim: Int64(shape.responseDim), width: Int32(clamping: shape.width),
    depth: Int32(clamping: shape.depth),
    seed: seed)
}

private func modelShape(_ p: dirrm_model_params) throws(ABIError) -> RewardModel<Float>.Shape {
  // Int64 → Int is exact on the 64-bit platforms the library builds for.
  let shape = RewardModel<Float>.Shape(
    promptDim: Int(p.prompt_dim), responseDim: Int(p.response_dim), width: Int(p.width), depth: Int(p.depth))
  try validated("p->") { () throws(ConfigError) in try shape.validate() }
  return shape
}

@c @implementation
public func dirrm_model_create(
  _ p: UnsafePointer<dirrm_model_params>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
)
  -> Int32
{
  abiCall("dirrm_model_create") { () throws(ABIError) in
    let params = try readParams(p, "p")
    let shape = try modelShape(params)
    let handle = try Check.output(out, "out")
    try reserve(shape.parameterBytes, for: "the model")
    handle.pointee = Handles.register(RewardModel<Float>(shape: shape, seed: params.seed))
  }
}

@c @implementation
public func dirrm_model_free(_ m: OpaquePointer?) -> Int32 {
  abiCall("dirrm_model_free") { () throws(ABIError) in
    try Handles.release(m, RewardModel<Float>.self, "m")
  }
}

@c @implementation
public func dirrm_model_shape(
  _ m: OpaquePointer?, _ promptDim: UnsafeMutablePointer<Int64>?, _ responseDim: UnsafeMutablePointer<Int64>?,
  _ width: UnsafeMutablePointer<Int32>?, _ depth: UnsafeMutablePointer<Int32>?
) -> Int32 {
  abiCall("dirrm_model_shape") { () throws(ABIError) in
    let shape = try lookupModel(m).value.shape
    promptDim?.pointee = Int64(shape.promptDim)
    responseDim?.pointee = Int64(shape.responseDim)
    width?.pointee = Int32(shape.width)
    depth?.pointee = Int32(shape.depth)
  }
}

@c @implementation
public func dirrm_model_score(
  _ m: OpaquePointer?, _ n: Int64, _ promptFeatures: UnsafePointer<Float>?,
  _ responseFeatures: UnsafePointer<Float>?, _ outReward: UnsafeMutablePointer<Float>?,
  _ outHidden: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_model_score") { () throws(ABIError) in
    let model = try lookupModel(m).value
    let rows = try Check.count(n, "n")
    guard rows <= Int(Int32.max) / max(model.shape.width, model.shape.promptDim + model.shape.responseDim)
    else {
      throw ABIError(DIRRM_ERR_SHAPE, "n = \(n) rows exceed what one call scores; split the batch")
    }
    let prompts = try Check.input(
      promptFeatures, Check.product(rows, model.shape.promptDim, "prompt_features"), "prompt_features")
    let responses = try Check.input(
      responseFeatures, Check.product(rows, model.shape.responseDim, "response_features"), "response_features"
    )
    let rewards = try Check.output(outReward, "out_reward")
    try reserve(model.shape.passBytes(rows: rows), for: "n = \(n) rows")
    let trace = model.forward(prompts: Array(prompts), responses: Array(responses), rows: rows)
    if let i = trace.rewards.firstIndex(where: { !$0.isFinite }) {
      throw ABIError(DIRRM_ERR_NONFINITE, "reward \(i) overflows float32")
    }
    for i in 0..<rows { rewards[i] = trace.rewards[i] }
    if let outHidden {
      let hidden = trace.hidden
      for i in hidden.indices { outHidden[i] = hidden[i] }
    }
  }
}

@c @implementation
public func dirrm_model_save(
  _ m: OpaquePointer?, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int64,
  _ outSize: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_model_save") { () throws(ABIError) in
    try writeSerialized(lookupModel(m).value.serialized(), buf, cap, outSize)
  }
}

@c @implementation
public func dirrm_model_load(
  _ buf: UnsafePointer<UInt8>?, _ size: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_model_load") { () throws(ABIError) in
    let bytes = try readSerialized(buf, size)
    let handle = try Check.output(out, "out")
    do throws(FormatError) {
      let model = try RewardModel<Float>(serialized: bytes)
      handle.pointee = Handles.register(model)
    } catch {
      throw ABIError(error)
    }
  }
}

@c @implementation
public func dirrm_train_params_init(_ p: UnsafeMutablePointer<dirrm_train_params>?) {
  p?.pointee = params(of: Trainer.Settings.defaults())
}

/// The parameter struct of trainer settings (dirrm_train_params_init from the core's
/// defaults): the inverse of trainerSettings(_:).
func params(of settings: Trainer.Settings) -> dirrm_train_params {
  let method: Int32 =
    switch settings.method {
    case .vanilla: DIRRM_METHOD_VANILLA
    case .dir: DIRRM_METHOD_DIR
    case .promptFree: DIRRM_METHOD_PROMPT_FREE
    case .dirPromptFree: DIRRM_METHOD_DIR_PROMPT_FREE
    }
  return dirrm_train_params(
    struct_size: UInt32(MemoryLayout<dirrm_train_params>.size), method: method,
    epochs: Int32(clamping: settings.epochs), batch_size: Int32(clamping: settings.batchSize),
    learning_rate: settings.learningRate, weight_decay: settings.weightDecay, lambda: settings.lambda,
    bias_column: Int32(clamping: settings.biasColumn), club: params(of: settings.club),
    pf_prompts: Int32(clamping: settings.promptsPerPair), pf: params(of: settings.promptFree),
    prioritizer: params(of: settings.prioritizer), seed: settings.seed)
}

@c @implementation
public func dirrm_train(
  _ m: OpaquePointer?, _ train: OpaquePointer?, _ p: UnsafePointer<dirrm_train_params>?,
  _ progress: dirrm_progress_fn?, _ user: UnsafeMutableRawPointer?
) -> Int32 {
  abiCall("dirrm_train") { () throws(ABIError) in
    let box = try lookupModel(m)
    let data = try lookupDataset(train, "train")
    let params = try readParams(p, "p")
    let model = box.value
    guard data.promptDim == model.shape.promptDim, data.responseDim == model.shape.responseDim else {
      throw ABIError(
        DIRRM_ERR_SHAPE,
        "train has features \(data.promptDim) + \(data.responseDim), the model \(model.shape.promptDim) + \(model.shape.responseDim)"
      )
    }
    let settings = try trainerSettings(params)
    try validated("p->") { () throws(ConfigError) in
      try settings.validate(for: data, width: model.shape.width)
    }
    try reserve(settings.workBytes(shape: model.shape), for: "training")
    var trainer = Trainer(model: model, data: data, settings: settings)
    try numeric { () throws(NumericError) in
      try trainer.run { record in
        guard let progress else { return true }
        return progress(
          user, Int64(record.step), Int64(record.totalSteps), record.lossPref, record.mi, record.threshold)
          == 0
      }
    }
    box.value = trainer.model
  }
}

@c @implementation
public func dirrm_evaluate(
  _ m: OpaquePointer?, _ d: OpaquePointer?, _ biasColumn: Int32,
  _ out: UnsafeMutablePointer<dirrm_eval_report>?
) -> Int32 {
  abiCall("dirrm_evaluate") { () throws(ABIError) in
    let model = try lookupModel(m).value
    let data = try lookupDataset(d, "d")
    guard biasColumn >= -1, Int(biasColumn) < data.biasDim else {
      throw ABIError(
        DIRRM_ERR_INVALID_ARGUMENT, "bias_column = \(biasColumn) but d has \(data.biasDim) bias columns")
    }
    guard data.promptDim == model.shape.promptDim, data.responseDim == model.shape.responseDim else {
      throw ABIError(DIRRM_ERR_SHAPE, "d's feature dimensions differ from the model's")
    }
    let destination = try Check.output(out, "out")
    _ = try readParams(UnsafePointer(destination), "out")
    let e = Evaluation.evaluate(model, on: data, biasColumn: biasColumn < 0 ? nil : Int(biasColumn))
    destination.pointee = dirrm_eval_report(
      struct_size: UInt32(MemoryLayout<dirrm_eval_report>.size), pairs: Int64(e.pairs),
      accuracy: Float(e.accuracy),
      mean_gap: Float(e.meanGap), gap_bias_pearson: Float(e.gapBiasPearson),
      gap_bias_spearman: Float(e.gapBiasSpearman), accuracy_bias_positive: Float(e.accuracyBiasPositive),
      accuracy_bias_negative: Float(e.accuracyBiasNegative))
  }
}

/// The trainer's settings a parameter struct describes: enum translation and the nested
/// structs' own checks; the rules that involve the data are the core's validate(for:width:).
private func trainerSettings(_ params: dirrm_train_params) throws(ABIError) -> Trainer.Settings {
  let method: Trainer.Method
  switch params.method {
  case DIRRM_METHOD_VANILLA: method = .vanilla
  case DIRRM_METHOD_DIR: method = .dir
  case DIRRM_METHOD_PROMPT_FREE: method = .promptFree
  case DIRRM_METHOD_DIR_PROMPT_FREE: method = .dirPromptFree
  default:
    throw ABIError(
      DIRRM_ERR_INVALID_ARGUMENT, "p->method = \(params.method) is not one of the DIRRM_METHOD_* constants")
  }
  for (size, expected, name) in [
    (params.club.struct_size, MemoryLayout<dirrm_club_params>.size, "club"),
    (params.pf.struct_size, MemoryLayout<dirrm_pf_params>.size, "pf"),
    (params.prioritizer.struct_size, MemoryLayout<dirrm_prioritizer_params>.size, "prioritizer"),
  ] where size != UInt32(expected) {
    throw ABIError(
      DIRRM_ERR_VERSION, "p->\(name).struct_size = \(size): fill p with dirrm_train_params_init")
  }
  // The estimator's hidden dimension is the model's width, set by the trainer; any valid
  // placeholder lets the struct's other fields be checked here.
  var club = params.club
  club.hidden_dim = 1
  return Trainer.Settings(
    method: method, epochs: Int(params.epochs), batchSize: Int(params.batch_size),
    learningRate: params.learning_rate, weightDecay: params.weight_decay, lambda: params.lambda,
    biasColumn: Int(params.bias_column), club: try clubConfig(club, "p->club."),
    promptsPerPair: Int(params.pf_prompts), promptFree: try promptFreeGap(params.pf, "p->pf."),
    prioritizer: try prioritizerSettings(params.prioritizer, "p->prioritizer."), seed: params.seed)
}
