import CDirRM
import DirRMCore

// Training and evaluation (docs/mathematics.md §5).

@c @implementation
public func dirrm_train_params_init(_ p: UnsafeMutablePointer<dirrm_train_params>?) {
  fillDefaults(p) { params(of: Trainer.Settings.defaults()) }
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
    learning_rate: settings.learningRate, weight_decay: settings.weightDecay, dir: params(of: settings.dir),
    bias_column: Int32(clamping: settings.biasColumn),
    pf_prompts: Int32(clamping: settings.promptsPerPair),
    pf_max_rounds: Int32(clamping: settings.promptFreeRounds), pf: params(of: settings.promptFree),
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
    try bridge { () throws(ConfigError) in try model.shape.check(data) }
    let settings = try trainerSettings(params)
    try bridge("p->") { () throws(ConfigError) in
      try settings.validate(for: data, width: model.shape.width)
    }
    try reserve(
      settings.workBytes(
        shape: model.shape, pairs: data.pairs.count, prompts: data.promptCount, keepsLog: false),
      for: "training")
    var trainer = Trainer(model: model, data: data, settings: settings, keepsLog: false)
    try bridge { () throws(NumericError) in
      try trainer.run { record in
        guard let progress else { return false }
        return FloatingPointEnvironment.runCallback {
          progress(
            user, Int64(record.step), Int64(record.totalSteps), record.lossPref, record.mi, record.threshold)
        } != 0
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
    // -1 is the header's "no bias column"; any other value is the core's to check.
    let column = biasColumn == -1 ? nil : Int(biasColumn)
    try bridge { () throws(ConfigError) in try Evaluation.check(model, on: data, biasColumn: column) }
    let destination = try Check.output(out, "out")
    _ = try readParams(UnsafePointer(destination), "out")
    try reserve(Evaluation.workBytes(model, pairs: data.pairs.count), for: "the evaluation")
    let e = Evaluation.evaluate(model, on: data, biasColumn: column)
    destination.pointee = dirrm_eval_report(
      struct_size: UInt32(MemoryLayout<dirrm_eval_report>.size), pairs: Int64(e.pairs),
      accuracy: Float(e.accuracy),
      mean_gap: Float(e.meanGap), gap_bias_pearson: Float(e.gapBiasPearson),
      gap_bias_spearman: Float(e.gapBiasSpearman), accuracy_bias_positive: Float(e.accuracyBiasPositive),
      accuracy_bias_negative: Float(e.accuracyBiasNegative))
  }
}

/// The trainer's settings a parameter struct describes: enum translation and struct sizes.
/// The rules are the core's: validate(for:width:), which also checks dir.club with the
/// model's width as its hidden_dim (the struct's is not used in training).
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
    (params.dir.struct_size, MemoryLayout<dirrm_dir_params>.size, "dir"),
    (params.pf.struct_size, MemoryLayout<dirrm_pf_params>.size, "pf"),
    (params.prioritizer.struct_size, MemoryLayout<dirrm_prioritizer_params>.size, "prioritizer"),
  ] where size != UInt32(expected) {
    throw ABIError(
      DIRRM_ERR_VERSION, "p->\(name).struct_size = \(size): fill p with dirrm_train_params_init")
  }
  return Trainer.Settings(
    method: method, epochs: Int(params.epochs), batchSize: Int(params.batch_size),
    learningRate: params.learning_rate, weightDecay: params.weight_decay,
    dir: try dirSettings(params.dir, "p->dir."), biasColumn: Int(params.bias_column),
    promptsPerPair: Int(params.pf_prompts), promptFree: try promptFreeGap(params.pf, "p->pf."),
    promptFreeRounds: Int(params.pf_max_rounds),
    prioritizer: try prioritizerSettings(params.prioritizer, "p->prioritizer."), seed: params.seed)
}
