import Glibc

/// The prompt-free reward gap Δr2 (docs/mathematics.md §3): the root d of Φ(d) = Σ_k w_k σ(g_k − d) = 1/2
/// for each pair's gaps g under K prompts. The weighting and the problem's checks are here,
/// the root finding in PromptFreeRoot.swift and (Newton's iteration) PromptFreeNewton.swift.
public struct PromptFreeGap {
  public enum Weighting: Equatable {
    case uniform
    /// p on the pair's own prompt, (1 − p)/(K − 1) on each other one.
    case corresponding(p: Double)
    /// A non-negative n × K matrix, each row normalized here.
    case explicit
    /// log-weights per cell, normalized per row by a softmax.
    case logWeights

    /// Whether the weighting reads each pair's own column.
    public var readsOwnColumn: Bool {
      if case .corresponding = self { true } else { false }
    }

    /// Whether the weighting reads an n × K matrix of (log-)weights.
    public var readsWeights: Bool { self == .explicit || self == .logWeights }
  }

  public enum Solver: Equatable {
    /// Safeguarded Newton inside the data bracket, on the float32 grid, to the root's own
    /// float32 (the tolerance is not used).
    case newton
    /// The paper's Alg. 1: bisection on `bracket` (default: the data bracket) until it is
    /// narrower than the tolerance; returns the bracket's midpoint.
    case bisection(bracket: (low: Double, high: Double)?)

    public static func == (a: Solver, b: Solver) -> Bool {
      switch (a, b) {
      case (.newton, .newton): true
      case (.bisection(let x), .bisection(let y)): x?.low == y?.low && x?.high == y?.high
      default: false
      }
    }

    /// Alg. 1 for single rewards known to lie in [low, high]: a gap then lies in
    /// ±(high − low), the bracket. With low ≥ high no range is known and the data bracket
    /// is used.
    public static func bisection(rewardsIn low: Double, _ high: Double) -> Solver {
      .bisection(bracket: low < high ? (low: low - high, high: high - low) : nil)
    }
  }

  public var weighting: Weighting
  public var solver: Solver
  public var tolerance: Double
  public var maxIterations: Int

  public init(weighting: Weighting, solver: Solver, tolerance: Double, maxIterations: Int) {
    self.weighting = weighting
    self.solver = solver
    self.tolerance = tolerance
    self.maxIterations = maxIterations
  }

  /// n pairs' gaps under k prompts with what the weighting reads, checked against one
  /// solver's rules by `problem(gaps:k:corresponding:weights:)`: a value of this type is
  /// always solvable input.
  public struct Problem {
    let solver: PromptFreeGap
    /// n × k, row-major, finite.
    let gaps: [Float]
    let k: Int
    /// Each pair's own column, in 0..<k.
    let corresponding: [Int]?
    let rowWeights: RowWeights

    /// The pairs n.
    public var count: Int { gaps.count / k }
  }

  /// What the weighting of a checked problem reads.
  enum RowWeights {
    case uniform
    case corresponding(p: Double, columns: [Int])
    case explicit([Float])
    case logWeights([Float])
  }

  /// Δr2 per pair; Δr1 = own gap − Δr2 when asked for; Φ evaluations per pair.
  public struct Solution {
    public var dr2: [Float]
    public var dr1: [Float]?
    public var iterations: [Int]
  }
}

extension PromptFreeGap {
  /// The problem of solving the n × k matrix `gaps`, or the first rule it breaks, named as
  /// in the C header: this solver's settings (`validate()`); k ≥ 1 and n whole rows; finite
  /// gaps; `corresponding` (n columns in 0..<k), needed by `.corresponding` and by Δr1;
  /// `weights` (n × k, finite), needed by `.explicit` (each row non-negative with a positive
  /// sum) and `.logWeights`, and not read by the other weightings.
  public func problem(gaps: [Float], k: Int, corresponding: [Int]?, weights: [Float]?)
    throws(ConfigError) -> Problem
  {
    try validate()
    guard k >= 1 else { throw ConfigError("k", "= \(k) must be at least 1") }
    guard gaps.count % k == 0 else {
      throw ConfigError("gaps", "holds \(gaps.count) values, not whole rows of k = \(k)")
    }
    let n = gaps.count / k
    try Rule.finiteElements(gaps, "gaps")
    if let corresponding {
      guard corresponding.count == n else {
        throw ConfigError("corr_col", "holds \(corresponding.count) columns for n = \(n) rows")
      }
      try Rule.indexElements(corresponding, below: k, "corr_col")
    }
    let rowWeights: RowWeights
    switch weighting {
    case .uniform:
      rowWeights = .uniform
    case .corresponding(let p):
      guard let corresponding else {
        throw ConfigError("corr_col", "is missing but the corresponding weighting needs it")
      }
      rowWeights = .corresponding(p: p, columns: corresponding)
    case .explicit, .logWeights:
      guard let weights else { throw ConfigError("weights", "are missing but the weighting needs them") }
      guard weights.count == gaps.count else {
        throw ConfigError("weights", "hold \(weights.count) values for \(n) x \(k) gaps")
      }
      try Rule.finiteElements(weights, "weights")
      if weighting == .explicit {
        try Self.checkExplicit(weights, k: k)
        rowWeights = .explicit(weights)
      } else {
        rowWeights = .logWeights(weights)
      }
    }
    return Problem(solver: self, gaps: gaps, k: k, corresponding: corresponding, rowWeights: rowWeights)
  }

