import CDirRM

// The fuzzer's bytes as a program over the whole C API: each step is an opcode byte and its
// operands. Handles live in a few slots per type; operations may instead be handed NULL, a
// freed handle, a handle of another type or a pointer that never was a handle.
//
// Buffers the harness passes are always as large as the sizes it passes say (capped at
// `maxCells` elements), except for "absurd" sizes (negative, or larger than any address
// space could hold), which the library must refuse before reading anything: those get a
// token buffer, so a read shows up as an ASan report.
private let maxCells = 1 << 16
private let slots = 3
/// Zeroed memory handed over as a handle that never was one.
private let foreignBlock: UnsafeMutableRawPointer = {
  let block = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
  block.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
  return block
}()

/// Harness-owned memory that can be passed as a pointer or as NULL in one expression.
private final class Buf<T> {
  let p: UnsafeMutablePointer<T>
  let count: Int
  init(_ values: [T]) {
    count = max(values.count, 1)
    p = .allocate(capacity: count)
    if values.isEmpty {
      (p as UnsafeMutablePointer<T>).withMemoryRebound(to: UInt8.self, capacity: MemoryLayout<T>.stride) {
        $0.initialize(repeating: 0, count: MemoryLayout<T>.stride)
      }
    } else {
      p.initialize(from: values, count: values.count)
    }
  }
  convenience init(repeating value: T, count: Int) { self.init([T](repeating: value, count: max(count, 1))) }
  deinit { p.deallocate() }
  var values: [T] { Array(UnsafeBufferPointer(start: p, count: count)) }
}

private struct Machine {
  var input: FuzzBytes
  var clubs = [OpaquePointer?](repeating: nil, count: slots)
  var queues = [OpaquePointer?](repeating: nil, count: slots)
  var models = [OpaquePointer?](repeating: nil, count: slots)
  var datasets = [OpaquePointer?](repeating: nil, count: slots)
  var freed: [OpaquePointer] = []
  var proposed: [Int64] = []
  /// Buffers of the current step, kept alive until it ends.
  var keep: [AnyObject] = []

  init(_ input: FuzzBytes) { self.input = input }

  // MARK: choices

  /// A handle for an operation on `own`: usually one of its slots, sometimes a bad pointer.
  mutating func handle(_ own: [OpaquePointer?]) -> OpaquePointer? {
    let code = input.u8()
    switch code {
    case 0..<224: return own[Int(code) % slots]
    case 224..<232: return nil
    case 232..<240: return freed.isEmpty ? nil : freed[Int(code) % freed.count]
    case 240..<248:
      let all = clubs + queues + models + datasets
      return all[Int(code) % all.count]
    default: return OpaquePointer(foreignBlock)
    }
  }

  /// Rows for a buffer of `width` columns: real (buffer backed) or absurd (token buffer).
  mutating func rows(width: Int, limit: Int = 8) -> (n: Int64, cells: Int) {
    let (n, absurd) = input.count(limit)
    if absurd { return (n, 4) }
    let cap = maxCells / max(width, 1)
    let rows = min(Int(n), cap)
    return (Int64(rows), max(rows * width, 1))
  }

  /// A caller-owned input: sometimes NULL, else `count` fuzzer-chosen floats.
  mutating func floats(_ count: Int, nullable: Bool = true) -> Buf<Float>? {
    if nullable && input.u8() == 0xFF { return nil }
    // Most values repeat a chosen pattern: fuzzer bytes are too few to fill large buffers.
    let pattern = input.floats(min(count, 4))
    return hold(Buf((0..<count).map { pattern.isEmpty ? 0 : pattern[$0 % pattern.count] }))
  }

  /// Keeps a buffer alive until the end of the step: Swift may release a local as soon as
  /// its pointer has been read, before the call that uses the pointer.
  mutating func hold<T>(_ buffer: Buf<T>) -> Buf<T> {
    keep.append(buffer)
    return buffer
  }

  /// An output (or input) of `count` elements, or NULL when the fuzzer says so.
  mutating func out<T>(_ value: T, _ count: Int, null: UInt8 = 0xFF) -> UnsafeMutablePointer<T>? {
    let buffer = Buf(repeating: value, count: count)
    keep.append(buffer)
    return input.u8() >= null ? nil : buffer.p
  }

