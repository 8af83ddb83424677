import DirRMCore
import Glibc

/// One progress line on stderr for one or several trainings that run at once: the mean of
/// their completed fractions, the time elapsed and an estimate of the time left. Drawn only
/// when stderr is a terminal and the user did not ask for `--quiet`, so that scripts and logs
/// see nothing of it; redrawn when the percentage changes or half a second has passed.
final class ProgressBar: @unchecked Sendable {
  let label: String
  var fractions: [Double]
  var drawnPercent = -1
  var drawnAt = 0.0
  var drawnWidth = 0
  let start: Double
  let lock = Lock()
  let enabled: Bool

  /// Whether a progress line would be drawn: stderr is a terminal and `quiet` is off.
  static func shown(quiet: Bool) -> Bool { !quiet && isatty(2) != 0 }

  init(_ label: String, jobs: Int, quiet: Bool) {
    self.label = label
    fractions = Array(repeating: 0, count: max(jobs, 1))
    enabled = ProgressBar.shown(quiet: quiet)
    start = ProgressBar.now()
  }

  /// A training progress callback for job `job`; it never stops the training.
  func callback(_ job: Int) -> (Trainer.Progress) -> Bool {
    { [self] record in
      set(job, Double(record.step + 1) / Double(max(record.totalSteps, 1)))
      return false
    }
  }

  func set(_ job: Int, _ fraction: Double) {
    guard enabled else { return }
    lock.locked {
      fractions[job] = min(max(fraction, 0), 1)
      let total = fractions.reduce(0, +) / Double(fractions.count)
      let percent = Int(100 * total)
      let now = ProgressBar.now()
      guard percent != drawnPercent || now - drawnAt >= 0.5 else { return }
      (drawnPercent, drawnAt) = (percent, now)
      let elapsed = now - start
      // The rate so far, once there is enough of it to extrapolate from.
      let left = total >= 0.01 && elapsed >= 0.5 ? ProgressBar.clock(elapsed * (1 - total) / total) : "--:--"
      draw(
        "\(label) [\(ProgressBar.bar(total))] \(percent)%  \(ProgressBar.clock(elapsed)) elapsed, ETA \(left)"
      )
    }
  }

  /// Ends the line with the total time ("done in", or "stopped" when a job failed before its
  /// end), so that what follows on stderr starts on a line of its own. Only the first call
  /// draws.
  func finish() {
    guard enabled else { return }
    lock.locked {
      guard drawnPercent != -2 else { return }
      drawnPercent = -2
      let total = fractions.reduce(0, +) / Double(fractions.count)
      let time = ProgressBar.clock(ProgressBar.now() - start)
      draw(
        "\(label) [\(ProgressBar.bar(total))] "
          + (total >= 1 ? "done in \(time)" : "stopped at \(Int(100 * total))% after \(time)"))
      writeStderr("\n")
    }
  }

  /// Overwrites the current line (padding over a longer previous text).
  private func draw(_ text: String) {
    let width = text.unicodeScalars.count
    writeStderr("\r" + text + String(repeating: " ", count: max(drawnWidth - width, 0)))
    drawnWidth = width
  }

  static func bar(_ fraction: Double) -> String {
    let filled = Int(30 * fraction)
    return String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
  }

  /// m:ss, or h:mm:ss from an hour on.
  static func clock(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
    func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
  }

  static func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
  }
}
