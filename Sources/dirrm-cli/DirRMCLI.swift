import ArgumentParser
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
    subcommands: [
      DemoCommand.self, TrainCommand.self, EvaluateCommand.self, ExperimentCommand.self, AuditCommand.self,
    ])

  /// The status of a usage error (sysexits.h's EX_USAGE), which swift-argument-parser uses too.
  static let usageStatus: Int32 = 64

  static func main() {
    Parallel.useOneThreadPerModel()
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