  /// Class ids or Gaussian values for the bias of a club.
  mutating func bias(_ count: Int, classes: Int?) -> Buf<Float>? {
    guard let classes else { return floats(count) }
    if input.u8() == 0xFF { return nil }
    let bad = input.u8()
    let first = bad >= 0xF0 ? input.float() : 0
    return hold(Buf((0..<count).map { i in i == 0 && bad >= 0xF0 ? first : Float((i + Int(bad)) % classes) }))
  }

  mutating func store(_ handle: OpaquePointer?, in table: WritableKeyPath<Machine, [OpaquePointer?]>) {
    let slot = Int(input.u8()) % slots
    if let old = self[keyPath: table][slot] { freeAny(old) }
    self[keyPath: table][slot] = handle
  }

  mutating func freeAny(_ handle: OpaquePointer) {
    _ = dirrm_club_free(handle)
    _ = dirrm_prioritizer_free(handle)
    _ = dirrm_model_free(handle)
    _ = dirrm_dataset_free(handle)
    freed.append(handle)
    if freed.count > 16 { freed.removeFirst() }
  }

  func clubShape(_ c: OpaquePointer?) -> (d: Int, columns: Int, classes: Int?, stats: Int) {
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    var statsLen: Int64 = 1
    guard dirrm_club_get_params(c, &p) == DIRRM_OK, dirrm_club_stats_len(c, &statsLen) == DIRRM_OK else {
      return (1, 1, 2, 3)
    }
    let gaussian = p.bias_kind == DIRRM_BIAS_GAUSSIAN
    return (
      Int(p.hidden_dim), gaussian ? Int(p.bias_dim) : 1, gaussian ? nil : Int(p.bias_dim), Int(statsLen)
    )
  }

  func modelShape(_ m: OpaquePointer?) -> (prompt: Int, response: Int, width: Int) {
    var pd: Int64 = 1
    var rd: Int64 = 1
    var w: Int32 = 1
    guard dirrm_model_shape(m, &pd, &rd, &w, nil) == DIRRM_OK else { return (1, 1, 1) }
    return (Int(pd), Int(rd), Int(w))
  }

  // MARK: the program

  mutating func run() {
    var steps = 0
    while !input.isAtEnd && steps < 64 {
      steps += 1
      step(input.u8() % 33)
      keep.removeAll()
    }
    for h in clubs + queues + models + datasets { if let h { freeAny(h) } }
  }

  mutating func step(_ op: UInt8) {
    switch op {
    case 0: clubCreate()
    case 1, 2, 3, 4, 5: clubBatch(op)
    case 6: clubWeights()
    case 7: roundTrip(\.clubs, save: dirrm_club_save, load: dirrm_club_load)
    case 8: if let c = handle(clubs) { freeAny(c) }
    case 9: queueCreate()
    case 10: propose()
    case 11: decide()
    case 12: endStep()
    case 13: roundTrip(\.queues, save: dirrm_prioritizer_save, load: dirrm_prioritizer_load)
    case 14: if let q = handle(queues) { freeAny(q) }
    case 15: modelCreate()
    case 16: score()
    case 17: roundTrip(\.models, save: dirrm_model_save, load: dirrm_model_load)
    case 18: if let m = handle(models) { freeAny(m) }
    case 19: datasetCreate()
    case 20: synthGenerate()
    case 21: train()
    case 22: evaluate()
    case 23: if let d = handle(datasets) { freeAny(d) }
    case 24: btLoss()
    case 25: pfGap()
    case 26: clusterThreshold()
    case 27: samplePrompts()
    case 28: _ = dirrm_set_num_threads(input.int32(around: 1, 2))
    case 29: audit()
    case 30: observe()
    case 31: pfNormalize()
    default: library()
    }
  }

  // MARK: clubs

  mutating func clubCreate() {
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    if input.bool() { p.struct_size = input.u32() }
    p.bias_kind = input.int32(around: 0, 1)
    p.bias_dim = input.int32(around: 1, 4)
    p.hidden_dim = input.int32(around: 1, 8)
    p.pair_mode = input.int32(around: 0, 1)
    p.q_hidden = input.int32(around: 0, 8)
    p.fit_steps = input.int32(around: 0, 3)
    if input.bool() { p.learning_rate = input.float() }
    if input.bool() { p.weight_decay = input.float() }
    if input.bool() { p.logvar_bound = input.float() }
    p.seed = UInt64(input.u8())
    let params = out(p, 1)
    let handle = out(OpaquePointer?.none, 1, null: 0xFE)
    if dirrm_club_create(params, handle) == DIRRM_OK, let created = handle?.pointee {
      store(created, in: \.clubs)
    }
  }

