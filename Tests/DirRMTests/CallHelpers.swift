import CDirRM
import XCTest

/// The calling thread's last error as a Swift string.
func lastErrorText() -> String {
  dirrm_last_error().map { String(cString: $0) } ?? "<NULL>"
}

/// Asserts a C call's status and, for failures, that the message mentions `needle`.
func assertStatus(
  _ status: Int32, _ expected: Int32, mentioning needle: String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(status, expected, lastErrorText(), file: file, line: line)
  if expected != DIRRM_OK && !needle.isEmpty {
    XCTAssertTrue(
      lastErrorText().contains(needle), "\(lastErrorText()) lacks \(needle)", file: file, line: line)
  }
}

/// A deterministic source of test data (SplitMix64).
struct TestRandom {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func uniform(_ low: Double, _ high: Double) -> Double {
    low + (high - low) * Double(next() >> 11) / Double(1 << 53)
  }
  mutating func floats(_ n: Int, _ low: Double, _ high: Double) -> [Float] {
    (0..<n).map { _ in Float(uniform(low, high)) }
  }
}
