import CDirRM
import DirRMCore

@c @implementation
public func dirrm_pf_params_init(_ p: UnsafeMutablePointer<dirrm_pf_params>?) {
  fillDefaults(p) { params(of: PromptFreeGap.defaults) }
}

/// The parameter struct of a solver (dirrm_pf_params_init from the core's defaults, the
/// trainer's defaults): the inverse of promptFreeGap(_:_:). p is 0 for the weightings that do
/// not read it; a bisection bracket (−w, w) is the reward range [0, w].
func params(of solver: PromptFreeGap) -> dirrm_pf_params {
  let (weighting, own): (Int32, Double) =
    switch solver.weighting {
    case .uniform: (DIRRM_PF_UNIFORM, 0)
    case .corresponding(let p): (DIRRM_PF_CORRESPONDING, p)
    case .explicit: (DIRRM_PF_EXPLICIT, 0)
    case .logWeights: (DIRRM_PF_LOG_WEIGHTS, 0)
    }
  let (method, range): (Int32, Double) =
    switch solver.solver {
    case .newton: (DIRRM_PF_NEWTON, 0)
    case .bisection(let bracket): (DIRRM_PF_BISECTION, bracket.map { ($0.high - $0.low) / 2 } ?? 0)
    }
  return dirrm_pf_params(
    struct_size: UInt32(MemoryLayout<dirrm_pf_params>.size), weighting: weighting, p: Float(own),
    solver: method, tolerance: Float(solver.tolerance), max_iter: Int32(clamping: solver.maxIterations),
    r_min: 0, r_max: Float(range))
}

/// The solver a checked parameter struct describes.
func promptFreeGap(_ params: dirrm_pf_params, _ name: String = "p->") throws(ABIError) -> PromptFreeGap {
  try Check.oneOf(
    params.weighting, DIRRM_PF_UNIFORM...DIRRM_PF_LOG_WEIGHTS, "\(name)weighting", "DIRRM_PF_* weighting")
  try Check.oneOf(params.solver, DIRRM_PF_NEWTON...DIRRM_PF_BISECTION, "\(name)solver", "DIRRM_PF_* solver")
  // p is checked whatever the weighting, so that a struct is valid or not on its own.
  try Check.inUnitInterval(params.p, "\(name)p")
  try Check.finite(params.r_min, "\(name)r_min")
  try Check.finite(params.r_max, "\(name)r_max")
  let weighting: PromptFreeGap.Weighting =
    switch params.weighting {
    case DIRRM_PF_UNIFORM: .uniform
    case DIRRM_PF_CORRESPONDING: .corresponding(p: Double(params.p))
    case DIRRM_PF_EXPLICIT: .explicit
    default: .logWeights
    }
  let solver = PromptFreeGap(
    weighting: weighting,
    solver: params.solver == DIRRM_PF_NEWTON
      ? .newton : .bisection(rewardsIn: Double(params.r_min), Double(params.r_max)),
    tolerance: Double(params.tolerance), maxIterations: Int(params.max_iter))
  try bridge(name) { () throws(ConfigError) in try solver.validate() }
  return solver
}