  /// fit, log_prob, bias_stats, bound and dir_loss on one fuzzer-shaped batch.
  mutating func clubBatch(_ op: UInt8) {
    let c = handle(clubs)
    let shape = clubShape(c)
    // Legal but slow estimators (billions of fit steps, millions of weights) only time out.
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    var weightCount: Int64 = 0
    if dirrm_club_get_params(c, &p) == DIRRM_OK, dirrm_club_num_weights(c, &weightCount) == DIRRM_OK,
      p.fit_steps > 16 || weightCount > 1 << 18
    {
      return
    }
    let width = max(shape.d, shape.columns)
    let (n, cells) = rows(width: width)
    let real = cells > 4 || n >= 1 && n <= 4 && cells >= Int(n) * width
    let rowCount = real ? Int(max(n, 1)) : 1
    let hc = floats(real ? rowCount * shape.d : cells)
    let hr = floats(real ? rowCount * shape.d : cells)
    let bias = self.bias(real ? rowCount * shape.columns : cells, classes: shape.classes)
    let rowsOut = max(cells, rowCount, shape.stats)
    let gradCells = max(cells, real ? rowCount * shape.d : 1)
    switch op {
    case 1:
      // Background fits are finished by a later step, or waited for by free.
      switch input.u8() % 4 {
      case 0: _ = dirrm_club_fit_begin(c, n, hc?.p, hr?.p, bias?.p)
      case 1: _ = dirrm_club_fit_finish(c, out(Float(0), 1, null: 0x80))
      default: _ = dirrm_club_fit(c, n, hc?.p, hr?.p, bias?.p, out(Float(0), 1, null: 0x80))
      }
    case 2: _ = dirrm_club_log_prob(c, n, hc?.p, hr?.p, bias?.p, out(Float(0), rowsOut))
    case 3: _ = dirrm_club_bias_stats(c, n, bias?.p, out(Float(0), rowsOut))
    case 4:
      // Statistics of this batch, of a larger batch, or fuzzer-made ones (often invalid).
      var stats = hold(Buf(repeating: Float(0), count: shape.stats))
      let source = input.u8() % 3
      if source == 1, dirrm_club_bias_stats(c, n, bias?.p, stats.p) == DIRRM_OK, input.bool() {
        stats.p[0] *= 2
      } else if source == 2 {
        stats = floats(shape.stats, nullable: false)!
      }
      _ = dirrm_club_bound(
        c, n, hc?.p, hr?.p, bias?.p, source == 0 ? nil : stats.p, out(Float(0), 1),
        out(Float(0), gradCells, null: 0x80),
        out(Float(0), gradCells, null: 0x80))
    default:
      let r1 = floats(real ? rowCount : cells)
      let r2 = floats(real ? rowCount : cells)
      var policy = dirrm_dir_params()
      dirrm_dir_params_init(&policy)
      policy.lambda = input.float()
      policy.clip = input.int32(around: 0, 1)
      policy.cap = input.int32(around: 0, 1)
      let fitFirst = input.int32(around: 0, 1)
      let defaults = input.bool()  // p = NULL: the policy's defaults
      let outputs = (
        out(Float(0), 1), out(Float(0), 1, null: 0x80), out(Float(0), 1, null: 0x80),
        out(Float(0), rowsOut, null: 0x80), out(Float(0), rowsOut, null: 0x80),
        out(Float(0), gradCells, null: 0x80),
        out(Float(0), gradCells, null: 0x80)
      )
      withUnsafePointer(to: policy) { p in
        _ = dirrm_dir_loss(
          c, defaults ? nil : p, n, r1?.p, r2?.p, hc?.p, hr?.p, bias?.p, fitFirst, outputs.0, outputs.1,
          outputs.2,
          outputs.3, outputs.4, outputs.5, outputs.6)
      }
    }
  }

