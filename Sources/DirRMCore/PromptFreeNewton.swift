import SIMDKernels

/// Newton on the float32 grid, to the float32 root: every iterate is a float32 value and
/// the bracket [lo, hi], Φ(lo) > ½ > Φ(hi), closes until Φ(d) = ½ exactly, a Newton
/// correction rounds away (the root is within half an ulp of d), or lo and hi are adjacent
/// floats, of which the one with the smaller |Φ − ½| is returned (the smaller magnitude on a
/// tie). Each rule reads only the root's neighbourhood, not the path to it, and f is odd in
/// the gaps, so Δr2(−g) = −Δr2(g) exactly. A step that leaves the bracket, or one not half
/// the size of the step before last, is replaced by the midpoint in float order, which
/// reaches adjacent floats in at most 32 halvings at any magnitude.
///
/// A state machine that asks for Φ's excess at a point and takes it, so that several rows'
/// searches can share one evaluation call (`PromptFreeGap.Problem.newtonRoots`).
struct NewtonSearch {
  enum Next {
    case evaluate(at: Double)
    /// The root and the number of evaluations.
    case done(Double, Int)
    /// The evaluation budget ran out.
    case failed
  }

  /// What the pending evaluation is for.
  private enum Pending { case iterate, lowEnd, highEnd }

  private let maxIterations: Int
  private var lo: Double
  private var hi: Double
  // `excess` at lo and at hi, once known; their log magnitudes are taken only if the
  // bracket closes on adjacent floats (a log per iterate was 3% of pf_gap).
  private var fLow: PromptFreeGap.Excess? = nil
  private var fHigh: PromptFreeGap.Excess? = nil
  private var d: Double
  private var count = 0
  // The sizes of the last two steps (Numerical Recipes' rtsafe rule).
  private var steps = (Double.infinity, Double.infinity)
  private var pending = Pending.iterate

  /// The search in the data bracket low < high from `start`; `begin()` asks for the first point.
  init(low: Double, high: Double, start: Double, maxIterations: Int) {
    (lo, hi, self.maxIterations) = (low, high, maxIterations)
    d = Double(Float(start.isFinite ? min(max(start, low), high) : low + (high - low) / 2))
  }

  mutating func begin() -> Next { iterate() }

  /// Takes the excess at the point last asked for.
  mutating func take(_ e: PromptFreeGap.Excess) -> Next {
    switch pending {
    case .lowEnd:
      fLow = e
      return close()
    case .highEnd:
      fHigh = e
      return close()
    case .iterate:
      break
    }
    let (f, slope) = (e.f, e.slope)
    if f == 0 { return .done(d, count) }
    if f > 0 {
      (lo, fLow) = (d, e)
    } else {
      (hi, fHigh) = (d, e)
    }
    if Float(lo).nextUp >= Float(hi) { return close() }
    let newtonStep = slope < 0 ? f / slope : .nan
    var x = Swift.abs(newtonStep) * 2 <= steps.0 ? Double(Float(d - newtonStep)) : .nan
    // Newton's correction rounds away: the root is within half an ulp of d, whose float it
    // is (the mirrored problem takes the same decision, as f is odd and the slope even).
    if x == d { return .done(d, count) }
    if !(x > lo && x < hi) { x = PromptFreeGap.midpointInFloatOrder(lo, hi) }
    steps = (steps.1, Swift.abs(x - d))
    d = x
    return iterate()
  }

  private mutating func iterate() -> Next {
    guard count < maxIterations else { return .failed }
    count += 1
    pending = .iterate
    return .evaluate(at: d)
  }

  /// The bracket has closed on adjacent floats: log |Φ − ½| at each end, evaluated (and
  /// counted) only if no iterate landed there, lo's first.
  private mutating func close() -> Next {
    guard let low = fLow else { return evaluateEnd(.lowEnd, at: lo) }
    guard let high = fHigh else { return evaluateEnd(.highEnd, at: hi) }
    let (a, b) = (PromptFreeGap.logMagnitude(low), PromptFreeGap.logMagnitude(high))
    if a != b { return .done(a < b ? lo : hi, count) }
    return .done(Swift.abs(lo) <= Swift.abs(hi) ? lo : hi, count)
  }

  private mutating func evaluateEnd(_ end: Pending, at point: Double) -> Next {
    guard count < maxIterations else { return .failed }
    count += 1
    pending = end
    return .evaluate(at: point)
  }
}

