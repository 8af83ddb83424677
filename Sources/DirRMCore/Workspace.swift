import Glibc

/// malloc, called through a pointer the optimizer cannot see into. LLVM knows malloc and
/// free by name and deletes a pair whose memory is never used, assuming the allocation
/// succeeded, which is exactly the answer the probe must not assume. Looked up at run time,
/// it is also the allocator Swift's arrays get (a sanitizer's, under a sanitizer).
private let probeAllocator: (@convention(c) (Int) -> UnsafeMutableRawPointer?)? = {
  guard let symbol = dlsym(nil, "malloc") else { return nil }
  return unsafeBitCast(symbol, to: (@convention(c) (Int) -> UnsafeMutableRawPointer?).self)
}()

/// Memory that a call could not get: the C API's OUT_OF_MEMORY. `bytes` is nil when the size
/// itself does not fit in an Int.
public struct AllocationError: Error, Equatable {
  public var bytes: Int?
  public var what: String

  public var message: String {
    if let bytes { return "\(what) needs \(bytes) bytes, which could not be allocated" }
    return "\(what) needs more bytes than an address space holds"
  }
}

/// Sizing and reserving the memory an operation will hold. Swift arrays trap when an
/// allocation fails, so every operation whose memory a caller's numbers decide first asks
/// malloc for its whole working set here: a refusal becomes an error, not a dead process.
public enum Workspace {
  /// Σ over terms of (product of the term's counts) × elementSize, or nil on overflow.
  public static func bytes(_ terms: [[Int]], elementSize: Int = 4) -> Int? {
    var total = 0
    for term in terms {
      var product = elementSize
      for count in term {
        guard count >= 0 else { return nil }
        let (p, overflow) = product.multipliedReportingOverflow(by: count)
        guard !overflow else { return nil }
        product = p
      }
      let (t, overflow) = total.addingReportingOverflow(product)
      guard !overflow else { return nil }
      total = t
    }
    return total
  }

  /// As `reserve`, but the block is kept and returned (nil for 1 MiB or less) for the caller
  /// to free just before the work starts: work begun now and run later, on another thread,
  /// then finds its working set free unless the caller allocates it away in that moment.
  public static func hold(_ bytes: Int?, for what: String) throws(AllocationError) -> UnsafeMutableRawPointer?
  {
    guard let bytes else { throw AllocationError(bytes: nil, what: what) }
    guard bytes > 1 << 20 else { return nil }
    guard let allocate = probeAllocator, let block = allocate(bytes) else {
      throw AllocationError(bytes: bytes, what: what)
    }
    return block
  }

  /// Checks that `bytes` can be allocated now. The probe is freed at once: it tells whether
  /// the allocator, the address-space limit and the kernel's overcommit policy allow the
  /// working set, which is what turns into a trap when a Swift array later asks for it.
  public static func reserve(_ bytes: Int?, for what: String) throws(AllocationError) {
    free(try hold(bytes, for: what))
  }
}