  mutating func clubWeights() {
    let c = handle(clubs)
    var count: Int64 = 0
    _ = dirrm_club_num_weights(c, &count)
    let (len, absurd) = input.count(4)
    // The real count (buffer backed), or a fuzzer-chosen one that must then be refused
    // unless it happens to be the real count.
    let useLen = input.bool() || count > Int64(maxCells)
    let asked = useLen ? len : count
    let cells = useLen && absurd || asked > Int64(maxCells) ? 4 : Int(max(asked, 1))
    if input.bool() {
      _ = dirrm_club_get_weights(c, out(Float(0), cells), asked)
    } else {
      _ = dirrm_club_set_weights(c, floats(cells)?.p, asked)
    }
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    _ = dirrm_club_get_params(c, out(p, 1))
    _ = dirrm_club_stats_len(c, out(Int64(0), 1))
    _ = dirrm_club_num_weights(c, out(Int64(0), 1))
  }

  // MARK: save and load

  /// Saves a handle, optionally damages one byte or truncates, and loads it into a slot.
  mutating func roundTrip(
    _ table: WritableKeyPath<Machine, [OpaquePointer?]>,
    save: (OpaquePointer?, UnsafeMutablePointer<UInt8>?, Int64, UnsafeMutablePointer<Int64>?) -> Int32,
    load: (UnsafePointer<UInt8>?, Int64, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
  ) {
    let h = handle(self[keyPath: table])
    var size: Int64 = 0
    guard save(h, nil, 0, &size) == DIRRM_OK, size > 0, size <= 1 << 24 else {
      _ = save(h, nil, 0, nil)
      return
    }
    let bytes = hold(Buf(repeating: UInt8(0), count: Int(size)))
    let cap = input.bool() ? Int64(input.small(Int(size))) : size
    guard save(h, bytes.p, cap, &size) == DIRRM_OK else { return }
    var length = Int64(bytes.count)
    switch input.u8() % 4 {
    case 1: bytes.p[Int(input.u32()) % bytes.count] ^= max(input.u8(), 1)
    case 2: length = Int64(Int(input.u32()) % bytes.count)
    case 3: length = input.count(0).value
    default: break
    }
    var loaded: OpaquePointer? = nil
    if load(input.u8() == 0xFF ? nil : UnsafePointer(bytes.p), length, &loaded) == DIRRM_OK {
      store(loaded, in: table)
    }
  }

  // MARK: prioritizers

  mutating func queueCreate() {
    var p = dirrm_prioritizer_params()
    dirrm_prioritizer_params_init(&p)
    if input.bool() { p.struct_size = input.u32() }
    p.cluster_method = input.int32(around: 0, 1)
    if input.bool() { p.ema_weight = input.float() }
    if input.bool() { p.initial_threshold = input.float() }
    p.reinsertion = input.int32(around: 0, 1)
    p.max_reinsertions = input.int32(around: 0, 3)
    p.shuffle = input.int32(around: 0, 1)
    p.seed = UInt64(input.u8())
    // num_samples backs no buffer, so legal but huge counts are fair: OUT_OF_MEMORY is
    // an allowed answer, a trap is not.
    let code = input.u8()
    let count: Int64 =
      switch code {
      case 250: 1 << 40
      case 251: 1 << 34
      case 252: 1 << 40 + 1
      default: input.count(64).value
      }
    let params = out(p, 1)
    var created: OpaquePointer? = nil
    if dirrm_prioritizer_create(params, count, &created) == DIRRM_OK { store(created, in: \.queues) }
  }

  mutating func propose() {
    let q = handle(queues)
    var total: Int64 = 0
    _ = dirrm_prioritizer_num_samples(q, &total)
    let (maxCount, _) = input.count(16)
    // The output must hold min(max_count, num_samples) indices, whatever max_count is.
    let room = maxCount >= 1 ? min(maxCount, max(total, 1)) : 1
    guard room <= Int64(maxCells) else { return }
    let indices = out(Int64(-1), Int(room))
    let count = out(Int64(0), 1)
    if dirrm_prioritizer_propose(q, maxCount, indices, count) == DIRRM_OK, let indices, let count {
      proposed = Array(UnsafeBufferPointer(start: indices, count: Int(count.pointee)))
    }
  }

  mutating func decide() {
    let q = handle(queues)
    var indices = proposed
    if input.bool() || indices.isEmpty {
      indices = (0..<input.small(6)).map { _ in Int64(input.int32(around: 0, 8)) }
    }
    let (asked, absurd) = input.count(indices.count)
    let n = absurd ? asked : Int64(min(Int(asked), indices.count))
    let cells = max(absurd ? 4 : Int(n), 1)
    while indices.count < cells { indices.append(0) }
    let dr2 = floats(cells)
    let which = hold(Buf(indices))
    _ = dirrm_prioritizer_decide(
      q, n, input.u8() == 0xFF ? nil : UnsafePointer(which.p), dr2?.p, out(UInt8(0), cells))
  }

  /// Other ranks' values: sizes up to the absurd, NULL, non-finite values.
  mutating func observe() {
    let q = handle(queues)
    let (n, cells) = rows(width: 1, limit: 16)
    _ = dirrm_prioritizer_observe(q, n, floats(cells)?.p)
  }

  mutating func endStep() {
    let q = handle(queues)
    _ = dirrm_prioritizer_end_step(q, out(Float(0), 1, null: 0x80))
    var stats = dirrm_prioritizer_stats()
    stats.struct_size = input.bool() ? input.u32() : UInt32(MemoryLayout<dirrm_prioritizer_stats>.size)
    _ = dirrm_prioritizer_get_stats(q, out(stats, 1))
    _ = dirrm_prioritizer_num_samples(q, out(Int64(0), 1))
  }

  // MARK: models, datasets, training

  mutating func modelCreate() {
    var p = dirrm_model_params()
    dirrm_model_params_init(&p)
    if input.bool() { p.struct_size = input.u32() }
    p.prompt_dim = Int64(input.int32(around: 1, 6))
    p.response_dim = Int64(input.int32(around: 1, 6))
    p.width = input.int32(around: 1, 8)
    p.depth = input.int32(around: 1, 3)
    p.seed = UInt64(input.u8())
    let params = out(p, 1)
    var created: OpaquePointer? = nil
    if dirrm_model_create(params, &created) == DIRRM_OK { store(created, in: \.models) }
  }

  mutating func score() {
    let m = handle(models)
    let s = modelShape(m)
    let width = max(s.prompt, s.response, s.width)
    let (n, cells) = rows(width: width)
    let real = cells > 4 || n >= 1 && n <= 4 && cells >= Int(n) * width
    let rowCount = real ? Int(max(n, 1)) : 1
    let prompts = floats(real ? rowCount * s.prompt : cells)
    let responses = floats(real ? rowCount * s.response : cells)
    _ = dirrm_model_score(
      m, n, prompts?.p, responses?.p, out(Float(0), max(cells, rowCount)),
      out(Float(0), max(cells, real ? rowCount * s.width : 1), null: 0x80))
  }

  mutating func datasetCreate() {
    let prompts = Int64(input.int32(around: 1, 4))
    let pdim = Int64(input.int32(around: 1, 4))
    let responses = Int64(input.int32(around: 1, 6))
    let rdim = Int64(input.int32(around: 1, 4))
    let pairs = Int64(input.int32(around: 1, 8))
    let bdim = Int64(input.int32(around: 0, 2))
    // Every buffer must back the sizes passed, unless a size is non-positive (refused).
    for (a, b) in [(prompts, pdim), (responses, rdim), (pairs, 3), (pairs, bdim)] where a >= 1 && b >= 1 {
      guard a <= 64, b <= 64, a * b <= 64 else { return }
    }
    func cells(_ a: Int64, _ b: Int64) -> Int { a >= 1 && b >= 1 ? Int(a * b) : 4 }
    let pf = floats(cells(prompts, pdim))
    let rf = floats(cells(responses, rdim))
    let triples = hold(
      Buf(
        (0..<cells(pairs, 3)).map { i -> Int64 in
          let v = input.u8()
          return v >= 0xF8 ? Int64(Int32(bitPattern: input.u32())) : Int64(v) % (i % 3 == 0 ? 4 : 6)
        }))
    let bias = bdim == 0 && input.bool() ? nil : floats(cells(pairs, max(bdim, 1)))
    var created: OpaquePointer? = nil
    let status = dirrm_dataset_create(
      prompts, pdim, pf?.p, responses, rdim, rf?.p, pairs,
      input.u8() == 0xFF ? nil : UnsafePointer(triples.p),
      bdim, bias?.p, &created)
    if status == DIRRM_OK { store(created, in: \.datasets) }
  }

  mutating func synthGenerate() {
    var p = dirrm_synth_params()
    dirrm_synth_params_init(&p)
    if input.bool() { p.struct_size = input.u32() }
    p.kind = input.int32(around: 0, 3)
    if input.bool() { p.bias_ratio = input.float() }
    p.num_prompts = Int64(input.int32(around: 2, 12))
    p.responses_per_prompt = input.int32(around: 2, 4)
    p.prompt_dim = Int64(input.int32(around: 2, 6))
    p.response_dim = Int64(input.int32(around: 4, 8))
    p.seed = UInt64(input.u8())
    // Large but legal sizes are slow, not wrong: keep programs fast.
    guard p.num_prompts <= 64, p.prompt_dim <= 64, p.response_dim <= 64 else { return }
    let params = out(p, 1)
    var train: OpaquePointer? = nil
    var test: OpaquePointer? = nil
    guard dirrm_synth_generate(params, &train, &test) == DIRRM_OK else { return }
    store(train, in: \.datasets)
    store(test, in: \.datasets)
  }

  mutating func train() {
    let m = handle(models)
    let d = handle(datasets)
    var p = dirrm_train_params()
    dirrm_train_params_init(&p)
    if input.bool() { p.struct_size = input.u32() }
    p.method = input.int32(around: 0, 3)
    p.epochs = input.int32(around: 0, 2)
    p.batch_size = input.int32(around: 1, 8)
    if input.bool() { p.learning_rate = input.float() }
    if input.bool() { p.weight_decay = input.float() }
    if input.bool() { p.dir.lambda = input.float() }
    p.bias_column = input.int32(around: 0, 1)
    p.dir.club.q_hidden = input.int32(around: 0, 4)
    p.dir.club.bias_kind = input.int32(around: 0, 1)
    p.dir.club.fit_steps = input.int32(around: 0, 2)
    p.dir.clip = input.int32(around: 0, 1)
    p.dir.cap = input.int32(around: 0, 1)
    p.pf_prompts = input.int32(around: 1, 4)
    p.pf.solver = input.int32(around: 0, 1)
    p.pf.weighting = input.int32(around: 0, 3)
    p.prioritizer.reinsertion = input.int32(around: 0, 1)
    p.prioritizer.max_reinsertions = input.int32(around: 0, 2)
    p.seed = UInt64(input.u8())
    // Training is the slow part of a program: refuse combinations that would take long.
    var pairs: Int64 = 0
    var width: Int32 = 0
    _ = dirrm_dataset_shape(d, nil, nil, nil, nil, &pairs, nil)
    _ = dirrm_model_shape(m, nil, nil, &width, nil)
    guard pairs <= 256, width <= 64, p.epochs <= 2 else { return }
    // Stop after a fuzzer-chosen number of steps through the progress callback.
    let stopAfter = hold(Buf([Int64(input.small(20))]))
    let callback: dirrm_progress_fn = { user, step, _, _, _, _ in
      step >= user!.load(as: Int64.self) ? 1 : 0
    }
    let params = out(p, 1)
    _ = dirrm_train(m, d, params, input.bool() ? callback : nil, UnsafeMutableRawPointer(stopAfter.p))
  }

  mutating func evaluate() {
    let m = handle(models)
    let d = handle(datasets)
    var report = dirrm_eval_report()
    report.struct_size = input.bool() ? input.u32() : UInt32(MemoryLayout<dirrm_eval_report>.size)
    _ = dirrm_evaluate(m, d, input.int32(around: -1, 1), out(report, 1))
    _ = dirrm_dataset_shape(
      d, out(Int64(0), 1, null: 0x80), out(Int64(0), 1, null: 0x80), out(Int64(0), 1, null: 0x80),
      out(Int64(0), 1, null: 0x80), out(Int64(0), 1, null: 0x80), out(Int64(0), 1, null: 0x80))
    // Copies out into buffers of the sizes the dataset reports (bias: sometimes given for none).
    var (p, pd, r, rd, n, b) = (Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0))
    if dirrm_dataset_shape(d, &p, &pd, &r, &rd, &n, &b) == DIRRM_OK {
      _ = dirrm_dataset_copy(
        d, out(Float(0), Int(p * pd), null: 0x80), out(Float(0), Int(r * rd), null: 0x80),
        out(Int64(0), Int(n * 3), null: 0x80), out(Float(0), max(Int(n * b), 1), null: 0x80))
    }
  }

