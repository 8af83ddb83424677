/// A call that the object's state does not allow (the C API's DIRRM_ERR_MISUSE), or whose
/// arguments a front end should have refused before making it.
public struct MisuseError: Error, Equatable {
  public var message: String
  public init(_ message: String) { self.message = message }
}

/// The prompt-free paper's Alg. 2 as a sampler (docs/mathematics.md §4): epochs over a shuffled pool of
/// pair indices; candidates are proposed, decided by Δr2 < threshold, and the threshold
/// follows an EMA of the two-cluster boundary of each step's Δr2 values. A step is one round
/// of proposals; a training step takes rounds until its batch is full, so the EMA moves
/// after every round (docs/decisions.md §1). Rejected pairs come back a bounded number of times per
/// epoch, so every epoch ends.
public struct Prioritizer {
  public struct Settings: Equatable {
    public var placement: BinaryClustering.Placement
    public var emaWeight: Float
    public var initialThreshold: Float
    public var lazyReinsertion: Bool
    public var maxReinsertions: Int
    public var shuffle: Bool
    public var seed: UInt64

    public init(
      placement: BinaryClustering.Placement, emaWeight: Float, initialThreshold: Float,
      lazyReinsertion: Bool, maxReinsertions: Int, shuffle: Bool, seed: UInt64
    ) {
      self.placement = placement
      self.emaWeight = emaWeight
      self.initialThreshold = initialThreshold
      self.lazyReinsertion = lazyReinsertion
      self.maxReinsertions = maxReinsertions
      self.shuffle = shuffle
      self.seed = seed
    }
  }

  /// Where each pair is within the current epoch.
  enum Place: UInt8 {
    case pool = 0
    case pending, deferred, accepted, dropped
  }

  public struct Stats: Equatable {
    public var epoch = 0, step = 0
    public var proposed = 0, accepted = 0, rejected = 0, reinserted = 0, dropped = 0
    public var poolRemaining = 0
    public var threshold: Float = 0
  }

  public let settings: Settings
  public let count: Int
  public internal(set) var threshold: Float
  var random: Xoshiro256
  var epoch = 0
  var step = 0
  var epochOpen = false
  /// Drawn from the end.
  var pool: [Int] = []
  var deferred: [Int] = []
  var place: [Place]
  var reinsertions: [Int32]
  var pendingCount = 0
  var stepValues: [Float] = []
  var proposed = 0, accepted = 0, rejected = 0, reinserted = 0, dropped = 0

  /// A prioritizer over pairs 0..<count. Throws, naming the field as the C header does, if
  /// `settings` break a rule of `Settings.validate()` or count is outside
  /// 1...Limits.maxElements.
  public init(settings: Settings, count: Int) throws(ConfigError) {
    try settings.validate()
    guard count >= 1 else { throw ConfigError("num_samples", "= \(count) must be at least 1") }
    guard count <= Limits.maxElements else {
      throw ConfigError("num_samples", "= \(count) exceeds the limit of \(Limits.maxElements) elements")
    }
    self.settings = settings
    self.count = count
    self.threshold = settings.initialThreshold
    self.random = Xoshiro256(seed: settings.seed)
    self.place = [Place](repeating: .pool, count: count)
    self.reinsertions = [Int32](repeating: 0, count: count)
  }

  public var stats: Stats {
    Stats(
      epoch: epoch, step: step, proposed: proposed, accepted: accepted, rejected: rejected,
      reinserted: reinserted, dropped: dropped, poolRemaining: pool.count + deferred.count,
      threshold: threshold)
  }

  /// Up to `maxCount` candidates of the current epoch; an empty result means the epoch is
  /// over, and the next call starts the next one.
  public mutating func propose(maxCount: Int) throws(MisuseError) -> [Int] {
    guard maxCount >= 1 else { throw MisuseError("max_count = \(maxCount) must be at least 1") }
    if !epochOpen { startEpoch() }
    if pool.isEmpty && !deferred.isEmpty {
      random.shuffle(&deferred)
      pool = deferred
      for i in pool { place[i] = .pool }
      deferred.removeAll()
    }
    if pool.isEmpty {
      guard pendingCount == 0 else {
        throw MisuseError(
          "\(pendingCount) proposed pairs are still pending: decide them before proposing more")
      }
      epochOpen = false
      return []
    }
    let taken = min(maxCount, pool.count)
    var out: [Int] = []
    out.reserveCapacity(taken)
    for _ in 0..<taken {
      let i = pool.removeLast()
      place[i] = .pending
      out.append(i)
    }
    pendingCount += taken
    proposed = Limits.counted(proposed, plus: taken)
    return out
  }