extension PromptFreeGap.Problem {
  /// Newton's root and evaluation count for each of `rows` (nil where the budget ran out),
  /// four searches at a time: one `dirrm_pf_excess4` call evaluates the four current points,
  /// and a finished row's lane takes the next row. Each row sees the evaluations the scalar
  /// `excess` gives (rows more than 600 from every gap get that function itself), so the
  /// results do not depend on which rows share a call.
  func newtonRoots(_ rows: Range<Int>) -> [(Double, Int)?] {
    let lanes = 4
    // Fewer rows than lanes would leave lanes computing nothing (k may be large): one by one.
    guard rows.count >= lanes else { return scalarNewtonRoots(rows) }
    var found = [(Double, Int)?](repeating: nil, count: rows.count)
    // The lanes' rows, interleaved: element j of lane r at [lanes · j + r].
    var laneGaps = [Double](repeating: 0, count: lanes * k)
    var laneWeights = laneGaps
    var laneTails = laneGaps
    var points = [Double](repeating: 0, count: lanes)
    var sums = [Double](repeating: 0, count: 7 * lanes)
    // A lane's search is mutated in place (a copy in and out per evaluation cost 5% of pf_gap).
    var searches = [NewtonSearch](
      repeating: NewtonSearch(low: 0, high: 1, start: 0, maxIterations: 0), count: lanes)
    var active = [Bool](repeating: false, count: lanes)
    var laneRows = [Int](repeating: 0, count: lanes)
    var row = [Double](repeating: 0, count: k)
    var w = row
    var balance = row
    var scratch = RootScratch(k: k)
    var next = rows.lowerBound

    // Gives `lane` the next row that needs Newton's iteration, recording those that do not.
    func fill(_ lane: Int) {
      active[lane] = false
      while next < rows.upperBound {
        let i = next
        next += 1
        load(row: i, gaps: &row, weights: &w, proportional: &balance)
        var search: NewtonSearch
        switch start(row, w, &scratch) {
        case .solved(let root):
          found[i - rows.lowerBound] = root
          continue
        case .search(let s):
          search = s
        }
        switch search.begin() {
        case .evaluate(let point):
          for j in 0..<k {
            laneGaps[lanes * j + lane] = row[j]
            laneWeights[lanes * j + lane] = balance[j]
          }
          (points[lane], laneRows[lane], searches[lane], active[lane]) = (point, i, search, true)
          return
        case .done(let root, let count):
          found[i - rows.lowerBound] = (root, count)
        case .failed:
          break
        }
      }
    }

    for lane in 0..<lanes { fill(lane) }
    while active.contains(true) {
      dirrm_pf_excess4(laneGaps, laneWeights, points, k, &laneTails, &sums)
      for lane in 0..<lanes {
        guard active[lane] else { continue }
        let e: PromptFreeGap.Excess
        if sums[lane] <= 600 {
          let (signs, tails) = (
            CompensatedSum(high: sums[2 * lanes + lane], low: sums[3 * lanes + lane]),
            CompensatedSum(high: sums[4 * lanes + lane], low: sums[5 * lanes + lane])
          )
          e = PromptFreeGap.combined(
            signs, tails, sums[6 * lanes + lane], scale: sums[lanes + lane], m: sums[lane])
        } else {
          for j in 0..<k {
            (row[j], balance[j]) = (laneGaps[lanes * j + lane], laneWeights[lanes * j + lane])
          }
          e = PromptFreeGap.excess(row, balance, at: points[lane], work: &scratch.work)
        }
        switch searches[lane].take(e) {
        case .evaluate(let point):
          points[lane] = point
        case .done(let root, let count):
          found[laneRows[lane] - rows.lowerBound] = (root, count)
          fill(lane)
        case .failed:
          fill(lane)
        }
      }
    }
    return found
  }

  /// A row's root without iterating (all weighted gaps equal), or its search.
  private enum Start {
    case solved((Double, Int))
    case search(NewtonSearch)
  }

  private func start(_ row: [Double], _ w: [Double], _ scratch: inout RootScratch) -> Start {
    let (low, high) = PromptFreeGap.dataBracket(row, w)
    if low == high { return .solved((low, 0)) }
    return .search(
      NewtonSearch(low: low, high: high, start: scratch.start(row, w), maxIterations: solver.maxIterations))
  }

  /// `newtonRoots` one row at a time, with the scalar `excess`.
  private func scalarNewtonRoots(_ rows: Range<Int>) -> [(Double, Int)?] {
    var row = [Double](repeating: 0, count: k)
    var w = row
    var balance = row
    var scratch = RootScratch(k: k)
    return rows.map { i in
      load(row: i, gaps: &row, weights: &w, proportional: &balance)
      var search: NewtonSearch
      switch start(row, w, &scratch) {
      case .solved(let root): return root
      case .search(let s): search = s
      }
      var next = search.begin()
      while case .evaluate(let point) = next {
        next = search.take(PromptFreeGap.excess(row, balance, at: point, work: &scratch.work))
      }
      if case .done(let root, let count) = next { return (root, count) }
      return nil
    }
  }
}
