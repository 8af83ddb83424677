import CDirRM
import Foundation
import Synchronization
import XCTest

/// The library-wide entry points, called through the public header.
final class LibraryABITests: XCTestCase {
  func testVersionMatchesHeader() {
    XCTAssertEqual(
      dirrm_version_number(),
      Int32(DIRRM_VERSION_MAJOR * 10000 + DIRRM_VERSION_MINOR * 100 + DIRRM_VERSION_PATCH))
    XCTAssertEqual(
      String(cString: dirrm_version_string()),
      "\(DIRRM_VERSION_MAJOR).\(DIRRM_VERSION_MINOR).\(DIRRM_VERSION_PATCH)")
  }

  func testBuildInfoIsJSONAndFollowsThreads() throws {
    assertStatus(dirrm_set_num_threads(1), DIRRM_OK)
    let info = try XCTUnwrap(
      JSONSerialization.jsonObject(with: Data(String(cString: dirrm_build_info()).utf8)) as? [String: Any])
    XCTAssertEqual(info["threads"] as? Int, 1)
    XCTAssertEqual(info["version"] as? String, String(cString: dirrm_version_string()))
    XCTAssertTrue((info["blas"] as? String ?? "").contains("OpenBLAS"))
    XCTAssertTrue((info["compiler"] as? String ?? "").hasPrefix("Swift"))
    assertStatus(dirrm_set_num_threads(2), DIRRM_OK)
    assertStatus(dirrm_set_num_threads(0), DIRRM_ERR_INVALID_ARGUMENT, mentioning: "num_threads = 0")
    assertStatus(dirrm_set_num_threads(-3), DIRRM_ERR_INVALID_ARGUMENT, mentioning: "num_threads = -3")
  }

  func testStatusStrings() {
    let codes: [Int32] = [
      DIRRM_OK, DIRRM_ERR_NULL_POINTER, DIRRM_ERR_INVALID_ARGUMENT, DIRRM_ERR_SHAPE,
      DIRRM_ERR_NONFINITE, DIRRM_ERR_OUT_OF_MEMORY, DIRRM_ERR_MISUSE, DIRRM_ERR_NOT_CONVERGED,
      DIRRM_ERR_CORRUPT, DIRRM_ERR_VERSION, DIRRM_ERR_BUFFER_TOO_SMALL, DIRRM_ERR_IO,
      DIRRM_ERR_INTERNAL,
    ]
    XCTAssertEqual(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99])
    let texts = codes.map { String(cString: dirrm_status_string($0)) }
    XCTAssertEqual(Set(texts).count, codes.count)
    XCTAssertFalse(texts.contains("unknown status"))
    XCTAssertEqual(String(cString: dirrm_status_string(42)), "unknown status")
  }

  func testLastErrorIsPerThread() {
    // Each thread fails its own way many times; it must always read its own message.
    let group = DispatchGroup()
    let mismatches = Mutex(0)
    for (threads, needle) in [(Int32(0), "num_threads = 0"), (Int32(-7), "num_threads = -7")] {
      group.enter()
      Thread.detachNewThread {
        var bad = 0
        for _ in 0..<20_000 {
          _ = dirrm_set_num_threads(threads)
          if !String(cString: dirrm_last_error()).contains(needle) { bad += 1 }
        }
        mismatches.withLock { $0 += bad }
        group.leave()
      }
    }
    group.wait()
    XCTAssertEqual(mismatches.withLock { $0 }, 0)
  }

  func testSuccessKeepsTheLastMessage() {
    _ = dirrm_set_num_threads(0)
    let message = lastErrorText()
    assertStatus(dirrm_set_num_threads(2), DIRRM_OK)
    XCTAssertEqual(lastErrorText(), message)
  }
}
