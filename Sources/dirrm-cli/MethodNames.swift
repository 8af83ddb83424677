import DirRMCore

/// Every method once: its `--method` spelling and the label the demo's and the experiment's
/// tables print. The order is the help's, the errors' and the tables'.
let methodNames: [(method: Trainer.Method, option: String, label: String)] = [
  (.vanilla, "vanilla", "vanilla"), (.dir, "dir", "DIR"), (.promptFree, "prompt-free", "prompt-free"),
  (.dirPromptFree, "dir-prompt-free", "DIR + prompt-free"),
]

/// The table label of a method.
func name(_ method: Trainer.Method) -> String { methodNames.first { $0.method == method }?.label ?? "?" }

/// The `--method` spelling of a method.
func optionName(_ method: Trainer.Method) -> String {
  methodNames.first { $0.method == method }?.option ?? "?"
}

/// The spellings `--method` accepts, as the help and the errors list them.
var methodOptionList: String { methodNames.map(\.option).joined(separator: ", ") }

/// The method a `--method` value names, or nil.
func method(named text: String) -> Trainer.Method? { methodNames.first { $0.option == text }?.method }
