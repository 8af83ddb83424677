import COpenBLAS
import Glibc
import Synchronization

/// A scalar type OpenBLAS multiplies: Float (training) and Double (gradient checks).
public protocol BLASScalar: BinaryFloatingPoint, Sendable {
  /// Which OpenBLAS routine multiplies this type.
  static var gemmRoutine: GemmRoutine { get }
}

/// The OpenBLAS matrix product for one scalar type, named rather than exposed as a
/// pointer-taking requirement so the core's public API carries no pointers.
public enum GemmRoutine: Sendable {
  case single, double
}

extension Float: BLASScalar {
  public static var gemmRoutine: GemmRoutine { .single }
}

extension Double: BLASScalar {
  public static var gemmRoutine: GemmRoutine { .double }
}

/// Row-major matrix products through OpenBLAS: the core's one performance kernel that
/// touches pointers (OpenBLAS's C interface takes nothing else). Callers pass arrays and
/// element offsets; every operand is checked to hold its shape before a pointer exists.
enum BLAS {
  /// C (m × n) = op(A) · op(B) + beta · C on arrays, each operand starting at its offset, with
  /// op(A) m × k and op(B) k × n. Dimensions are checked at the C boundary to fit OpenBLAS's
  /// 32-bit integers.
  static func gemm<T: BLASScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    _ a: [T], aOffset: Int = 0, _ b: [T], bOffset: Int = 0, beta: T, _ c: inout [T], cOffset: Int = 0
  ) {
    precondition(
      aOffset >= 0 && bOffset >= 0 && cOffset >= 0 && a.count - aOffset >= m * k
        && b.count - bOffset >= k * n && c.count - cOffset >= m * n,
      "BLAS.gemm: an operand is shorter than its shape")
    precondition(
      MemoryLayout<T>.size == (T.gemmRoutine == .single ? 4 : 8),
      "BLASScalar: \(T.self) names the wrong routine")
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      // BLAS leaves C alone when k = 0 only with beta = 1; make the empty sum explicit.
      for i in cOffset..<(cOffset + m * n) { c[i] *= beta }
      return
    }
    let split = Split(m: m, n: n, k: k, maximumParts: ProductBlocks.maximum)
    // The lazy globals are set up here, on the calling thread, before the pool's hand-off
    // orders them for its workers: the runtime's once is a synchronization ThreadSanitizer
    // cannot see (the Swift runtime is linked in uninstrumented), and it reported the first
    // product's workers reading the gate as a race.
    _ = singleThreaded
    let gate = ForkGate.shared
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          let (a0, b0, c0) = (
            pa.baseAddress.unsafelyUnwrapped + aOffset, pb.baseAddress.unsafelyUnwrapped + bOffset,
            pc.baseAddress.unsafelyUnwrapped + cOffset
          )
          WorkerPool.run(parts: split.parts) { part in
            // The part's block of C: rows (or columns) [start, end) of op(A) (or op(B)).
            let (start, end) = split.range(part)
            let (rows, columns) = split.alongRows ? (end - start, n) : (m, end - start)
            let aPart = split.alongRows ? a0 + start * (transposeA ? 1 : k) : a0
            let bPart = split.alongRows ? b0 : b0 + start * (transposeB ? k : 1)
            let cPart = c0 + start * (split.alongRows ? n : 1)
            product(
              transposeA, transposeB, rows, columns, k, aPart, bPart, beta, cPart, ldc: n, m: m, n: n,
              gate: gate)
          }
        }
      }
    }
  }

  /// One OpenBLAS call on a block of the full product: `rows` × `columns` of C, whose leading
  /// dimensions are the full matrices' (A is m × k or k × m, B k × n or n × k, C m × n).
  private static func product<T: BLASScalar>(
    _ transposeA: Bool, _ transposeB: Bool, _ rows: Int, _ columns: Int, _ k: Int,
    _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ beta: T, _ c: UnsafeMutablePointer<T>,
    ldc: Int, m: Int, n: Int, gate: ForkGate
  ) {
    let (ta, tb) = (transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans)
    let (lda, ldb) = (blasint(transposeA ? m : k), blasint(transposeB ? k : n))
    let (r, s, depth, ldC) = (blasint(rows), blasint(columns), blasint(k), blasint(ldc))
    gate.whileOpen { callOpenBLAS(ta, tb, r, s, depth, a, lda, b, ldb, beta, c, ldC) }
  }

  private static func callOpenBLAS<T: BLASScalar>(
    _ ta: CBLAS_TRANSPOSE, _ tb: CBLAS_TRANSPOSE, _ r: blasint, _ s: blasint, _ depth: blasint,
    _ a: UnsafePointer<T>, _ lda: blasint, _ b: UnsafePointer<T>, _ ldb: blasint, _ beta: T,
    _ c: UnsafeMutablePointer<T>, _ ldC: blasint
  ) {
    switch T.gemmRoutine {
    case .single:
      let (fa, fb) = (
        UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self)
      )
      let fc = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
      cblas_sgemm(CblasRowMajor, ta, tb, r, s, depth, 1, fa, lda, fb, ldb, Float(beta), fc, ldC)
    case .double:
      let (da, db) = (
        UnsafeRawPointer(a).assumingMemoryBound(to: Double.self),
        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self)
      )
      let dc = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self)
      cblas_dgemm(CblasRowMajor, ta, tb, r, s, depth, 1, da, lda, db, ldb, Double(beta), dc, ldC)
    }
  }

  /// OpenBLAS's own threads would spin after every call (see `WorkerPool`); dirrm runs it on
  /// one thread per part, process-wide, set before the first product.
  static let singleThreaded: Void = openblas_set_num_threads(1)

  /// How a product is cut into blocks for the pool: along C's rows or columns, whichever is
  /// longer, in blocks that are multiples of 16 (a cache line of floats), and only when each
  /// block gets enough arithmetic to pay for waking a thread (about 50 µs of one core's GEMM).
  ///
  /// The blocks follow from the shape and `ProductBlocks.maximum` alone, never from the thread
  /// count: one thread runs them one after another, several share them. OpenBLAS computes an
  /// element of C differently depending on where it falls in the call's C (0.3.21's Haswell and
  /// Zen sgemm kernel sums some tiles' dot products in one FMA chain and others in two, over
  /// even and odd k, by the tile's place among the call's rows and columns), so an element
  /// computed in a block of another size can differ in its last bits; with the same calls at
  /// every thread count, it cannot.
  struct Split {
    static let minimumWork = 1 << 21
    static let granule = 16
    let alongRows: Bool
    let length: Int
    let parts: Int

    init(m: Int, n: Int, k: Int, maximumParts: Int) {
      alongRows = m > n
      length = alongRows ? m : n
      let (work, overflow) = m.multipliedReportingOverflow(by: n)
      let byWork =
        overflow
        ? maximumParts
        : work.multipliedReportingOverflow(by: k).overflow ? maximumParts : work * k / Split.minimumWork
      parts = max(1, min(maximumParts, byWork, length / Split.granule))
    }

    /// Part `i`'s [start, end) along the split dimension: equal blocks of whole granules, the
    /// remainder in the last.
    func range(_ i: Int) -> (Int, Int) {
      let block = (length / Split.granule / parts) * Split.granule
      return (i * block, i == parts - 1 ? length : (i + 1) * block)
    }
  }
}

