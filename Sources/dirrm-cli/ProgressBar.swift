import DirRMCore
import Glibc

/// One progress bar on stderr for several trainings that run at once: it shows the mean of
/// their completed fractions. Drawn only when stderr is a terminal.
final class ProgressBar: @unchecked Sendable {
  let label: String
  var fractions: [Double]
  var drawn = -1
  let lock = Lock()
  let enabled = isatty(2) != 0

  init(_ label: String, jobs: Int) {
    self.label = label
    fractions = Array(repeating: 0, count: jobs)
  }

  /// A training progress callback for job `job`; it never stops the training.
  func callback(_ job: Int) -> (Trainer.Progress) -> Bool {
    { [self] record in
      set(job, Double(record.step + 1) / Double(max(record.totalSteps, 1)))
      return true
    }
  }

  func set(_ job: Int, _ fraction: Double) {
    guard enabled else { return }
    lock.locked {
      fractions[job] = min(max(fraction, 0), 1)
      let total = fractions.reduce(0, +) / Double(fractions.count)
      let percent = Int(100 * total)
      guard percent != drawn else { return }
      drawn = percent
      let filled = Int(30 * total)
      let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
      writeStderr("\r\(label) [\(bar)] \(percent)%  ")
    }
  }

  /// Ends the bar's line.
  func finish() {
    if enabled { writeStderr("\n") }
  }
}