  /// dirrm_audit on fuzzer-chosen sizes, values and settings (small step budgets).
  mutating func audit() {
    var p = dirrm_audit_params()
    dirrm_audit_params_init(&p)
    p.bootstrap = input.int32(around: 0, 8)
    p.level = input.bool() ? Double(input.float()) : 0.9
    p.buckets = input.int32(around: 1, 6)
    p.club_steps = input.int32(around: 0, 4)
    p.club_batch = input.int32(around: 1, 8)
    p.q_hidden = input.int32(around: 2, 8)
    p.club_learning_rate = input.bool() ? input.float() : 1e-3
    if input.bool() { p.struct_size = input.u32() }
    // Valid but long budgets only cost time (the fuzzer would report a timeout): keep them
    // small; values outside the ranges still reach the library.
    if p.club_steps > 16 { p.club_steps = 16 }
    if p.bootstrap > 64 && p.bootstrap <= 1 << 20 { p.bootstrap = 64 }
    let (n, cells) = rows(width: 1, limit: 16)
    let withHidden = input.bool()
    // d is small and backed by the buffer, or so large that the library must refuse the sizes
    // before reading (n * d past its limits).
    let absurdWidth = input.u8() == 0xFF
    let d: Int64 = withHidden ? (absurdWidth ? 1 << 41 : Int64(1 + input.u8() % 4)) : 0
    let realRows = (0...16).contains(n) ? Int(n) : 0  // rows() backs only counts up to its limit
    let hiddenCells = absurdWidth || realRows == 0 ? 4 : realRows * Int(d)
    var report = dirrm_audit_report()
    report.struct_size = input.bool() ? input.u32() : UInt32(MemoryLayout<dirrm_audit_report>.size)
    // The bucket arrays hold the most buckets any valid parameters ask for, so that a call with
    // p = NULL (the defaults) or any p can be fuzzed without the harness's own overflow.
    let buckets = 1024
    _ = dirrm_audit(
      input.bool() ? nil : UnsafePointer(out(p, 1, null: 0xF0)), n, floats(cells)?.p, floats(cells)?.p,
      floats(cells)?.p, floats(cells)?.p, d, withHidden ? floats(hiddenCells)?.p : nil,
      withHidden ? floats(hiddenCells)?.p : nil, out(report, 1), out(Double(0), buckets, null: 0x80),
      out(Double(0), buckets, null: 0x80), out(Int64(0), buckets, null: 0x80),
      out(Double(0), buckets, null: 0x80))
  }