  /// Explicit weights: per row, each ≥ 0 and not all zero.
  static func checkExplicit(_ weights: [Float], k: Int) throws(ConfigError) {
    for i in 0..<(weights.count / k) {
      let row = weights[(i * k)..<((i + 1) * k)]
      if let j = row.firstIndex(where: { $0 < 0 }) {
        throw ConfigError("weights row \(i)[\(j - i * k)]", "= \(weights[j]) is negative")
      }
      guard row.contains(where: { $0 > 0 }) else {
        throw ConfigError("weights row \(i)", "is zero everywhere; the weights must have a positive sum")
      }
    }
  }
}

extension PromptFreeGap.Problem {
  /// Solves every row. `dr1` asks for Δr1 as well, which needs `corresponding` (without it
  /// the solution has none) and fails if a value does not fit in float32.
  public func solve(dr1 wanted: Bool) throws(NumericError) -> PromptFreeGap.Solution {
    let n = count
    let related = wanted ? corresponding : nil
    let parts = (n + Self.rowsPerPart - 1) / Self.rowsPerPart
    let solved = WorkerPool.map(parts: parts) { part in
      solve(rows: (part * Self.rowsPerPart)..<min(n, (part + 1) * Self.rowsPerPart), related: related)
    }
    var roots: [Double] = []
    var counts: [Int] = []
    roots.reserveCapacity(n)
    counts.reserveCapacity(n)
    // Each part stops at its first failing row, so the first failure in part order is the
    // first in row order: the error a sequential loop would have thrown.
    for part in solved {
      switch part {
      case .success(let (partRoots, partCounts)):
        roots += partRoots
        counts += partCounts
      case .failure(let error): throw error
      }
    }
    return PromptFreeGap.Solution(
      dr2: roots.map { Float($0) },
      dr1: related.map { own in (0..<n).map { Float(Double(gaps[$0 * k + own[$0]]) - roots[$0]) } },
      iterations: counts)
  }

  /// Rows per part of the pool's work: about a millisecond of one core at K = 16.
  static let rowsPerPart = 1024

  /// The roots and iteration counts of a block of rows, or the first row's failure.
  private func solve(rows: Range<Int>, related: [Int]?) -> Result<([Double], [Int]), NumericError> {
    let found: [(Double, Int)?]
    switch solver.solver {
    case .newton:
      found = newtonRoots(rows)
    case .bisection(let bracket):
      var row = [Double](repeating: 0, count: k)
      var w = row
      var balance = row
      found = rows.map { i in
        load(row: i, gaps: &row, weights: &w, proportional: &balance)
        return solver.bisectionRoot(gaps: row, weights: w, bracket: bracket)
      }
    }
    var roots: [Double] = []
    var counts: [Int] = []
    roots.reserveCapacity(rows.count)
    counts.reserveCapacity(rows.count)
    for (i, result) in zip(rows, found) {
      guard let (root, count) = result else {
        return .failure(
          .notConverged("pair \(i) did not converge within max_iter = \(solver.maxIterations) iterations"))
      }
      if let related {
        let value = Double(gaps[i * k + related[i]]) - root
        guard value.fitsInFloat else {
          return .failure(.overflow("dr1 of pair \(i) (\(value)) does not fit in float32"))
        }
      }
      roots.append(root)
      counts.append(count)
    }
    return .success((roots, counts))
  }

  /// Row i's gaps in double, its normalized weights and the same up to a factor (k each).
  func load(row i: Int, gaps row: inout [Double], weights w: inout [Double], proportional: inout [Double]) {
    for j in 0..<k { row[j] = Double(gaps[i * k + j]) }
    weights(of: i, into: &w)
    proportionalWeights(of: i, into: &proportional)
  }
}

extension PromptFreeGap {
  /// Bytes `solve` holds for n rows of k prompts: the roots, the counts, each part's
  /// optional results, the solution (and a caller's 32-bit copy of the counts), and the work
  /// of each part running at once: one row's gaps and weights twice and RootScratch's arrays
  /// (at most 8 k), and from 4 rows on Newton's four interleaved rows (gaps, weights, tails:
  /// 12 k more).
  public static func workBytes(rows n: Int, k: Int) -> Int? {
    let parts = max(1, min(WorkerPool.threadCount, n / Problem.rowsPerPart + 1))
    return Workspace.bytes([[n, 8], [k, n < 4 ? 8 : 20, parts]], elementSize: 8)
  }
}