@c @implementation
public func dirrm_pf_gap(
  _ p: UnsafePointer<dirrm_pf_params>?, _ n: Int64, _ k: Int64, _ gaps: UnsafePointer<Float>?,
  _ corrCol: UnsafePointer<Int64>?, _ weights: UnsafePointer<Float>?,
  _ outDr2: UnsafeMutablePointer<Float>?, _ outDr1: UnsafeMutablePointer<Float>?,
  _ outIters: UnsafeMutablePointer<Int32>?
) -> Int32 {
  abiCall("dirrm_pf_gap") { () throws(ABIError) in
    let solver = try promptFreeGap(readParams(p, "p"))
    let rows = try Check.count(n, "n")
    let columns = try Check.count(k, "k")
    let cells = try Check.product(rows, columns, "gaps")
    let gapValues = try Check.array(gaps, cells, "gaps")
    var corresponding: [Int]? = nil
    if solver.weighting.readsOwnColumn {
      corresponding = try Check.indexArray(corrCol, rows, "corr_col", below: columns)
    } else if outDr1 != nil {
      guard corrCol != nil else {
        throw ABIError(DIRRM_ERR_NULL_POINTER, "corr_col is NULL but out_dr1 needs it")
      }
      corresponding = try Check.indexArray(corrCol, rows, "corr_col", below: columns)
    } else if corrCol != nil {
      corresponding = try Check.indexArray(corrCol, rows, "corr_col", below: columns)
    }
    var weightValues: [Float]? = nil
    if solver.weighting.readsWeights {
      guard weights != nil else {
        throw ABIError(DIRRM_ERR_NULL_POINTER, "weights is NULL but the weighting needs it")
      }
      weightValues = try Check.array(weights, cells, "weights")
    } else if weights != nil {
      throw ABIError(
        DIRRM_ERR_INVALID_ARGUMENT, "weights must be NULL unless the weighting is EXPLICIT or LOG_WEIGHTS")
    }
    // The core's remaining rule: explicit weights non-negative with positive row sums.
    let problem = try bridge { () throws(ConfigError) in
      try solver.problem(gaps: gapValues, k: columns, corresponding: corresponding, weights: weightValues)
    }
    let dr2 = try Check.output(outDr2, "out_dr2")
    try reserve(PromptFreeGap.workBytes(rows: rows, k: columns), for: "n = \(n) rows")
    let solution = try bridge { () throws(NumericError) in try problem.solve(dr1: outDr1 != nil) }
    Check.write(solution.dr2, to: dr2)
    if let dr1 = solution.dr1 { Check.write(dr1, toOptional: outDr1) }
    // Each count is at most max_iter, an int32.
    Check.write(solution.iterations.map { Int32(clamping: $0) }, toOptional: outIters)
  }
}

@c @implementation
public func dirrm_pf_normalize(
  _ n: Int64, _ ownGap: UnsafePointer<Float>?, _ dr2: UnsafePointer<Float>?,
  _ outDr2: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_pf_normalize") { () throws(ABIError) in
    let rows = try Check.count(n, "n")
    let own = try Check.array(ownGap, rows, "own_gap")
    let values = try Check.array(dr2, rows, "dr2")
    let out = try Check.output(outDr2, "out_dr2")
    try reserve(Workspace.bytes([[rows]]), for: "the normalized values")
    // Both inputs are copies, so out_dr2 may alias dr2.
    let normalized = try bridge { () throws(NumericError) in
      try PromptFreeScores.normalized(values, ownGap: own)
    }
    Check.write(normalized, to: out)
  }
}

@c @implementation
public func dirrm_pf_sample_prompts(
  _ n: Int64, _ k: Int64, _ numPrompts: Int64, _ corrPrompt: UnsafePointer<Int64>?, _ seed: UInt64,
  _ outPrompts: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_pf_sample_prompts") { () throws(ABIError) in
    let rows = try Check.count(n, "n")
    let columns = try Check.count(k, "k")
    let prompts = try Check.count(numPrompts, "num_prompts")
    try bridge { () throws(ConfigError) in try PromptSampling.check(k: columns, numPrompts: prompts) }
    _ = try Check.product(rows, columns, "out_prompts")
    let own = try Check.indexArray(corrPrompt, rows, "corr_prompt", below: prompts)
    let out = try Check.output(outPrompts, "out_prompts")
    try reserve(PromptSampling.workBytes(rows: rows, k: columns), for: "n = \(n) pairs of k = \(k) prompts")
    let sampled = try bridge { () throws(ConfigError) in
      try PromptSampling.sample(own: own, k: columns, numPrompts: prompts, seed: seed)
    }
    Check.write(sampled.map { Int64($0) }, to: out)
  }
}
