/// The prioritizer's serialized form (framed by ByteWriter.frame).
extension Prioritizer {
  static let magic: [UInt8] = Array("DIRRMPQ\0".utf8)
  static let formatVersion: UInt32 = 1

  /// Bytes `serialized()` holds at most (ByteWriter.savingBound of the state).
  public var serializedBound: Int? {
    ByteWriter.savingBound(
      Prioritizer.stateBytes(count: count).flatMap {
        Workspace.bytes([[$0], [stepValues.count, 4]], elementSize: 1)
      })
  }

  public func serialized() -> [UInt8] {
    var w = ByteWriter()
    w.u8(settings.placement == .kmeans ? 0 : 1)
    w.f32(settings.emaWeight)
    w.f32(settings.initialThreshold)
    w.u8(settings.lazyReinsertion ? 1 : 0)
    w.u64(UInt64(settings.maxReinsertions))
    w.u8(settings.shuffle ? 1 : 0)
    w.u64(settings.seed)
    w.u64(UInt64(count))
    w.f32(threshold)
    let s = random.state
    for v in [s.0, s.1, s.2, s.3] { w.u64(v) }
    for v in [epoch, step, proposed, accepted, rejected, reinserted, dropped] { w.u64(UInt64(v)) }
    w.u8(epochOpen ? 1 : 0)
    w.i64s(pool)
    w.i64s(deferred)
    for p in place { w.u8(p.rawValue) }
    for r in reinsertions { w.u32(UInt32(r)) }
    w.u64(UInt64(stepValues.count))
    for v in stepValues { w.f32(v) }
    return ByteWriter.frame(magic: Self.magic, version: Self.formatVersion, payload: w.bytes)
  }

  /// Restores a prioritizer, checking that the state is one `serialized` could have written.
  public init(serialized bytes: [UInt8]) throws(FormatError) {
    var r = try ByteReader(framed: bytes, magic: Self.magic, version: Self.formatVersion)
    let placementCode = try r.u8()
    let ema = try r.f32()
    let initial = try r.f32()
    let lazyCode = try r.u8()
    let maxReinsertions = try r.u64()
    let shuffleCode = try r.u8()
    let seed = try r.u64()
    let count = try r.u64()
    guard placementCode <= 1, lazyCode <= 1, shuffleCode <= 1, ema >= 0, ema <= 1, initial.isFinite,
      maxReinsertions <= UInt64(Int32.max), count >= 1, count <= 1 << 40
    else { throw .corrupt("invalid prioritizer settings") }
    let settings = Settings(
      placement: placementCode == 0 ? .kmeans : .otsu, emaWeight: ema, initialThreshold: initial,
      lazyReinsertion: lazyCode == 1, maxReinsertions: Int(maxReinsertions), shuffle: shuffleCode == 1,
      seed: seed)
    let n = Int(count)
    let threshold = try r.f32()
    let state = (try r.u64(), try r.u64(), try r.u64(), try r.u64())
    guard threshold.isFinite, let random = Xoshiro256(state: state) else {
      throw .corrupt("invalid prioritizer state")
    }
    var counters: [Int] = []
    for _ in 0..<7 {
      let v = try r.u64()
      guard v <= UInt64(Limits.maxCounter) else { throw .corrupt("counter out of range") }
      counters.append(Int(v))
    }
    let open = try r.u8()
    let pool = try r.indices(below: n)
    let deferred = try r.indices(below: n)
    guard open <= 1, pool.count + deferred.count <= n else { throw .corrupt("invalid pool") }
    // Each pair takes 5 bytes below (place, reinsertion count): check they are all there
    // before reserving memory for n of them.
    guard r.remaining / 5 >= n else { throw .corrupt("payload ends early") }
    var place: [Place] = []
    place.reserveCapacity(n)
    for _ in 0..<n {
      guard let p = Place(rawValue: try r.u8()) else { throw .corrupt("invalid pair state") }
      place.append(p)
    }
    var reinsertions: [Int32] = []
    reinsertions.reserveCapacity(n)
    for _ in 0..<n {
      let v = try r.u32()
      guard v <= UInt32(maxReinsertions) else { throw .corrupt("reinsertion count out of range") }
      reinsertions.append(Int32(v))
    }
    let stepCount = try r.u64()
    guard stepCount <= UInt64(r.remaining / 4) else { throw .corrupt("step value count out of range") }
    var stepValues: [Float] = []
    for _ in 0..<stepCount {
      let v = try r.f32()
      guard v.isFinite else { throw .corrupt("non-finite step value") }
      stepValues.append(v)
    }
    guard r.isAtEnd else { throw .corrupt("trailing bytes after the payload") }
    let pending = place.filter { $0 == .pending }.count
    if open == 1 {
      // Each pair in the pool or deferred list is marked so, exactly once, and no other is.
      var listed = [Bool](repeating: false, count: n)
      for (list, mark) in [(pool, Place.pool), (deferred, Place.deferred)] {
        for i in list {
          guard place[i] == mark, !listed[i] else { throw .corrupt("pair \(i) is inconsistently placed") }
          listed[i] = true
        }
      }
      guard pool.count + deferred.count == place.filter({ $0 == .pool || $0 == .deferred }).count else {
        throw .corrupt("pool and pair states disagree")
      }
    } else {
      // Between epochs (or before the first) nothing is listed or pending; the places are
      // reset when the next epoch starts.
      guard pool.isEmpty, deferred.isEmpty, pending == 0 else { throw .corrupt("invalid closed epoch") }
    }
    // The epoch's tallies as propose and decide keep them: every proposal is pending,
    // accepted or rejected, every rejection reinserted or dropped, and the places agree.
    let (proposedCount, acceptedCount, rejectedCount, reinsertedCount, droppedCount) =
      (counters[2], counters[3], counters[4], counters[5], counters[6])
    guard acceptedCount + rejectedCount + pending == proposedCount,
      reinsertedCount + droppedCount == rejectedCount,
      place.filter({ $0 == .accepted }).count == acceptedCount,
      place.filter({ $0 == .dropped }).count == droppedCount
    else { throw .corrupt("inconsistent prioritizer counters") }

    // The settings and n passed the checks above, which include the initializer's.
    guard var restored = try? Prioritizer(settings: settings, count: n) else {
      throw .corrupt("invalid prioritizer settings")
    }
    restored.threshold = threshold
    restored.random = random
    (
      restored.epoch, restored.step, restored.proposed, restored.accepted, restored.rejected,
      restored.reinserted, restored.dropped
    ) = (counters[0], counters[1], counters[2], counters[3], counters[4], counters[5], counters[6])
    restored.epochOpen = open == 1
    restored.pool = pool
    restored.deferred = deferred
    restored.place = place
    restored.reinsertions = reinsertions
    restored.pendingCount = pending
    restored.stepValues = stepValues
    self = restored
  }
}