  // MARK: stateless functions

  mutating func btLoss() {
    let (n, cells) = rows(width: 1, limit: 16)
    let chosen = floats(cells)
    let rejected = floats(cells)
    let margin = input.bool() ? floats(cells) : nil
    let weight = input.bool() ? floats(cells) : nil
    let center = input.float()
    var (c, r) = (chosen?.p, rejected?.p)
    var (gc, gr) = (out(Float(0), cells, null: 0x80), out(Float(0), cells, null: 0x80))
    // The layouts the C layer must tell apart from the in-place case: outputs that are the
    // inputs or each other, an output one element into an input, unaligned buffers.
    switch input.u8() % 8 {
    case 1: (gc, gr) = (c, r)
    case 2: gr = gc
    case 3:
      let shifted = hold(Buf([Float](repeating: 1, count: cells + 1)))
      (c, gc) = (shifted.p, shifted.p + 1)
    case 4:
      let bytes = cells * MemoryLayout<Float>.size
      let raw = hold(Buf([UInt8](repeating: 0, count: 4 * bytes + 8)))
      let unaligned = { (offset: Int) in
        UnsafeMutableRawPointer(raw.p + offset).assumingMemoryBound(to: Float.self)
      }
      if let from = c { UnsafeMutableRawPointer(raw.p + 1).copyMemory(from: from, byteCount: bytes) }
      if let from = r { UnsafeMutableRawPointer(raw.p + bytes + 3).copyMemory(from: from, byteCount: bytes) }
      (c, r) = (c == nil ? nil : unaligned(1), r == nil ? nil : unaligned(bytes + 3))
      (gc, gr) = (gc == nil ? nil : unaligned(2 * bytes + 5), gr == nil ? nil : unaligned(3 * bytes + 7))
    default: break
    }
    _ = dirrm_bt_loss(n, c, r, margin?.p, weight?.p, center, out(Float(0), 1), gc, gr)
  }

