import ArgumentParser
import DirRMCore
import Glibc

@main
struct DirRMCLI: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dirrm-cli",
    abstract: "Debiased reward models: DIR and prompt-free prioritization, on synthetic or your own data.",
    discussion: """
      Progress goes to stderr, and only when stderr is a terminal (--quiet turns it off); \
      results go to stdout (--json: one JSON object). Exit status: 0 on success, 1 when a \
      file or a value is refused, 64 for a usage error (a missing, unknown or malformed \
      option, an unknown command, or no command at all).
      """,
    subcommands: [DemoCommand.self, TrainCommand.self, EvaluateCommand.self, ExperimentCommand.self])

  /// The status of a usage error (sysexits.h's EX_USAGE), which swift-argument-parser uses too.
  static let usageStatus: Int32 = 64

  static func main() {
    Parallel.configureBLAS()
    let arguments = Array(CommandLine.arguments.dropFirst())
    let commands = configuration.subcommands.compactMap { $0.configuration.commandName }
    // No command, or an unknown one: the help on stderr and a usage status, never a
    // default command (running the demo on a typo wasted a minute, and scripts could not
    // tell it from success). An explicit --help or `help` still prints it on stdout, status 0.
    guard let first = arguments.first else {
      writeStderr(helpMessage() + "\n")
      Glibc.exit(usageStatus)
    }
    if !first.hasPrefix("-"), first != "help", !commands.contains(first) {
      writeStderr(
        "Error: unknown command '\(first)'; valid: \(commands.joined(separator: ", "))\n\n\(helpMessage())\n")
      Glibc.exit(usageStatus)
    }
    main(arguments)
  }
}

/// The methods as the demo's and the experiment's tables name them.
let methodNames: [(Trainer.Method, String)] = [
  (.vanilla, "vanilla"), (.dir, "DIR"), (.promptFree, "prompt-free"), (.dirPromptFree, "DIR + prompt-free"),
]

func name(_ method: Trainer.Method) -> String { methodNames.first { $0.0 == method }?.1 ?? "?" }

/// Writes to standard error (file descriptor 2, not the shared FILE stream).
func writeStderr(_ text: String) {
  let bytes = Array(text.utf8)
  _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func makeDirectory(_ path: String) throws {
  if mkdir(path, 0o755) != 0 && errno != EEXIST {
    throw CLIError("\(path): cannot create the folder (\(String(cString: strerror(errno))))")
  }
}

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Train vanilla, DIR, prompt-free and both on length-biased synthetic data and compare them.")

  @Option(help: "Folder for the SVG figures.") var out: String = "out"
  @Option(help: "Seed of the data and the models.") var seed: UInt64 = SyntheticPreferences.Settings.defaults
    .seed
  @Flag(help: "No progress line (it is drawn on stderr only when stderr is a terminal).") var quiet = false

  func run() throws {
    let (train, test) = Experiment.synthetic(.length, seed: seed)
    let longer = train.biasColumn(0).filter { $0 > 0 }.count
    print(
      "Length-biased synthetic data: \(train.pairs.count) training pairs (\(fixed(100 * Double(longer) / Double(train.pairs.count), 1))% chosen-longer), \(test.pairs.count) unbiased test pairs."
    )
    print("The true preference depends only on how well a response fits its prompt; length never matters.\n")
    try makeDirectory(out)
    let bar = ProgressBar("training \(methodNames.count) models", jobs: methodNames.count, quiet: quiet)
    let rows = try Parallel.map(Array(methodNames.enumerated())) { job, entry in
      let (method, label) = entry
      let result = try Experiment.run(
        method, train: train, test: test, seed: seed, progress: bar.callback(job))
      let (dr2, dr1) = try Experiment.decompose(result.model, test)
      let bias = test.biasColumn(0)
      let points = zip(dr2, dr1).map { (Double($0.0), Double($0.1)) }
      let svg = SVGPlot.scatter(
        title: "\(label): test pairs in the (Δr2, Δr1) plane", xLabel: "prompt-free gap Δr2",
        yLabel: "prompt-related gap Δr1",
        series: [
          .init(
            name: "chosen longer", color: "#d62728",
            points: points.indices.filter { bias[$0] > 0 }.map { points[$0] }),
          .init(
            name: "chosen shorter", color: "#1f77b4",
            points: points.indices.filter { bias[$0] <= 0 }.map { points[$0] }),
        ])
      try FileIO.replace("\(out)/pairs-\(label.replacingSpaces()).svg", with: Array(svg.utf8))
      return (label, result)
    }
    bar.finish()
    let colors = ["#333333", "#d62728", "#2ca02c", "#9467bd"]
    let curves = SVGPlot.lines(
      title: "Training loss (Bradley–Terry, mean over 20 steps)", xLabel: "step", yLabel: "loss",
      series: rows.enumerated().map { i, row in
        .init(name: row.0, color: colors[i], points: smoothed(row.1.log.steps.map { Double($0.lossPref) }))
      })
    try FileIO.replace("\(out)/curves.svg", with: Array(curves.utf8))
    print(table(rows))
    print("\nFigures: \(out)/pairs-*.svg (the prompt-free paper's Fig. 4), \(out)/curves.svg")
  }

  func table(_ rows: [(String, MethodResult)]) -> String {
    var text =
      "method             | test accuracy | accuracy, chosen shorter | Spearman(gap, length gap) | CLUB estimate | chosen-longer share trained\n"
    text +=
      "-------------------|---------------|--------------------------|---------------------------|---------------|----------------------------\n"
    for (label, r) in rows {
      let e = r.evaluation
      text +=
        label.padding(18) + " | " + fixed(e.accuracy, 3).padding(13) + " | "
        + fixed(e.accuracyBiasNegative, 3).padding(24)
        + " | " + fixed(e.gapBiasSpearman, 3).padding(25) + " | " + fixed(r.club, 3).padding(13) + " | "
        + fixed(r.trainedBiasShare, 3) + "\n"
    }
    return text
  }
}

/// A running mean over `window` steps, skipping steps without a loss.
func smoothed(_ values: [Double], window: Int = 20) -> [(Double, Double)] {
  var out: [(Double, Double)] = []
  var recent: [Double] = []
  for (i, v) in values.enumerated() where v.isFinite {
    recent.append(v)
    if recent.count > window { recent.removeFirst() }
    out.append((Double(i), recent.reduce(0, +) / Double(recent.count)))
  }
  return out
}

extension String {
  func padding(_ width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }
  func replacingSpaces() -> String { String(map { $0 == " " ? "-" : $0 }).replacing("+", with: "and") }
}