  /// Accepts each pending candidate iff its Δr2 < the threshold. Nothing changes if it
  /// throws: when an index is not a distinct pending proposal (an index outside 0..<count
  /// never is), a value is not finite or the two arrays differ in length.
  public mutating func decide(_ indices: [Int], _ dr2: [Float]) throws(MisuseError) -> [Bool] {
    guard indices.count == dr2.count else {
      throw MisuseError("indices and dr2 differ in length (\(indices.count) and \(dr2.count))")
    }
    var seen = Set<Int>(minimumCapacity: indices.count)
    for (position, i) in indices.enumerated() {
      guard i >= 0, i < count, place[i] == .pending, seen.insert(i).inserted else {
        throw MisuseError("indices[\(position)] = \(i) is not a pending proposal")
      }
    }
    if let position = dr2.firstIndex(where: { !$0.isFinite }) {
      throw MisuseError("dr2[\(position)] is \(dr2[position].isNaN ? "nan" : "\(dr2[position])")")
    }
    var out = [Bool](repeating: false, count: indices.count)
    for (position, i) in indices.enumerated() {
      stepValues.append(dr2[position])
      pendingCount -= 1
      if dr2[position] < threshold {
        out[position] = true
        place[i] = .accepted
        accepted = Limits.counted(accepted)
        continue
      }
      rejected = Limits.counted(rejected)
      guard reinsertions[i] < settings.maxReinsertions else {
        place[i] = .dropped
        dropped = Limits.counted(dropped)
        continue
      }
      reinsertions[i] += 1
      reinserted = Limits.counted(reinserted)
      if settings.lazyReinsertion {
        place[i] = .deferred
        deferred.append(i)
      } else {
        // Inside-out Fisher–Yates: a uniform position among the remaining pool.
        place[i] = .pool
        pool.append(i)
        pool.swapAt(pool.count - 1, random.below(pool.count))
      }
    }
    return out
  }

  /// Adds Δr2 values decided elsewhere (other ranks' prioritizers in data-parallel training)
  /// to this step's clustering without deciding anything, so that every prioritizer fed the
  /// union ends the step with the same threshold. Nothing changes if it throws: when a value
  /// is not finite.
  public mutating func observe(_ dr2: [Float]) throws(MisuseError) {
    if let position = dr2.firstIndex(where: { !$0.isFinite }) {
      throw MisuseError("dr2[\(position)] is \(dr2[position].isNaN ? "nan" : "\(dr2[position])")")
    }
    stepValues += dr2
  }

  /// Bytes observe(_:) may hold for `count` more values: the caller's copy, and the step's
  /// values, whose buffer may double while it grows (with the old one alive during the copy).
  public func observeBytes(count: Int) -> Int? {
    Workspace.bytes([[count], [stepValues.count, 3], [count, 2]])
  }

  /// Clusters the Δr2 values decided (or observed) since the last call and moves the threshold:
  /// λ ← float(α·λ + (1 − α)·float(λ̂)), in double. No values leave it unchanged.
  @discardableResult
  public mutating func endStep() -> Float {
    step = Limits.counted(step)
    guard !stepValues.isEmpty else { return threshold }
    let boundary = Float(
      BinaryClustering.threshold(unsorted: stepValues, placement: settings.placement))
    let alpha = Double(settings.emaWeight)
    threshold = Float(alpha * Double(threshold) + (1 - alpha) * Double(boundary))
    stepValues.removeAll(keepingCapacity: true)
    return threshold
  }

  mutating func startEpoch() {
    epoch = Limits.counted(epoch)
    epochOpen = true
    pool = Array((0..<count).reversed())
    if settings.shuffle { random.shuffle(&pool) }
    deferred.removeAll()
    for i in 0..<count {
      place[i] = .pool
      reinsertions[i] = 0
    }
    pendingCount = 0
    proposed = 0
    accepted = 0
    rejected = 0
    reinserted = 0
    dropped = 0
  }
}