  mutating func pfGap() {
    var p = dirrm_pf_params()
    dirrm_pf_params_init(&p)
    if input.bool() { p.struct_size = input.u32() }
    p.weighting = input.int32(around: 0, 3)
    if input.bool() { p.p = input.float() }
    p.solver = input.int32(around: 0, 1)
    if input.bool() { p.tolerance = input.float() }
    p.max_iter = input.int32(around: 1, 50)
    if input.bool() { p.r_min = input.float() }
    if input.bool() { p.r_max = input.float() }
    let (k, kAbsurd) = input.count(6)
    let (n, cells) = rows(width: kAbsurd ? 1 : Int(max(k, 1)))
    let real = !kAbsurd && (cells > 4 || n >= 1 && n <= 4 && k >= 1 && Int(n) * Int(k) <= cells)
    let rowCount = real ? Int(max(n, 1)) : cells
    let gaps = floats(cells)
    let kCap = Int32(clamping: max(min(k, 8), 1))
    let corr: Buf<Int64>? =
      input.u8() == 0xFF
      ? nil : hold(Buf((0..<rowCount).map { _ in Int64(input.int32(around: 0, kCap - 1)) }))
    let weights = input.bool() ? floats(cells) : nil
    let params = out(p, 1)
    _ = dirrm_pf_gap(
      params, n, k, gaps?.p, corr.map { UnsafePointer($0.p) }, weights?.p, out(Float(0), rowCount),
      out(Float(0), rowCount, null: 0x80), out(Int32(0), rowCount, null: 0x80))
  }

