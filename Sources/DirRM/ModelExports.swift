import CDirRM
import DirRMCore

// The reward model (docs/mathematics.md §5).

func lookupModel(_ m: OpaquePointer?) throws(ABIError) -> HandleBox<RewardModel<Float>> {
  try Handles.lookup(m, RewardModel<Float>.self, "m")
}

@c @implementation
public func dirrm_model_params_init(_ p: UnsafeMutablePointer<dirrm_model_params>?) {
  fillDefaults(p) { params(of: RewardModel<Float>.Shape.defaults, seed: RewardModel<Float>.defaultSeed) }
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
  try bridge("p->") { () throws(ConfigError) in try shape.validate() }
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
    try bridge { () throws(ConfigError) in try model.shape.checkScoringRows(rows) }
    let prompts = try Check.array(
      promptFeatures, Check.product(rows, model.shape.promptDim, "prompt_features"), "prompt_features")
    let responses = try Check.array(
      responseFeatures, Check.product(rows, model.shape.responseDim, "response_features"), "response_features"
    )
    let rewards = try Check.output(outReward, "out_reward")
    try reserve(model.shape.passBytes(rows: rows), for: "n = \(n) rows")
    let trace = try bridge { () throws(NumericError) in
      try model.score(prompts: prompts, responses: responses, rows: rows)
    }
    Check.write(trace.rewards, to: rewards)
    Check.write(trace.hidden, toOptional: outHidden)
  }
}

@c @implementation
public func dirrm_model_save(
  _ m: OpaquePointer?, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int64,
  _ outSize: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_model_save") { () throws(ABIError) in
    let model = try lookupModel(m).value
    try reserve(model.serializedBound, for: "the saved model")
    try writeSerialized(model.serialized(), buf, cap, outSize)
  }
}

@c @implementation
public func dirrm_model_load(
  _ buf: UnsafePointer<UInt8>?, _ size: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_model_load") { () throws(ABIError) in
    let bytes = try readSerialized(buf, size)
    let handle = try Check.output(out, "out")
    let model = try bridge { () throws(FormatError) in try RewardModel<Float>(serialized: bytes) }
    handle.pointee = Handles.register(model)
  }
}