/// How many blocks `BLAS.gemm` cuts a large matrix product into for `WorkerPool`, process-wide.
/// Results depend on it and on the product's shape, never on the thread count (`BLAS.Split`).
public enum ProductBlocks {
  /// At most this many blocks, each one single-threaded OpenBLAS call (≥ 1; default 2, so two
  /// threads share a large product). 1 keeps every product whole: dirrm-cli sets it, as it runs
  /// one training per core, each on one thread.
  public static var maximum: Int {
    get { limit.load(ordering: .relaxed) }
    set {
      precondition(newValue >= 1, "ProductBlocks.maximum must be positive")
      limit.store(newValue, ordering: .relaxed)
    }
  }

  private static let limit = Atomic<Int>(2)
}

/// Keeps fork() from landing inside OpenBLAS. Every OpenBLAS product takes a lock of its own
/// (its buffer allocator's) and OpenBLAS registers no fork handler for it, so a child forked
/// while one of dirrm's threads was inside a product inherits that lock held and hangs in its
/// first product: one child in 1,000 to 3,000 under load (a debugger on a hung child:
/// `blas_memory_alloc`, waiting on a mutex, under `cblas_sgemm`). Each product holds this gate
/// shared; fork holds it exclusively, so it waits for the products in flight and starts no
/// new one until the child exists.
final class ForkGate: @unchecked Sendable {
  static let shared = ForkGate()
  private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

  private init() {
    renew()
    pthread_atfork({ ForkGate.shared.close() }, { ForkGate.shared.open() }, { ForkGate.shared.renew() })
  }

  /// A new, open gate. The child renews it rather than unlocking: glibc records the writer's
  /// thread id, and the forking thread has another id in the child.
  private func renew() {
    var attributes = pthread_rwlockattr_t()
    pthread_rwlockattr_init(&attributes)
    // A waiting fork keeps new products out, so threads that multiply back to back cannot
    // starve it (glibc's default lets readers overtake a waiting writer).
    pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
    pthread_rwlock_init(lock, &attributes)
    pthread_rwlockattr_destroy(&attributes)
  }

  /// Runs `body` (one OpenBLAS call, never a nested one) with the gate held shared.
  @inline(__always)
  func whileOpen(_ body: () -> Void) {
    pthread_rwlock_rdlock(lock)
    body()
    pthread_rwlock_unlock(lock)
  }

  private func close() { pthread_rwlock_wrlock(lock) }
  private func open() { pthread_rwlock_unlock(lock) }
}