  mutating func pfNormalize() {
    let (n, cells) = rows(width: 1)
    let own = floats(cells)
    let dr2 = floats(cells)
    // out_dr2 may alias dr2.
    let destination = input.bool() ? dr2?.p : out(Float(0), cells)
    _ = dirrm_pf_normalize(n, own?.p, dr2?.p, destination)
  }

  mutating func clusterThreshold() {
    let (n, cells) = rows(width: 1, limit: 64)
    let values = floats(cells)
    let method = input.int32(around: 0, 1)
    _ = dirrm_cluster_threshold(n, values?.p, method, out(Float(0), 1))
  }

  mutating func samplePrompts() {
    let (k, kAbsurd) = input.count(6)
    let code = input.u8()
    let prompts: Int64 =
      code >= 0xF0 ? [1 << 40, 1 << 41, .max, 0, -1, 1 << 20][Int(code) % 6] : Int64(code % 16)
    let (n, cells) = rows(width: kAbsurd ? 1 : Int(max(k, 1)))
    let nReal = n >= 0 && n <= Int64(maxCells)
    let rowCount = kAbsurd || !nReal ? cells : Int(max(n, 1))
    let promptCap = Int32(clamping: max(min(prompts, 16), 1))
    let own = hold(Buf((0..<rowCount).map { _ in Int64(input.int32(around: 0, promptCap - 1)) }))
    let seed = input.u64()
    _ = dirrm_pf_sample_prompts(
      n, k, prompts, input.u8() == 0xFF ? nil : UnsafePointer(own.p), seed,
      out(Int64(0), max(cells, rowCount * (kAbsurd ? 1 : Int(max(k, 1))))))
  }

  mutating func library() {
    _ = dirrm_version_number()
    _ = dirrm_version_string()
    _ = dirrm_build_info()
    _ = dirrm_last_error()
    _ = dirrm_status_string(input.int32(around: 0, 12))
    dirrm_club_params_init(nil)
    dirrm_prioritizer_params_init(nil)
    dirrm_pf_params_init(nil)
    dirrm_model_params_init(nil)
    dirrm_synth_params_init(nil)
    dirrm_train_params_init(nil)
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPISequence(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var machine = Machine(FuzzBytes(data, size))
  machine.run()
  return 0
}
