import DirRMCore

/// The methods as the demo's and the experiment's tables name them.
let methodNames: [(Trainer.Method, String)] = [
  (.vanilla, "vanilla"), (.dir, "DIR"), (.promptFree, "prompt-free"), (.dirPromptFree, "DIR + prompt-free"),
]

func name(_ method: Trainer.Method) -> String { methodNames.first { $0.0 == method }?.1 ?? "?" }
